//! A stand-in for a generic carrier label API (the shape of Shippo/EasyPost-like services),
//! served by the sandbox under `/labels/v1`:
//!
//! - `POST /labels/v1/shipments` with `Authorization: Bearer <label key>` and an
//!   `Idempotency-Key` header; body `{order_id, ship_to: {...}, parcels}` → `201 {shipment_id,
//!   carrier, tracking_number, label_url, status: "purchased"}`. The same key answers the same
//!   shipment (200) and buys nothing twice.
//! - `POST /labels/v1/shipments/{id}/void` → `{status: "voided"}` (idempotent); 409 once the
//!   label was used (`POST /labels/v1/shipments/{id}/use`, what the carrier's first scan does).
//!
//! Errors are `{"error": {"code", "message"}}` with 401 (key), 400 (no idempotency key), 422
//! (bad body), 404 (unknown shipment).

use actix_web::{HttpRequest, HttpResponse};
use serde_json::{Value, json};

use crate::shared::Shared;

#[derive(Debug, Clone)]
pub struct IssuedLabel {
    pub shipment_id: String,
    pub order_id: String,
    pub tracking_number: String,
    pub status: &'static str,
}

fn error(status: actix_web::http::StatusCode, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "error": { "code": code, "message": message } }))
}

fn shown(label: &IssuedLabel) -> Value {
    json!({
        "shipment_id": label.shipment_id,
        "order_id": label.order_id,
        "carrier": "UPS",
        "tracking_number": label.tracking_number,
        "label_url": format!("https://labels.sandbox.invalid/{}.pdf", label.shipment_id),
        "status": label.status,
    })
}

pub fn handle(req: &HttpRequest, body: &[u8], shared: &Shared) -> HttpResponse {
    use actix_web::http::StatusCode as S;
    let bearer = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if bearer != Some(shared.label_api_key.as_str()) {
        return error(S::UNAUTHORIZED, "unauthorized", "missing or wrong API key");
    }
    let segments: Vec<&str> = req.path().trim_start_matches('/').split('/').collect();
    let mut world = shared.world();
    match (req.method().as_str(), segments.as_slice()) {
        ("POST", ["labels", "v1", "shipments"]) => {
            let Some(key) = req
                .headers()
                .get("idempotency-key")
                .and_then(|v| v.to_str().ok())
                .filter(|k| !k.is_empty())
            else {
                return error(
                    S::BAD_REQUEST,
                    "idempotency_key_required",
                    "Idempotency-Key header is required",
                );
            };
            let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            let Some(order_id) = parsed.get("order_id").and_then(Value::as_str) else {
                return error(S::UNPROCESSABLE_ENTITY, "invalid", "order_id is required");
            };
            if parsed.get("ship_to").is_none_or(Value::is_null) {
                return error(S::UNPROCESSABLE_ENTITY, "invalid", "ship_to is required");
            }
            if let Some(label) = world.labels.get(key) {
                return HttpResponse::Ok().json(shown(label));
            }
            let n = world.labels.len() + 1;
            let label = IssuedLabel {
                shipment_id: format!("shp_{n:06}"),
                order_id: order_id.to_owned(),
                tracking_number: format!("1ZSANDBOX{n:08}"),
                status: "purchased",
            };
            world.labels.insert(key.to_owned(), label.clone());
            HttpResponse::Created().json(shown(&label))
        }
        ("POST", ["labels", "v1", "shipments", id, verb @ ("void" | "use")]) => {
            let Some(label) = world.labels.values_mut().find(|l| l.shipment_id == *id) else {
                return error(S::NOT_FOUND, "not_found", "no such shipment");
            };
            match (*verb, label.status) {
                ("void", "used") => {
                    error(S::CONFLICT, "label_used", "a used label cannot be voided")
                }
                ("void", _) => {
                    label.status = "voided";
                    HttpResponse::Ok().json(shown(label))
                }
                ("use", "voided") => error(S::CONFLICT, "label_voided", "the label was voided"),
                _ => {
                    label.status = "used";
                    HttpResponse::Ok().json(shown(label))
                }
            }
        }
        _ => error(S::NOT_FOUND, "not_found", "no such endpoint"),
    }
}
