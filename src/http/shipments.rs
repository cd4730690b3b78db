//! `GET /api/v1/orders/{id}/shipment`: the label bought for an order, its carrier, tracking
//! number, label URL and state.

use actix_web::{HttpResponse, get, web};

use super::{Caller, Error};
use crate::domain::OrderId;
use crate::persistence::Database;

#[get("/orders/{order_id}/shipment")]
pub(super) async fn show(
    caller: Caller,
    db: web::Data<Database>,
    path: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let id = OrderId::parse(&path)?;
    if !db.order_visible(&caller.scope, &id).await? {
        return Err(Error::NotFound(format!("order {id}")));
    }
    let shipment = db
        .shipment(id.as_str())
        .await?
        .ok_or_else(|| Error::NotFound(format!("shipment of order {id}")))?;
    Ok(HttpResponse::Ok().json(shipment))
}
