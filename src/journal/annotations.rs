//! What a person's command records beside the order's own state: its tags and its workflow
//! run's priority. Written in the batch's transaction, so that an acknowledged command's event
//! and what it changed land together or not at all.

use chrono::Utc;
use entities::{order_tags, workflow_runs};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set};

use super::commit::Commit;
use crate::domain::Event;

fn annotates(event: &Event) -> bool {
    matches!(event, Event::Tagged { .. } | Event::Prioritised { .. })
}

/// Whether any of `commits` tags an order or sets a priority.
pub(crate) fn any(commits: &[&Commit]) -> bool {
    commits
        .iter()
        .any(|c| c.applied.iter().any(|a| annotates(&a.event)))
}

/// Applies the tags and priorities `commits` recorded, in their order.
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
                _ => {}
            }
        }
    }
    Ok(())
}
