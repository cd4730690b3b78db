//! `GET /api/v1/orders/{id}/shipment`: the label bought for an order, its carrier, tracking
//! number, label URL and state.

use actix_web::{HttpResponse, get, web};

use super::{Caller, Error};
use crate::persistence::Database;

#[get("/orders/{order_id}/shipment")]
pub(super) async fn show(
    caller: Caller,
    db: web::Data<Database>,
    path: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let id = caller.visible_order(&db, &path).await?;
    let shipment = db
        .shipments()
        .get(id.as_str())
        .await?
        .ok_or_else(|| Error::NotFound(format!("shipment of order {id}")))?;
    Ok(HttpResponse::Ok().json(shipment))
}
