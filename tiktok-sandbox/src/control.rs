//! The sandbox's own control surface under `/sandbox/`, for drivers that are not Rust (the
//! browser tests, a person with curl): add a shop and get its auth code, create a paid order.
//! It is no part of TikTok's API and checks no signature; the sandbox listens on loopback.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use crate::requests::RequestKind;
use crate::shared::Shared;

#[derive(Deserialize)]
struct NewShop {
    id: String,
    name: String,
}

#[derive(Deserialize)]
struct NewOrder {
    shop_id: String,
    #[serde(default = "one")]
    units: usize,
    /// The status it is moved to at once (announced by webhook): `AWAITING_SHIPMENT` = paid.
    #[serde(default = "awaiting_shipment")]
    status: String,
}

#[derive(Deserialize)]
struct NewRequest {
    order_id: String,
    /// `cancellation` or `return`.
    kind: String,
    /// A return's type: `REFUND` (the default), `RETURN_AND_REFUND` or `REPLACEMENT`.
    return_type: Option<String>,
}

fn one() -> usize {
    1
}

fn awaiting_shipment() -> String {
    "AWAITING_SHIPMENT".into()
}

/// Answers a `/sandbox/…` request: `POST /sandbox/shops?id=&name=` → `{"auth_code"}`,
/// `POST /sandbox/orders?shop_id=&units=&status=` → `{"order_id"}`,
/// `POST /sandbox/requests?order_id=&kind=cancellation|return&return_type=` (the buyer asks)
/// → `{"request_id"}`.
pub fn handle(path: &str, query: &str, shared: &Shared) -> HttpResponse {
    match path {
        "/sandbox/shops" => match web::Query::<NewShop>::from_query(query) {
            Ok(shop) => HttpResponse::Ok()
                .json(json!({ "auth_code": shared.world().add_shop(&shop.id, &shop.name) })),
            Err(e) => HttpResponse::BadRequest().body(format!("shop: {e}")),
        },
        "/sandbox/orders" => match web::Query::<NewOrder>::from_query(query) {
            Ok(new) => {
                let mut world = shared.world();
                if !world.shops.contains_key(&new.shop_id) {
                    return HttpResponse::NotFound().body(format!("no shop {}", new.shop_id));
                }
                let id = world.create_order(&new.shop_id, new.units.clamp(1, 10), true);
                world.set_status(&id, &new.status, true);
                HttpResponse::Ok().json(json!({ "order_id": id }))
            }
            Err(e) => HttpResponse::BadRequest().body(format!("order: {e}")),
        },
        "/sandbox/requests" => match web::Query::<NewRequest>::from_query(query) {
            Ok(new) => {
                let Some(kind) = RequestKind::parse(&new.kind) else {
                    return HttpResponse::BadRequest()
                        .body("request: kind must be cancellation or return");
                };
                match shared
                    .world()
                    .buyer_request(&new.order_id, kind, new.return_type.as_deref())
                {
                    Ok(id) => HttpResponse::Ok().json(json!({ "request_id": id })),
                    Err(why) => HttpResponse::Conflict().body(why),
                }
            }
            Err(e) => HttpResponse::BadRequest().body(format!("request: {e}")),
        },
        _ => HttpResponse::NotFound()
            .body("sandbox control: POST /sandbox/shops, /sandbox/orders or /sandbox/requests"),
    }
}
