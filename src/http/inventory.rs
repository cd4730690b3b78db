//! Stock over HTTP: read levels, set a counted level, adjust by a delta, read an order's
//! reservation. A shop key sees and changes only its shop's stock.

use actix_web::{HttpResponse, get, post, put, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Caller, Error};
use crate::domain::{OrderId, ReservationState, ShopId, Sku};
use crate::inventory::{ReservationLine, StockLevel};
use crate::persistence::Database;

/// A SKU's stock.
/// The most units a level holds, or an adjustment moves: far above any shelf, far below
/// where the arithmetic could overflow.
const MAX_UNITS: i64 = 1_000_000_000;

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct StockBody {
    shop_id: ShopId,
    sku_id: Sku,
    on_hand: i64,
    reserved: i64,
    /// `on_hand − reserved`.
    available: i64,
    low_stock_threshold: Option<i64>,
    updated_at: DateTime<Utc>,
}

impl From<StockLevel> for StockBody {
    fn from(l: StockLevel) -> Self {
        Self {
            shop_id: l.shop_id,
            sku_id: l.sku_id,
            on_hand: l.on_hand,
            reserved: l.reserved,
            available: l.available,
            low_stock_threshold: l.low_stock_threshold,
            updated_at: l.updated_at,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct StockList {
    stock: Vec<StockBody>,
}

/// One reserved line of an order.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct ReservationLineBody {
    sku_id: Sku,
    quantity: i64,
    /// false: the SKU has no stock record and was taken as always available.
    tracked: bool,
    state: ReservationState,
    expires_at: DateTime<Utc>,
}

impl From<ReservationLine> for ReservationLineBody {
    fn from(l: ReservationLine) -> Self {
        Self {
            sku_id: l.sku_id,
            quantity: l.quantity,
            tracked: l.tracked,
            state: l.state,
            expires_at: l.expires_at,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct ReservationBody {
    order_id: OrderId,
    lines: Vec<ReservationLineBody>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    #[param(value_type = Option<ShopId>)]
    shop_id: Option<String>,
}

#[utoipa::path(
    tag = "inventory",
    params(ListQuery),
    responses((status = 200, description = "OK", body = StockList))
)]
#[get("/inventory")]
pub(super) async fn list(
    caller: Caller,
    db: web::Data<Database>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, Error> {
    let asked = query.shop_id.as_deref().map(ShopId::parse).transpose()?;
    let levels = db.stock().levels(&caller.scope, asked.as_ref()).await?;
    Ok(HttpResponse::Ok().json(StockList {
        stock: levels.into_iter().map(StockBody::from).collect(),
    }))
}

fn target(caller: &Caller, shop: &str, sku: &str) -> Result<(ShopId, String), Error> {
    let shop = ShopId::parse(shop)?;
    caller.require_shop(&shop)?;
    let sku = crate::domain::Sku::parse(sku)?;
    Ok((shop, sku.as_str().to_owned()))
}

#[utoipa::path(
    tag = "inventory",
    params(("shop_id" = ShopId, Path, description = "A TikTok shop id"), ("sku_id" = Sku, Path, description = "A SKU id")),
    responses((status = 200, description = "OK", body = StockBody))
)]
#[get("/inventory/{shop_id}/{sku_id}")]
pub(super) async fn show(
    caller: Caller,
    db: web::Data<Database>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Error> {
    let (shop, sku) = target(&caller, &path.0, &path.1)?;
    let level = db.stock().level(shop.as_str(), &sku).await?;
    Ok(HttpResponse::Ok().json(StockBody::from(level)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct SetStock {
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    #[serde(deserialize_with = "super::whole::i64")]
    on_hand: i64,
    /// Absent: keep; null: none; a number: raise `inventory.low_stock` at or below it.
    #[serde(default, deserialize_with = "present")]
    low_stock_threshold: Option<Option<i64>>,
}

/// Tells an absent field (`None`, by `default`) from an explicit null (`Some(None)`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
    super::whole::option_i64(d).map(Some)
}

#[utoipa::path(
    tag = "inventory",
    params(("shop_id" = ShopId, Path, description = "A TikTok shop id"), ("sku_id" = Sku, Path, description = "A SKU id")),
    request_body = SetStock,
    responses((status = 200, description = "OK", body = StockBody))
)]
#[put("/inventory/{shop_id}/{sku_id}")]
pub(super) async fn set(
    caller: Caller,
    db: web::Data<Database>,
    path: web::Path<(String, String)>,
    body: web::Json<SetStock>,
) -> Result<HttpResponse, Error> {
    let (shop, sku) = target(&caller, &path.0, &path.1)?;
    if body.on_hand > MAX_UNITS {
        return Err(Error::BadRequest(format!(
            "on_hand must be at most {MAX_UNITS}"
        )));
    }
    let level = db
        .stock()
        .set(
            shop.as_str(),
            &sku,
            body.on_hand,
            body.low_stock_threshold,
            None,
        )
        .await?;
    let detail = serde_json::json!({
        "on_hand": body.on_hand, "low_stock_threshold": body.low_stock_threshold,
    });
    let target = format!("stock {sku}");
    caller
        .audit(&db, "stock.set", &target, Some(&shop), detail)
        .await?;
    Ok(HttpResponse::Ok().json(StockBody::from(level)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Adjust {
    /// Units to add (negative: remove), at most a billion either way.
    #[schema(minimum = -1_000_000_000, maximum = 1_000_000_000)]
    #[serde(deserialize_with = "super::whole::i64")]
    delta: i64,
    /// Makes the request safe to repeat: a key seen before changes nothing.
    #[schema(min_length = 1, max_length = 255)]
    idempotency_key: Option<String>,
}

#[utoipa::path(
    tag = "inventory",
    params(("shop_id" = ShopId, Path, description = "A TikTok shop id"), ("sku_id" = Sku, Path, description = "A SKU id")),
    request_body = Adjust,
    responses((status = 200, description = "OK", body = StockBody))
)]
#[post("/inventory/{shop_id}/{sku_id}/adjust")]
pub(super) async fn adjust(
    caller: Caller,
    db: web::Data<Database>,
    path: web::Path<(String, String)>,
    body: web::Json<Adjust>,
) -> Result<HttpResponse, Error> {
    let (shop, sku) = target(&caller, &path.0, &path.1)?;
    if body.delta.abs() > MAX_UNITS {
        return Err(Error::BadRequest(format!(
            "delta must be at most {MAX_UNITS} either way"
        )));
    }
    if let Some(key) = &body.idempotency_key
        && !(1..=255).contains(&key.len())
    {
        return Err(Error::BadRequest(
            "idempotency_key must be 1 to 255 characters".into(),
        ));
    }
    let key = body
        .idempotency_key
        .as_ref()
        .map(|k| format!("api:{}:{k}", shop.as_str()));
    let level = db
        .stock()
        .adjust(shop.as_str(), &sku, body.delta, key.as_deref())
        .await?;
    let detail = serde_json::json!({
        "delta": body.delta, "idempotency_key": body.idempotency_key, "on_hand": level.on_hand,
    });
    let target = format!("stock {sku}");
    caller
        .audit(&db, "stock.adjusted", &target, Some(&shop), detail)
        .await?;
    Ok(HttpResponse::Ok().json(StockBody::from(level)))
}

#[utoipa::path(
    tag = "inventory",
    params(("order_id" = OrderId, Path, description = "A TikTok order id")),
    responses((status = 200, description = "OK", body = ReservationBody))
)]
#[get("/orders/{order_id}/reservation")]
pub(super) async fn reservation(
    caller: Caller,
    db: web::Data<Database>,
    path: web::Path<OrderId>,
) -> Result<HttpResponse, Error> {
    let id = caller.visible_order(&db, path.into_inner()).await?;
    let lines = db.stock().reservation(id.as_str()).await?;
    Ok(HttpResponse::Ok().json(ReservationBody {
        order_id: id,
        lines: lines.into_iter().map(ReservationLineBody::from).collect(),
    }))
}
