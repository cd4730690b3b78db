//! What a commit records beside the order's own state: a person's tags and workflow priority,
//! and the buyer's cancellation and return requests as TikTok last reported each one. Written in
//! the batch's transaction, so that an acknowledged command's or webhook's event and what it
//! changed land together or not at all.

use chrono::Utc;
use entities::{order_requests, order_tags, workflow_runs};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set};

use super::commit::Commit;
use crate::domain::Event;

fn annotates(event: &Event) -> bool {
    matches!(
        event,
        Event::Tagged { .. } | Event::Prioritised { .. } | Event::AfterSaleUpdated { .. }
    )
}

/// Whether any of `commits` tags an order, sets a priority or records a request.
pub(crate) fn any(commits: &[&Commit]) -> bool {
    commits
        .iter()
        .any(|c| c.applied.iter().any(|a| annotates(&a.event)))
}

/// Applies the tags, priorities and requests `commits` recorded, in their order.
pub(crate) async fn write(db: &impl ConnectionTrait, commits: &[&Commit]) -> Result<(), DbErr> {
    for commit in commits {
        let order_id = commit.order.id.as_str();
        for applied in &commit.applied {
            match &applied.event {
                Event::Tagged { added, removed } => {
                    if !added.is_empty() {
                        let now = Utc::now().fixed_offset();
                        order_tags::Entity::insert_many(added.iter().map(|tag| {
                            order_tags::ActiveModel {
                                order_id: Set(order_id.to_owned()),
                                tag: Set(tag.as_str().to_owned()),
                                created_at: Set(now),
                            }
                        }))
                        .on_conflict(
                            OnConflict::columns([
                                order_tags::Column::OrderId,
                                order_tags::Column::Tag,
                            ])
                            .do_nothing()
                            .to_owned(),
                        )
                        .exec_without_returning(db)
                        .await?;
                    }
                    if !removed.is_empty() {
                        order_tags::Entity::delete_many()
                            .filter(order_tags::Column::OrderId.eq(order_id))
                            .filter(
                                order_tags::Column::Tag.is_in(removed.iter().map(|t| t.as_str())),
                            )
                            .exec(db)
                            .await?;
                    }
                }
                Event::Prioritised { priority } => {
                    workflow_runs::Entity::update_many()
                        .col_expr(workflow_runs::Column::Priority, Expr::value(*priority))
                        .filter(workflow_runs::Column::OrderId.eq(order_id))
                        .exec(db)
                        .await?;
                }
                // A report older (by TikTok's time) than the one kept does not replace it.
                Event::AfterSaleUpdated { update } => {
                    order_requests::Entity::insert(order_requests::ActiveModel {
                        order_id: Set(order_id.to_owned()),
                        kind: Set(update.kind.as_str().to_owned()),
                        request_id: Set(update.id.clone()),
                        status: Set(update.status.clone()),
                        role: Set(update.role.clone()),
                        return_type: Set(update.return_type.clone()),
                        tiktok_time: Set(update.time),
                        recorded_at: Set(Utc::now().fixed_offset()),
                    })
                    .on_conflict(
                        OnConflict::columns([
                            order_requests::Column::OrderId,
                            order_requests::Column::Kind,
                            order_requests::Column::RequestId,
                        ])
                        .update_columns([
                            order_requests::Column::Status,
                            order_requests::Column::Role,
                            order_requests::Column::ReturnType,
                            order_requests::Column::TiktokTime,
                            order_requests::Column::RecordedAt,
                        ])
                        .action_and_where(
                            Expr::col((order_requests::Entity, order_requests::Column::TiktokTime))
                                .lte(Expr::col((
                                    Alias::new("excluded"),
                                    order_requests::Column::TiktokTime,
                                ))),
                        )
                        .to_owned(),
                    )
                    .exec_without_returning(db)
                    .await?;
                }
                _ => {}
            }
        }
    }
    Ok(())
}
