//! Orders: lists and details served from SQL (never by asking actors), and commands that go
//! through the order's actor with the version the caller expects.

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{Caller, Error};
use crate::actors::Reply;
use crate::commands::{self, Command, Commands};
use crate::domain::{
    AfterSale, Currency, Detail, OrderId, OrderStatus, Search, ShopId, Sku, Stage, Tag,
};
use crate::persistence::{
    Database, HistoryEntry, OrderFilter, OrderRecord, OrderSummary, cursor_of, parse_cursor,
};

const DEFAULT_LIMIT: u64 = 50;
const MAX_LIMIT: u64 = 500;
/// The most a page asked for with `first` (as Shopify and GraphQL connections allow).
const MAX_FIRST: u64 = 250;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    /// A search in the order query syntax: `status:AWAITING_SHIPMENT tag:vip -stage:shipped`.
    query: Option<String>,
    /// TikTok's status (also `status:` in `query`).
    #[param(value_type = Option<OrderStatus>)]
    status: Option<String>,
    #[param(value_type = Option<Stage>)]
    stage: Option<String>,
    /// One shop's orders (a shop key sees only its own anyway).
    #[param(value_type = Option<ShopId>)]
    shop: Option<String>,
    updated_since: Option<DateTime<Utc>>,
    /// Orders per page (also `first`).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u64>,
    /// Orders per page, at most 250 (as Shopify and GraphQL connections allow).
    #[param(minimum = 1, maximum = 250)]
    first: Option<u64>,
    /// The `next_cursor` of the previous page (also `after`).
    cursor: Option<String>,
    after: Option<String>,
    /// The sort key: `updated_at` (the only one; an index serves it).
    #[param(pattern = "^updated_at$")]
    sort: Option<String>,
    /// Oldest first instead of newest first.
    reverse: Option<bool>,
}

/// An order in a list.
#[derive(Serialize, utoipa::ToSchema)]
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

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct OrderPage {
    orders: Vec<OrderBody>,
    next_cursor: Option<String>,
}

/// An order with its detail.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct OrderDetailBody {
    #[serde(flatten)]
    order: OrderBody,
    detail: Option<Detail>,
    quantities: Vec<SkuQuantity>,
    tags: Vec<String>,
    /// The buyer's cancellation and return requests, as TikTok last reported each, oldest
    /// first; those with `awaits_seller` are answered at `/requests/{request_id}/approve` or
    /// `/reject`.
    requests: Vec<RequestBody>,
    created_at: DateTime<Utc>,
}

/// A buyer's cancellation or return (refund, replacement) request, as TikTok last reported it.
#[derive(Serialize, utoipa::ToSchema, async_graphql::SimpleObject)]
#[graphql(name = "BuyerRequest")]
pub(super) struct RequestBody {
    /// `cancellation` or `return`.
    kind: String,
    /// TikTok's `cancel_id` or `return_id` (what answering it names).
    id: String,
    /// TikTok's status, as TikTok spells it (`CANCELLATION_REQUEST_PENDING`, …).
    status: String,
    /// Whether TikTok waits for the seller to answer it.
    awaits_seller: bool,
    /// What it asks, in words.
    summary: String,
    /// Who asked: `BUYER`, `SELLER`, `SYSTEM`.
    role: Option<String>,
    /// A return's type: `REFUND`, `RETURN_AND_REFUND` or `REPLACEMENT`.
    return_type: Option<String>,
    /// When TikTok last changed it.
    updated_at: Option<DateTime<Utc>>,
}

impl From<AfterSale> for RequestBody {
    fn from(r: AfterSale) -> Self {
        Self {
            kind: r.kind.as_str().to_owned(),
            awaits_seller: r.awaits_seller(),
            summary: r.summary(),
            updated_at: DateTime::from_timestamp(r.time, 0),
            id: r.id,
            status: r.status,
            role: r.role,
            return_type: r.return_type,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
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
            requests: r.requests.into_iter().map(RequestBody::from).collect(),
            created_at: r.created_at,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct HistoryBody {
    order_id: OrderId,
    events: Vec<EventBody>,
}

/// One audit event.
#[derive(Serialize, utoipa::ToSchema)]
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
#[derive(Serialize, utoipa::ToSchema)]
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
#[utoipa::path(
    tag = "orders",
    params(ListQuery),
    responses((status = 200, description = "A page of orders, newest first; `next_cursor` continues", body = OrderPage))
)]
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
        .then(|| orders.last().map(cursor_of))
        .flatten();
    Ok(HttpResponse::Ok().json(OrderPage {
        orders: orders.into_iter().map(OrderBody::from).collect(),
        next_cursor,
    }))
}

#[utoipa::path(
    tag = "orders",
    params(("order_id" = OrderId, Path, description = "A TikTok order id")),
    responses((status = 200, description = "The order; `ETag` is its version, for `If-Match`", body = OrderDetailBody, headers(("ETag" = String, description = "The order's version in quotes"))))
)]
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
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, format!("\"{}\"", order.order.version)))
        .json(OrderDetailBody::from(order)))
}

#[utoipa::path(
    tag = "orders",
    params(("order_id" = OrderId, Path, description = "A TikTok order id")),
    responses((status = 200, description = "The audit trail, oldest first", body = HistoryBody))
)]
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

/// The version a command expects the order to be at: `If-Match` (the `ETag` an order's GET
/// gave, `"7"`) or `expected_version` in the body; one of them, and the same if both.
fn expected_version(req: &HttpRequest, in_body: Option<i64>) -> Result<i64, Error> {
    let header = match req.headers().get(header::IF_MATCH) {
        None => None,
        Some(value) => {
            let bad = || {
                Error::BadRequest(
                    "If-Match must be the order's ETag, its version in quotes (\"7\")".into(),
                )
            };
            let text = value.to_str().map_err(|_| bad())?.trim();
            let text = text.strip_prefix("W/").unwrap_or(text);
            let text = text
                .strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .unwrap_or(text);
            Some(text.parse::<i64>().map_err(|_| bad())?)
        }
    };
    match (header, in_body) {
        (Some(h), Some(b)) if h != b => Err(Error::Conflict(format!(
            "If-Match says version {h} and expected_version says {b}; give one"
        ))),
        (Some(v), _) | (None, Some(v)) => Ok(v),
        (None, None) => Err(Error::VersionRequired(
            "give the version you expect the order to be at: If-Match: \"<version>\" or \
             expected_version in the body"
                .into(),
        )),
    }
}

/// A command's JSON body; an empty body is the command's defaults (its version in `If-Match`).
fn command_body<T: DeserializeOwned + Default>(bytes: &Bytes) -> Result<T, Error> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes).map_err(|e| Error::BadRequest(format!("body: {e}")))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct HoldBody {
    /// Why, for the person who looks next.
    #[schema(min_length = 1, max_length = 500, pattern = "\\S")]
    reason: String,
    #[serde(default, deserialize_with = "super::whole::option_i64")]
    expected_version: Option<i64>,
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct VersionBody {
    #[serde(default, deserialize_with = "super::whole::option_i64")]
    expected_version: Option<i64>,
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct TagsBody {
    #[serde(default)]
    #[schema(max_items = 50)]
    add: Vec<Tag>,
    #[serde(default)]
    #[schema(max_items = 50)]
    remove: Vec<Tag>,
    #[serde(default, deserialize_with = "super::whole::option_i64")]
    expected_version: Option<i64>,
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PriorityBody {
    /// Higher runs first; 0 is the default.
    #[schema(minimum = -1000, maximum = 1000)]
    #[serde(deserialize_with = "super::whole::i32")]
    priority: i32,
    #[serde(default, deserialize_with = "super::whole::option_i64")]
    expected_version: Option<i64>,
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CancelBody {
    /// TikTok's cancel reason code (e.g. `seller_cancel_reason_out_of_stock`).
    #[schema(min_length = 1, max_length = 500, pattern = "\\S")]
    reason: String,
    #[serde(default, deserialize_with = "super::whole::option_i64")]
    expected_version: Option<i64>,
}

/// A command's body: it may carry the version the caller expects.
pub(super) trait Versioned: DeserializeOwned + Default {
    fn expected_version(&self) -> Option<i64>;
}

macro_rules! versioned {
    ($($body:ty),*) => {
        $(impl Versioned for $body {
            fn expected_version(&self) -> Option<i64> {
                self.expected_version
            }
        })*
    };
}

versioned!(HoldBody, VersionBody, TagsBody, PriorityBody, CancelBody);

/// A command request: its body read (an empty one is the defaults), the command formed from it,
/// the version from `If-Match` or the body, then run.
pub(super) async fn run<B: Versioned>(
    req: &HttpRequest,
    caller: &Caller,
    commands: &Commands,
    id: OrderId,
    body: &Bytes,
    form: impl FnOnce(B) -> Result<Command, Error>,
) -> Result<HttpResponse, Error> {
    let body: B = command_body(body)?;
    let version = body.expected_version();
    let command_of = form(body)?;
    let version = expected_version(req, version)?;
    command(caller, commands, id, version, command_of).await
}

/// Most tags one command adds or removes.
const MAX_TAGS: usize = 50;

/// Holds an order for a person to look at.
#[utoipa::path(
    tag = "orders",
    params(("order_id" = OrderId, Path, description = "A TikTok order id"), ("If-Match" = Option<String>, Header, description = "The version the order must be at, as its ETag gives it (`\"7\"`); or `expected_version` in the body")),
    request_body = HoldBody,
    responses((status = 200, description = "Held", body = CommandBody))
)]
#[post("/orders/{order_id}/hold")]
pub(super) async fn hold(
    req: HttpRequest,
    caller: Caller,
    commands: web::Data<Commands>,
    path: web::Path<OrderId>,
    body: Bytes,
) -> Result<HttpResponse, Error> {
    run(
        &req,
        &caller,
        &commands,
        path.into_inner(),
        &body,
        |body: HoldBody| {
            Ok(Command::Hold {
                reason: commands::reason(&body.reason)?,
            })
        },
    )
    .await
}

/// Lifts a hold: the order returns to the stage it was held from.
#[utoipa::path(
    tag = "orders",
    params(("order_id" = OrderId, Path, description = "A TikTok order id"), ("If-Match" = Option<String>, Header, description = "The version the order must be at, as its ETag gives it (`\"7\"`); or `expected_version` in the body")),
    request_body = VersionBody,
    responses((status = 200, description = "Released", body = CommandBody))
)]
#[post("/orders/{order_id}/release")]
pub(super) async fn release(
    req: HttpRequest,
    caller: Caller,
    commands: web::Data<Commands>,
    path: web::Path<OrderId>,
    body: Bytes,
) -> Result<HttpResponse, Error> {
    run(
        &req,
        &caller,
        &commands,
        path.into_inner(),
        &body,
        |_: VersionBody| Ok(Command::Release),
    )
    .await
}

/// Adds and removes tags in one change: `{"add": ["vip"], "remove": ["check"]}`.
#[utoipa::path(
    tag = "orders",
    params(("order_id" = OrderId, Path, description = "A TikTok order id"), ("If-Match" = Option<String>, Header, description = "The version the order must be at, as its ETag gives it (`\"7\"`); or `expected_version` in the body")),
    request_body = TagsBody,
    responses((status = 200, description = "Tagged", body = CommandBody))
)]
#[post("/orders/{order_id}/tags")]
pub(super) async fn tags(
    req: HttpRequest,
    caller: Caller,
    commands: web::Data<Commands>,
    path: web::Path<OrderId>,
    body: Bytes,
) -> Result<HttpResponse, Error> {
    run(
        &req,
        &caller,
        &commands,
        path.into_inner(),
        &body,
        |body: TagsBody| {
            if body.add.len().max(body.remove.len()) > MAX_TAGS {
                return Err(Error::BadRequest(format!(
                    "at most {MAX_TAGS} tags to add and {MAX_TAGS} to remove per change"
                )));
            }
            Ok(Command::Tag {
                add: body.add,
                remove: body.remove,
            })
        },
    )
    .await
}

/// Sets the priority of the order's workflow run (higher runs first; 0 is the default).
#[utoipa::path(
    tag = "orders",
    params(("order_id" = OrderId, Path, description = "A TikTok order id"), ("If-Match" = Option<String>, Header, description = "The version the order must be at, as its ETag gives it (`\"7\"`); or `expected_version` in the body")),
    request_body = PriorityBody,
    responses((status = 200, description = "Prioritised", body = CommandBody))
)]
#[post("/orders/{order_id}/priority")]
pub(super) async fn priority(
    req: HttpRequest,
    caller: Caller,
    commands: web::Data<Commands>,
    path: web::Path<OrderId>,
    body: Bytes,
) -> Result<HttpResponse, Error> {
    run(
        &req,
        &caller,
        &commands,
        path.into_inner(),
        &body,
        |body: PriorityBody| {
            if !(-1000..=1000).contains(&body.priority) {
                return Err(Error::BadRequest("priority must be -1000 to 1000".into()));
            }
            Ok(Command::Prioritise {
                priority: body.priority,
            })
        },
    )
    .await
}

/// Sends the order's failed workflow back to work: its dead step runs again from attempt one,
/// and an order the failure put in `exception` returns to where its last done step left it.
#[utoipa::path(
    tag = "orders",
    params(("order_id" = OrderId, Path, description = "A TikTok order id"), ("If-Match" = Option<String>, Header, description = "The version the order must be at, as its ETag gives it (`\"7\"`); or `expected_version` in the body")),
    request_body = VersionBody,
    responses((status = 200, description = "The run is due again", body = CommandBody))
)]
#[post("/orders/{order_id}/retry-workflow")]
pub(super) async fn retry_workflow(
    req: HttpRequest,
    caller: Caller,
    commands: web::Data<Commands>,
    path: web::Path<OrderId>,
    body: Bytes,
) -> Result<HttpResponse, Error> {
    run(
        &req,
        &caller,
        &commands,
        path.into_inner(),
        &body,
        |_: VersionBody| Ok(Command::RetryWorkflow),
    )
    .await
}

/// Asks TikTok to cancel the order (a seller cancellation). The request and TikTok's answer
/// are both on the order's audit trail; TikTok's webhook then moves the status to CANCELLED.
#[utoipa::path(
    tag = "orders",
    params(("order_id" = OrderId, Path, description = "A TikTok order id"), ("If-Match" = Option<String>, Header, description = "The version the order must be at, as its ETag gives it (`\"7\"`); or `expected_version` in the body")),
    request_body = CancelBody,
    responses((status = 200, description = "TikTok accepted the cancellation", body = CommandBody))
)]
#[post("/orders/{order_id}/cancel")]
pub(super) async fn cancel(
    req: HttpRequest,
    caller: Caller,
    commands: web::Data<Commands>,
    path: web::Path<OrderId>,
    body: Bytes,
) -> Result<HttpResponse, Error> {
    run(
        &req,
        &caller,
        &commands,
        path.into_inner(),
        &body,
        |body: CancelBody| {
            Ok(Command::Cancel {
                reason: commands::reason(&body.reason)?,
            })
        },
    )
    .await
}

async fn command(
    caller: &Caller,
    commands: &Commands,
    id: OrderId,
    expected_version: i64,
    command: Command,
) -> Result<HttpResponse, Error> {
    let who = caller.who();
    let reply = commands.run(who, id, expected_version, command).await?;
    let body = CommandBody::from(reply);
    let mut response = HttpResponse::Ok();
    if let Some(version) = body.version {
        response.insert_header((header::ETAG, format!("\"{version}\"")));
    }
    Ok(response.json(body))
}

/// An order's detail as the API shows it, as one line of JSON (a bulk export's line).
pub(super) fn detail_json(record: OrderRecord) -> String {
    serde_json::to_string(&OrderDetailBody::from(record)).expect("an order serialises")
}

impl From<Reply> for CommandBody {
    fn from(reply: Reply) -> Self {
        match reply {
            Reply::Applied {
                version,
                status,
                stage,
            } => CommandBody {
                version: Some(version),
                status: Some(status),
                stage: Some(stage),
                duplicate: false,
            },
            Reply::Unchanged { version } => CommandBody {
                version: Some(version),
                status: None,
                stage: None,
                duplicate: false,
            },
            Reply::Duplicate => CommandBody {
                version: None,
                status: None,
                stage: None,
                duplicate: true,
            },
        }
    }
}
