//! `GET /api/v1/orders/{id}/shipment`: the label bought for an order, its carrier, tracking
//! number, label URL and state.

use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Caller, Error};
use crate::domain::{OrderId, ShipmentProvider, ShipmentState, ShopId};
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
