//! Orders: lists and details served from SQL (never by asking actors), and commands that go
//! through the order's actor with the version the caller expects.

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Caller, Error};
use crate::actors::{Envelope, RegistryHandle, Reply};
use crate::domain::{Currency, Detail, Msg, OrderId, OrderStatus, Search, ShopId, Sku, Stage};
use crate::persistence::{Database, HistoryEntry, OrderFilter, OrderRecord, OrderSummary};

const DEFAULT_LIMIT: u64 = 50;
const MAX_LIMIT: u64 = 500;
/// The most a page asked for with `first` (as Shopify and GraphQL connections allow).
const MAX_FIRST: u64 = 250;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    /// A search in the order query syntax: `status:AWAITING_SHIPMENT tag:vip -stage:shipped`.
    query: Option<String>,
    status: Option<String>,
    stage: Option<String>,
    shop: Option<String>,
    updated_since: Option<DateTime<Utc>>,
    /// Orders per page (also `first`).
    limit: Option<u64>,
    first: Option<u64>,
    /// The `next_cursor` of the previous page (also `after`).
    cursor: Option<String>,
    after: Option<String>,
    /// The sort key: `updated_at` (the only one; an index serves it).
    sort: Option<String>,
    /// Oldest first instead of newest first.
    reverse: Option<bool>,
}

/// An order in a list.
#[derive(Serialize)]
pub(super) struct OrderBody {
    id: OrderId,
    shop_id: ShopId,
    status: OrderStatus,
    stage: Stage,
    stage_reason: Option<String>,
    version: i64,
    tiktok_update_time: Option<i64>,
    currency: Option<Currency>,
    /// A decimal string, as TikTok sends it.
    total_amount: Option<String>,
    updated_at: DateTime<Utc>,
}

impl From<OrderSummary> for OrderBody {
    fn from(o: OrderSummary) -> Self {
        Self {
            currency: o.total.map(|m| m.currency()),
            total_amount: o.total.map(|m| m.to_string()),
            id: o.id,
            shop_id: o.shop_id,
            status: o.status,
            stage: o.stage,
            stage_reason: o.stage_reason,
            version: o.version,
            tiktok_update_time: o.tiktok_update_time,
            updated_at: o.updated_at,
        }
    }
}

#[derive(Serialize)]
pub(super) struct OrderPage {
    orders: Vec<OrderBody>,
    next_cursor: Option<String>,
}

/// An order with its detail.
#[derive(Serialize)]
pub(super) struct OrderDetailBody {
    #[serde(flatten)]
    order: OrderBody,
    detail: Option<Detail>,
    quantities: Vec<SkuQuantity>,
    tags: Vec<String>,
    created_at: DateTime<Utc>,
}

#[derive(Serialize)]
pub(super) struct SkuQuantity {
    sku_id: Sku,
    quantity: u32,
}

impl From<OrderRecord> for OrderDetailBody {
    fn from(r: OrderRecord) -> Self {
        Self {
            order: r.order.into(),
            detail: r.detail,
            quantities: r
                .quantities
                .into_iter()
                .map(|(sku_id, quantity)| SkuQuantity { sku_id, quantity })
                .collect(),
            tags: r.tags,
            created_at: r.created_at,
        }
    }
}

#[derive(Serialize)]
pub(super) struct HistoryBody {
    order_id: OrderId,
    events: Vec<EventBody>,
}

/// One audit event.
#[derive(Serialize)]
pub(super) struct EventBody {
    seq: i64,
    kind: String,
    from_status: Option<OrderStatus>,
    to_status: Option<OrderStatus>,
    from_stage: Option<Stage>,
    to_stage: Option<Stage>,
    cause: String,
    payload: serde_json::Value,
    at: DateTime<Utc>,
}

impl From<HistoryEntry> for EventBody {
    fn from(e: HistoryEntry) -> Self {
        Self {
            seq: e.seq,
            kind: e.kind,
            from_status: e.from_status,
            to_status: e.to_status,
            from_stage: e.from_stage,
            to_stage: e.to_stage,
            cause: e.cause,
            payload: e.payload,
            at: e.at,
        }
    }
}

/// What a command did.
#[derive(Serialize)]
pub(super) struct CommandBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<OrderStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stage: Option<Stage>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    duplicate: bool,
}

/// Newest first (oldest first with `reverse=true`); `next_cursor` continues the list.
#[get("/orders")]
pub(super) async fn list(
    caller: Caller,
    db: web::Data<Database>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, Error> {
    let query = query.into_inner();
    let shop = query.shop.as_deref().map(ShopId::parse).transpose()?;
    if let Some(shop) = &shop {
        caller.require_shop(shop)?;
    }
    let limit = match (query.limit, query.first) {
        (Some(_), Some(_)) => {
            return Err(Error::BadRequest("give limit or first, not both".into()));
        }
        (Some(limit), None) => limit,
        (None, Some(first)) if !(1..=MAX_FIRST).contains(&first) => {
            return Err(Error::BadRequest(format!("first must be 1 to {MAX_FIRST}")));
        }
        (None, Some(first)) => first,
        (None, None) => DEFAULT_LIMIT,
    };
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(Error::BadRequest(format!("limit must be 1 to {MAX_LIMIT}")));
    }
    if let Some(sort) = query.sort.as_deref().filter(|s| *s != "updated_at") {
        return Err(Error::BadRequest(format!(
            "sort {sort:?} is not supported; orders sort by updated_at (reverse=true for oldest first)"
        )));
    }
    let cursor = match (query.cursor, query.after) {
        (Some(_), Some(_)) => {
            return Err(Error::BadRequest("give cursor or after, not both".into()));
        }
        (cursor, after) => cursor.or(after),
    };
    let filter = OrderFilter {
        shop,
        status: query.status.as_deref().map(OrderStatus::parse),
        stage: query.stage.as_deref().map(Stage::parse).transpose()?,
        updated_since: query.updated_since,
        search: query.query.as_deref().map(Search::parse).transpose()?,
        after: cursor.as_deref().map(parse_cursor).transpose()?,
        oldest_first: query.reverse.unwrap_or(false),
        limit,
    };
    let orders = db.orders().list(&caller.scope, &filter).await?;
    let next_cursor = (orders.len() as u64 == limit)
        .then(|| {
            orders.last().map(|o| {
                hex::encode(format!(
                    "{}_{}",
                    // Nanoseconds: SQLite keeps the time as written, to the nanosecond, and a
                    // cursor a digit short would compare before its own row.
                    o.updated_at.timestamp_nanos_opt().unwrap_or(i64::MAX),
                    o.id
                ))
            })
        })
        .flatten();
    Ok(HttpResponse::Ok().json(OrderPage {
        orders: orders.into_iter().map(OrderBody::from).collect(),
        next_cursor,
    }))
}

/// A cursor is opaque to callers: the position of the page's last order, hex-encoded.
fn parse_cursor(raw: &str) -> Result<(DateTime<Utc>, String), Error> {
    let bad = || Error::BadRequest("cursor is not one this API gave out".into());
    let text = hex::decode(raw)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(bad)?;
    let (nanos, id) = text.split_once('_').ok_or_else(bad)?;
    let at = DateTime::from_timestamp_nanos(nanos.parse().map_err(|_| bad())?);
    Ok((
        at,
        OrderId::parse(id).map_err(|_| bad())?.as_str().to_owned(),
    ))
}

#[get("/orders/{order_id}")]
pub(super) async fn show(
    caller: Caller,
    db: web::Data<Database>,
    path: web::Path<OrderId>,
) -> Result<HttpResponse, Error> {
    let id = path.into_inner();
    let order = db
        .orders()
        .detail(&caller.scope, &id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("order {id}")))?;
    Ok(HttpResponse::Ok().json(OrderDetailBody::from(order)))
}

#[get("/orders/{order_id}/history")]
pub(super) async fn history(
    caller: Caller,
    db: web::Data<Database>,
    path: web::Path<OrderId>,
) -> Result<HttpResponse, Error> {
    let id = path.into_inner();
    let events = db
        .orders()
        .history(&caller.scope, &id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("order {id}")))?;
    Ok(HttpResponse::Ok().json(HistoryBody {
        order_id: id,
        events: events.into_iter().map(EventBody::from).collect(),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HoldBody {
    reason: String,
    expected_version: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReleaseBody {
    expected_version: i64,
}

/// Holds an order for a person to look at. 409 if `expected_version` is not the current one.
#[post("/orders/{order_id}/hold")]
pub(super) async fn hold(
    caller: Caller,
    db: web::Data<Database>,
    registry: web::Data<RegistryHandle>,
    path: web::Path<OrderId>,
    body: web::Json<HoldBody>,
) -> Result<HttpResponse, Error> {
    let body = body.into_inner();
    let reason = body.reason.trim();
    if reason.is_empty() || reason.len() > 500 {
        return Err(Error::BadRequest(
            "reason must be 1 to 500 characters".into(),
        ));
    }
    let msg = Msg::Hold {
        reason: reason.to_owned(),
        expected_version: body.expected_version,
    };
    command(&caller, &db, &registry, path.into_inner(), msg).await
}

#[post("/orders/{order_id}/release")]
pub(super) async fn release(
    caller: Caller,
    db: web::Data<Database>,
    registry: web::Data<RegistryHandle>,
    path: web::Path<OrderId>,
    body: web::Json<ReleaseBody>,
) -> Result<HttpResponse, Error> {
    let msg = Msg::ReleaseHold {
        expected_version: body.expected_version,
    };
    command(&caller, &db, &registry, path.into_inner(), msg).await
}

async fn command(
    caller: &Caller,
    db: &Database,
    registry: &RegistryHandle,
    id: OrderId,
    msg: Msg,
) -> Result<HttpResponse, Error> {
    let id = caller.visible_order(db, id).await?;
    let envelope = Envelope {
        msg,
        cause: crate::domain::Cause::User(caller.name.as_str().into()),
        inbox: None,
    };
    match registry.submit(id, envelope).await? {
        Reply::Applied {
            version,
            status,
            stage,
        } => Ok(HttpResponse::Ok().json(CommandBody {
            version: Some(version),
            status: Some(status),
            stage: Some(stage),
            duplicate: false,
        })),
        Reply::Unchanged { version } => Ok(HttpResponse::Ok().json(CommandBody {
            version: Some(version),
            status: None,
            stage: None,
            duplicate: false,
        })),
        Reply::Duplicate => Ok(HttpResponse::Ok().json(CommandBody {
            version: None,
            status: None,
            stage: None,
            duplicate: true,
        })),
    }
}
