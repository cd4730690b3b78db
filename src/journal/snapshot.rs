//! The order snapshot rows a batch writes: one per order (its last commit wins), narrow when the
//! detail did not change, wide (with money and deadlines) with the detail's own row and the line
//! items when it did.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use entities::{order_details, order_items, orders};
use sea_orm::sea_query::{InsertStatement, OnConflict, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

use super::commit::Commit;
use crate::domain::{Detail, Event, Order, OrderId};

/// Rows per statement: well under SQLite's and PostgreSQL's bind-parameter limits.
const ROWS_PER_STATEMENT: usize = 64;

fn now() -> DateTime<FixedOffset> {
    Utc::now().fixed_offset()
}

fn unix(seconds: Option<i64>) -> Option<DateTime<FixedOffset>> {
    seconds.and_then(|s| Utc.timestamp_opt(s, 0).single().map(|t| t.fixed_offset()))
}

/// The snapshot writes of a batch: one per order (its last commit wins). Orders whose detail did
/// not change in this batch get the narrow form, which leaves the money and detail columns
/// alone: most messages are status changes, and the wide row is most of the cost.
pub(crate) struct Snapshots<'a> {
    pub wide: Vec<(&'a Order, &'a Detail)>,
    pub narrow: Vec<&'a Commit>,
}

impl<'a> Snapshots<'a> {
    pub fn of(commits: &[&'a Commit]) -> Self {
        // The newest detail of each order in the batch, from its DetailApplied event.
        let mut details: HashMap<&OrderId, &Detail> = HashMap::new();
        for commit in commits {
            if let Some(detail) = applied_detail(commit) {
                details.insert(&commit.order.id, detail);
            }
        }
        let mut seen = HashSet::new();
        let mut snapshots = Snapshots {
            wide: Vec::new(),
            narrow: Vec::new(),
        };
        for commit in commits.iter().rev() {
            let order = &commit.order;
            if seen.insert(&order.id) {
                match details.get(&order.id) {
                    Some(detail) => snapshots.wide.push((order, detail)),
                    None => snapshots.narrow.push(commit),
                }
            }
        }
        snapshots
    }
}

/// Upserts orders whose detail changed: state, money and deadline columns, then the detail's
/// own row in `order_details` (kept off `orders`, so a status change does not write it again).
pub(crate) async fn upsert_wide(
    db: &impl ConnectionTrait,
    orders: &[(&Order, &Detail)],
) -> Result<(), DbErr> {
    for chunk in orders.chunks(ROWS_PER_STATEMENT) {
        db.execute(&order_rows(chunk)).await?;
        db.execute(&detail_rows(chunk)?).await?;
    }
    Ok(())
}

/// The upsert of `orders`' wide rows.
fn order_rows(orders: &[(&Order, &Detail)]) -> InsertStatement {
    let mut columns = vec![
        orders::Column::Id,
        orders::Column::ShopId,
        orders::Column::CreatedAt,
    ];
    columns.extend(WIDE);
    let mut insert = Query::insert();
    insert.into_table(orders::Entity).columns(columns);
    for (order, detail) in orders {
        let mut row: Values = vec![
            order.id.as_str().into(),
            order.shop_id.as_str().into(),
            now().into(),
        ];
        row.extend(state_values(order));
        row.extend(detail_values(detail));
        insert.values_panic(row);
    }
    insert.on_conflict(
        OnConflict::column(orders::Column::Id)
            .update_columns(WIDE)
            .to_owned(),
    );
    insert
}

/// The upsert of the details' own rows.
fn detail_rows(orders: &[(&Order, &Detail)]) -> Result<InsertStatement, DbErr> {
    let mut insert = Query::insert();
    insert.into_table(order_details::Entity).columns([
        order_details::Column::OrderId,
        order_details::Column::Detail,
    ]);
    for (order, detail) in orders {
        let json = serde_json::to_value(detail)
            .map_err(|e| DbErr::Custom(format!("order {} detail: {e}", order.id)))?;
        insert.values_panic([order.id.as_str().into(), json.into()]);
    }
    insert.on_conflict(
        OnConflict::column(order_details::Column::OrderId)
            .update_column(order_details::Column::Detail)
            .to_owned(),
    );
    Ok(insert)
}

/// The columns a snapshot write with a new detail sets (after id, shop_id and created_at, which
/// only an insert sets); without one, only the first eight (`journal::sqlite` and
/// `journal::postgres` write those).
const WIDE: [orders::Column; 18] = [
    orders::Column::Status,
    orders::Column::Stage,
    orders::Column::StageReason,
    orders::Column::HeldFrom,
    orders::Column::Version,
    orders::Column::TiktokUpdateTime,
    orders::Column::UpdatedAt,
    orders::Column::TiktokCreateTime,
    orders::Column::Currency,
    orders::Column::TotalAmount,
    orders::Column::SubTotal,
    orders::Column::ShippingFee,
    orders::Column::SellerDiscount,
    orders::Column::PlatformDiscount,
    orders::Column::Tax,
    orders::Column::RtsSlaAt,
    orders::Column::TtsSlaAt,
    orders::Column::DeliverySlaAt,
];

/// The detail a commit applied, if it applied one (the last, if several).
fn applied_detail(commit: &Commit) -> Option<&Detail> {
    commit.applied.iter().rev().find_map(|a| match &a.event {
        Event::DetailApplied { detail } => Some(&**detail),
        _ => None,
    })
}

type Values = Vec<sea_orm::sea_query::Expr>;

fn state_values(order: &Order) -> Values {
    vec![
        order.status.as_str().into(),
        order.stage.as_str().into(),
        order.stage_reason.clone().into(),
        order.held_from.map(|s| s.as_str()).into(),
        order.version.into(),
        order.update_time.into(),
        now().into(),
        order.create_time.into(),
    ]
}

fn detail_values(detail: &Detail) -> Values {
    let payment = detail.payment.as_ref();
    let minor = |f: fn(&crate::domain::Payment) -> Option<crate::domain::Money>| {
        payment.and_then(f).map(|m| m.minor())
    };
    vec![
        payment.map(|p| p.currency.as_str().to_owned()).into(),
        minor(|p| Some(p.total_amount)).into(),
        minor(|p| Some(p.sub_total)).into(),
        minor(|p| Some(p.shipping_fee)).into(),
        minor(|p| Some(p.seller_discount)).into(),
        minor(|p| Some(p.platform_discount)).into(),
        minor(|p| p.tax).into(),
        unix(detail.rts_sla_time).into(),
        unix(detail.tts_sla_time).into(),
        unix(detail.delivery_sla_time).into(),
    ]
}

/// Rewrites the line items of orders whose detail changed in this batch.
pub(crate) async fn replace_items(
    db: &impl ConnectionTrait,
    commits: &[&Commit],
) -> Result<(), DbErr> {
    let changed: Vec<(&Order, &Detail)> = commits
        .iter()
        .filter_map(|c| Some((&c.order, applied_detail(c)?)))
        .collect();
    if changed.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = changed.iter().map(|(o, _)| o.id.as_str()).collect();
    for chunk in ids.chunks(ROWS_PER_STATEMENT) {
        order_items::Entity::delete_many()
            .filter(order_items::Column::OrderId.is_in(chunk.iter().copied()))
            .exec(db)
            .await?;
    }
    let rows: Vec<_> = changed
        .iter()
        .flat_map(|(o, d)| d.items.iter().map(move |i| (*o, i)))
        .collect();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut insert = Query::insert();
        insert.into_table(order_items::Entity).columns([
            order_items::Column::OrderId,
            order_items::Column::LineItemId,
            order_items::Column::SkuId,
            order_items::Column::ProductId,
            order_items::Column::ProductName,
            order_items::Column::SkuName,
            order_items::Column::SellerSku,
            order_items::Column::SalePrice,
            order_items::Column::OriginalPrice,
            order_items::Column::Currency,
            order_items::Column::DisplayStatus,
            order_items::Column::PackageId,
        ]);
        for (order, item) in chunk {
            insert.values_panic([
                order.id.as_str().into(),
                item.id.clone().into(),
                item.sku.as_str().into(),
                item.product_id.clone().into(),
                item.product_name.clone().into(),
                item.sku_name.clone().into(),
                item.seller_sku.clone().into(),
                item.sale_price.map(|m| m.minor()).into(),
                item.original_price.map(|m| m.minor()).into(),
                item.sale_price
                    .map(|m| m.currency().as_str().to_owned())
                    .into(),
                item.display_status.clone().into(),
                item.package_id.clone().into(),
            ]);
        }
        // Duplicate line item ids are a validation problem, recorded on the order; keep one row.
        insert.on_conflict(
            OnConflict::columns([
                order_items::Column::OrderId,
                order_items::Column::LineItemId,
            ])
            .do_nothing()
            .to_owned(),
        );
        db.execute(&insert).await?;
    }
    Ok(())
}
