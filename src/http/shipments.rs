//! `GET /api/v1/orders/{id}/shipment`: the label bought for an order, its carrier, tracking
//! number, label URL and state; `GET /api/v1/orders/{id}/shipment/label`: the label to print,
//! fetched from TikTok the first time it is asked for (TikTok shipping).

use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Caller, Error};
use crate::domain::{OrderId, ShipmentProvider, ShipmentState, ShopId};
use crate::integrations::shipping::Shipping;
use crate::persistence::Database;
use crate::persistence::shipments::Shipment;

/// An order's shipment.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct ShipmentBody {
    order_id: OrderId,
    shop_id: ShopId,
    provider: ShipmentProvider,
    provider_shipment_id: Option<String>,
    package_id: Option<String>,
    carrier: Option<String>,
    tracking_number: Option<String>,
    label_url: Option<String>,
    state: ShipmentState,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Shipment> for ShipmentBody {
    fn from(s: Shipment) -> Self {
        Self {
            order_id: s.order_id,
            shop_id: s.shop_id,
            provider: s.provider,
            provider_shipment_id: s.provider_shipment_id,
            package_id: s.package_id,
            carrier: s.carrier,
            tracking_number: s.tracking_number,
            label_url: s.label_url,
            state: s.state,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

#[utoipa::path(
    tag = "orders",
    params(("order_id" = OrderId, Path, description = "A TikTok order id")),
    responses((status = 200, description = "OK", body = ShipmentBody))
)]
#[get("/orders/{order_id}/shipment")]
pub(super) async fn show(
    caller: Caller,
    db: web::Data<Database>,
    path: web::Path<OrderId>,
) -> Result<HttpResponse, Error> {
    let id = caller.visible_order(&db, path.into_inner()).await?;
    let shipment = db
        .shipments()
        .get(&id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("shipment of order {id}")))?;
    Ok(HttpResponse::Ok().json(ShipmentBody::from(shipment)))
}

/// Where an order's shipping label can be downloaded.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct LabelBody {
    order_id: OrderId,
    label_url: String,
}

#[utoipa::path(
    tag = "orders",
    params(("order_id" = OrderId, Path, description = "A TikTok order id")),
    responses((status = 200, description = "The label to print (404: the order has no shipment, or no label yet)", body = LabelBody))
)]
#[get("/orders/{order_id}/shipment/label")]
pub(super) async fn label(
    caller: Caller,
    db: web::Data<Database>,
    shipping: web::Data<Shipping>,
    path: web::Path<OrderId>,
) -> Result<HttpResponse, Error> {
    let id = caller.visible_order(&db, path.into_inner()).await?;
    let label_url = shipping
        .label(&id)
        .await
        .map_err(|e| {
            Error::Unavailable(format!(
                "cannot fetch the label now: {}",
                crate::telemetry::error_chain(&e)
            ))
        })?
        .ok_or_else(|| Error::NotFound(format!("shipping label of order {id}")))?;
    Ok(HttpResponse::Ok().json(LabelBody {
        order_id: id,
        label_url,
    }))
}
