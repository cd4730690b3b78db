//! A [`Search`] as SQL over the orders table: one condition, with `IN` subqueries for tags,
//! SKUs, tracking numbers and buyer requests (served by their `(tag, order_id)` and `sku_id` indexes), the total compared in each
//! currency's minor units, and the recipient's name read from each order's detail.

use chrono::{DateTime, Utc};
use entities::{order_details, order_items, order_requests, order_tags, orders, shipments};
use rust_decimal::Decimal;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, LikeExpr, Query, SimpleExpr};
use sea_orm::{ColumnTrait, Condition};

use crate::domain::search::{Compare, Request, Term};
use crate::domain::{AWAITING_SELLER, Currency, Search};

/// The condition an order must meet to match `search`, its moments from now taken as of now.
pub(super) fn condition(search: &Search) -> Condition {
    condition_at(search, Utc::now())
}

fn condition_at(search: &Search, now: DateTime<Utc>) -> Condition {
    match search {
        Search::Term(term) => Condition::all().add(term_condition(term, now)),
        Search::Not(inner) => condition_at(inner, now).not(),
        Search::All(all) => all
            .iter()
            .fold(Condition::all(), |c, s| c.add(condition_at(s, now))),
        Search::Any(any) => any
            .iter()
            .fold(Condition::any(), |c, s| c.add(condition_at(s, now))),
    }
}

fn term_condition(term: &Term, now: DateTime<Utc>) -> Condition {
    let all = Condition::all();
    match term {
        Term::Status(status) => all.add(orders::Column::Status.eq(status.as_str())),
        Term::Stage(stage) => all.add(orders::Column::Stage.eq(stage.as_str())),
        Term::Shop(shop) => all.add(orders::Column::ShopId.eq(shop.as_str())),
        Term::Id { id, prefix: false } => all.add(orders::Column::Id.eq(id.as_str())),
        Term::Id { id, prefix: true } => {
            // Ids hold letters, digits, `-` and `_`; `_` is a LIKE wildcard, so escape it.
            let pattern = format!("{}%", id.replace('_', "\\_"));
            all.add(
                Expr::col((orders::Entity, orders::Column::Id))
                    .like(LikeExpr::new(pattern).escape('\\')),
            )
        }
        // `id IN (…)` rather than `EXISTS`: the planner can start from the few orders with
        // the tag or SKU (their `(tag, order_id)` and `sku_id` indexes) instead of probing
        // every order of the shop (1,000,000 orders, no match: 3 ms against 250 ms).
        Term::Tag(tag) => all.add(id_in(
            order_tags::Entity,
            order_tags::Column::OrderId,
            Expr::col(order_tags::Column::Tag).eq(tag.as_str()),
        )),
        Term::Sku(sku) => all.add(id_in(
            order_items::Entity,
            order_items::Column::OrderId,
            Expr::col(order_items::Column::SkuId).eq(sku.as_str()),
        )),
        Term::CreatedAt(compare, at) => all.add(known_and_compared(
            Expr::col((orders::Entity, orders::Column::TiktokCreateTime)),
            *compare,
            at.at(now).timestamp(),
        )),
        Term::UpdatedAt(compare, at) => all.add(compared(
            Expr::col((orders::Entity, orders::Column::UpdatedAt)),
            *compare,
            at.at(now).fixed_offset(),
        )),
        Term::ShipBy(compare, at) => all.add(known_and_compared(
            Expr::col((orders::Entity, orders::Column::RtsSlaAt)),
            *compare,
            at.at(now).fixed_offset(),
        )),
        Term::Total(compare, amount) => total(*compare, *amount),
        Term::Recipient(name) => all.add(recipient(name)),
        // Served by the shipments' tracking number index (migration 39).
        Term::Tracking(number) => all.add(id_in(
            shipments::Entity,
            shipments::Column::OrderId,
            Expr::col(shipments::Column::TrackingNumber).eq(number.as_str()),
        )),
        // The requests in a status awaiting the seller are found from their status index
        // (migration 40); a kind of request reads the table's key.
        Term::Request(request) => all.add(id_in(
            order_requests::Entity,
            order_requests::Column::OrderId,
            match request {
                Request::Open => Expr::col(order_requests::Column::Status).is_in(AWAITING_SELLER),
                Request::Kind(kind) => Expr::col(order_requests::Column::Kind).eq(kind.as_str()),
                Request::Any => Expr::val(true),
            },
        )),
    }
}

/// `orders.id IN (SELECT <order_id> FROM <table> WHERE <matches>)`: the orders a side table
/// names, found from that table's index.
fn id_in(
    table: impl sea_orm::sea_query::IntoTableRef,
    order_id: impl sea_orm::sea_query::IntoColumnRef,
    matches: SimpleExpr,
) -> SimpleExpr {
    Expr::col((orders::Entity, orders::Column::Id)).in_subquery(
        Query::select()
            .column(order_id)
            .from(table)
            .and_where(matches)
            .to_owned(),
    )
}

/// The orders whose recipient's name holds `name`, in any case: the order's detail read by its
/// key, as the list's index walks the shop's orders (no index serves a part of a name, so the
/// detail table is probed only for the shop's orders, not scanned whole). `->` and `->>` read
/// JSON the same way in PostgreSQL (jsonb) and SQLite (JSON text); `LOWER` folds ASCII in
/// SQLite and all of Unicode in PostgreSQL.
fn recipient(name: &str) -> SimpleExpr {
    let pattern = format!(
        "%{}%",
        name.to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    let detail = Alias::new("rd");
    Expr::exists(
        Query::select()
            .expr(Expr::val(1))
            .from_as(order_details::Entity, detail.clone())
            .and_where(
                Expr::col((detail, order_details::Column::OrderId))
                    .equals((orders::Entity, orders::Column::Id)),
            )
            .and_where(
                Expr::cust("LOWER(rd.detail -> 'recipient' ->> 'name')")
                    .like(LikeExpr::new(pattern).escape('\\')),
            )
            .to_owned(),
    )
}

/// A column TikTok's detail fills, compared: false (not SQL's unknown) for an order without a
/// value, so that a negation (`-ship_by:<now`) takes the orders without a deadline too.
fn known_and_compared<V: Into<sea_orm::Value>>(
    column: Expr,
    compare: Compare,
    value: V,
) -> SimpleExpr {
    column
        .clone()
        .is_not_null()
        .and(compared(column, compare, value))
}

fn compared<V: Into<sea_orm::Value>>(column: Expr, compare: Compare, value: V) -> SimpleExpr {
    match compare {
        Compare::Eq => column.eq(value.into()),
        Compare::Gt => column.gt(value.into()),
        Compare::Ge => column.gte(value.into()),
        Compare::Lt => column.lt(value.into()),
        Compare::Le => column.lte(value.into()),
    }
}

/// The total compared in minor units: `amount × 10^digits` for each currency's digits (0, 2 or
/// 3), rounded the way that keeps the comparison exact (`> 99.995` in cents is `> 9999`,
/// `>= 99.995` is `>= 10000`; `= 99.995` matches nothing).
fn total(compare: Compare, amount: Decimal) -> Condition {
    let currency = || Expr::col((orders::Entity, orders::Column::Currency));
    let groups: [(u32, Condition); 3] = [
        (
            0,
            Condition::all().add(currency().is_in(Currency::ZERO_DIGITS)),
        ),
        (
            3,
            Condition::all().add(currency().is_in(Currency::THREE_DIGITS)),
        ),
        (
            2,
            Condition::all()
                .add(currency().is_not_in(Currency::ZERO_DIGITS))
                .add(currency().is_not_in(Currency::THREE_DIGITS)),
        ),
    ];
    let mut any = Condition::any();
    for (digits, in_currency) in groups {
        let minor = amount * Decimal::from(10_i64.pow(digits));
        let (floor, ceil) = (minor.floor(), minor.ceil());
        let whole = |d: Decimal| i64::try_from(d).unwrap_or(i64::MAX);
        let column = Expr::col((orders::Entity, orders::Column::TotalAmount));
        let test = match compare {
            Compare::Gt => column.gt(whole(floor)),
            Compare::Ge => column.gte(whole(ceil)),
            Compare::Lt => column.lt(whole(ceil)),
            Compare::Le => column.lte(whole(floor)),
            Compare::Eq if floor == ceil => column.eq(whole(floor)),
            Compare::Eq => Expr::val(1).eq(0),
        };
        any = any.add(in_currency.add(test));
    }
    Condition::all()
        .add(orders::Column::TotalAmount.is_not_null())
        .add(any)
}
