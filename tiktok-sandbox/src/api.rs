//! The sandbox's HTTP face: TikTok's auth and API endpoints, enforcing TikTok's rules — the
//! app key, the 5-minute timestamp window, the request signature over the raw body, the seller's
//! token (105002 once expired), the shop cipher, and a per-shop rate limit (429 / 36009002) —
//! and answering in TikTok's envelope.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use crate::requests::RequestKind;
use crate::shared::Shared;
use crate::world::{Fault, TokenProblem, World};
use tiktok_wire::code;
use tiktok_wire::order::MAX_BATCH_SHIP;
use tiktok_wire::signature::request_signature;

/// Timestamps further than this from the sandbox's clock are refused.
const TIMESTAMP_WINDOW: i64 = 300;

fn envelope(status: StatusCode, code: i64, message: &str, data: Value) -> HttpResponse {
    let request_id = format!("2026{}", hex::encode(rand::random::<[u8; 8]>()));
    HttpResponse::build(status).json(json!({
        "code": code, "message": message, "request_id": request_id, "data": data,
    }))
}

fn ok(data: Value) -> HttpResponse {
    envelope(StatusCode::OK, 0, "Success", data)
}

/// TikTok reports most refusals inside an HTTP 200.
fn refuse(code: i64, message: &str) -> HttpResponse {
    envelope(StatusCode::OK, code, message, Value::Null)
}

pub async fn handle(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let path = req.path().to_owned();
    let query: Vec<(String, String)> =
        web::Query::<Vec<(String, String)>>::from_query(req.query_string())
            .map(|q| q.into_inner())
            .unwrap_or_default();
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if path.starts_with("/sandbox/") && req.method() == actix_web::http::Method::POST {
        return crate::control::handle(&path, req.query_string(), &shared);
    }
    let route = pattern(&path);
    {
        let mut world = shared.world();
        *world.calls.entry(route.clone()).or_default() += 1;
        world.call_log.push(route.clone());
    }

    if let Some(grant) = path.strip_prefix("/api/v2/token/") {
        return token(&shared, grant, &param);
    }
    let fault = {
        let mut world = shared.world();
        let at = world
            .faults
            .iter()
            .position(|(only, _)| only.as_ref().is_none_or(|p| *p == route));
        at.map(|i| world.faults.remove(i).1)
    };
    match fault {
        Some(Fault::Unavailable) => {
            return HttpResponse::ServiceUnavailable().body("upstream maintenance");
        }
        Some(Fault::Throttled) => {
            return envelope(
                StatusCode::TOO_MANY_REQUESTS,
                code::TOO_MANY_REQUESTS,
                "Too many requests",
                Value::Null,
            );
        }
        None => {}
    }
    if path.starts_with("/labels/") {
        return super::labels::handle(&req, &body, &shared);
    }

    if param("app_key") != Some(shared.app_key.as_str()) {
        return refuse(code::INVALID_PARAM, "Invalid app_key");
    }
    let now = chrono::Utc::now().timestamp();
    match param("timestamp").and_then(|t| t.parse::<i64>().ok()) {
        Some(t) if (t - now).abs() <= TIMESTAMP_WINDOW => {}
        _ => return refuse(code::INVALID_PARAM, "Invalid timestamp"),
    }
    let signed: Vec<(&str, &str)> = query
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let expected = request_signature(
        shared.app_secret.as_bytes(),
        &path,
        &signed,
        (!body.is_empty()).then_some(&body[..]),
    );
    if param("sign") != Some(expected.as_str()) {
        return refuse(code::INVALID_SIGNATURE, "Invalid signature");
    }
    let token = req
        .headers()
        .get("x-tts-access-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let (shop_id, cipher) = match shared.world().token_shop(token) {
        Ok(shop) => (shop.id.clone(), shop.cipher.clone()),
        Err(TokenProblem::Expired) => {
            return refuse(
                code::ACCESS_TOKEN_EXPIRED,
                "access token is expired, please refresh it",
            );
        }
        Err(TokenProblem::Unknown) => {
            return refuse(code::INVALID_PARAM, "Invalid x-tts-access-token");
        }
    };
    let shop_scoped = ["/order/", "/fulfillment/", "/return_refund/"]
        .iter()
        .any(|p| path.starts_with(p));
    if shop_scoped {
        match param("shop_cipher") {
            None => return refuse(code::MISSING_SHOP_CIPHER, "shop_cipher is required"),
            Some(c) if c != cipher => {
                return refuse(101000, "shop_cipher does not match the token's shop");
            }
            Some(_) => {}
        }
    }
    if shared.limiter.check_key(&shop_id).is_err() {
        return envelope(
            StatusCode::TOO_MANY_REQUESTS,
            code::TOO_MANY_REQUESTS,
            "Too many requests",
            Value::Null,
        );
    }
    let json_body = || serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null);
    let mut world = shared.world();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (req.method().as_str(), segments.as_slice()) {
        ("GET", ["authorization", "202309", "shops"]) => {
            let shop = world.shops.get(&shop_id).map(World::wire_shop);
            ok(json!({ "shops": shop.into_iter().collect::<Vec<_>>() }))
        }
        ("POST", ["order", "202309", "orders", "search"]) => {
            let Some(size) = param("page_size")
                .and_then(|s| s.parse::<usize>().ok())
                .filter(|s| (1..=100).contains(s))
            else {
                return refuse(code::INVALID_PARAM, "page_size must be 1 to 100");
            };
            let offset = match param("page_token") {
                None => 0,
                Some(t) => match t.strip_prefix("pt_").and_then(|o| o.parse().ok()) {
                    Some(offset) => offset,
                    None => return refuse(code::INVALID_PARAM, "Invalid page_token"),
                },
            };
            let (orders, next, total) = world.search(&shop_id, &json_body(), size, offset);
            ok(json!({
                "orders": orders,
                "next_page_token": next.map(|n| format!("pt_{n}")).unwrap_or_default(),
                "total_count": total,
            }))
        }
        ("GET", ["order", "202309", "orders"]) => {
            let ids: Vec<&str> = param("ids")
                .unwrap_or_default()
                .split(',')
                .filter(|s| !s.is_empty())
                .collect();
            if ids.is_empty() || ids.len() > 50 {
                return refuse(code::INVALID_PARAM, "ids must name 1 to 50 orders");
            }
            let orders: Vec<_> = ids
                .iter()
                .filter_map(|id| world.orders.get(*id))
                .filter(|o| o.shop_id == shop_id)
                .map(|o| o.wire.clone())
                .collect();
            ok(json!({ "orders": orders }))
        }
        ("POST", ["fulfillment", "202309", "packages", package_id, "ship"]) => {
            match world.ship_package(&shop_id, package_id) {
                Ok(()) => ok(json!({})),
                Err((code, message)) => refuse(code, &message),
            }
        }
        ("POST", ["fulfillment", "202309", "packages", "ship"]) => {
            let parsed = json_body();
            let Some(packages) = parsed.get("packages").and_then(Value::as_array) else {
                return refuse(code::INVALID_PARAM, "packages is required");
            };
            if packages.is_empty() || packages.len() > MAX_BATCH_SHIP {
                return refuse(
                    code::INVALID_PARAM,
                    &format!("packages must hold 1 to {MAX_BATCH_SHIP} packages"),
                );
            }
            // Each package on its own: the call succeeds, and lists the ones it refused.
            let mut errors = Vec::new();
            for package in packages {
                let id = package
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if let Err((code, message)) = world.ship_package(&shop_id, id) {
                    errors.push(
                        json!({ "code": code, "message": message, "detail": { "package_id": id } }),
                    );
                }
            }
            ok(json!({ "errors": errors }))
        }
        (
            "GET",
            [
                "fulfillment",
                "202309",
                "packages",
                package_id,
                "shipping_documents",
            ],
        ) => {
            if param("document_type").is_none() {
                return refuse(code::INVALID_PARAM, "document_type is required");
            }
            let found = world
                .orders
                .values()
                .find(|o| {
                    o.shop_id == shop_id && o.wire.packages.iter().any(|p| p.id.0 == *package_id)
                })
                .map(|o| (o.wire.status.clone(), o.wire.shipping_type.clone()));
            match found {
                None => refuse(21_001_001, "package not found"),
                Some((_, Some(t))) if t != "TIKTOK" => refuse(
                    21_001_004,
                    "shipping documents exist for TikTok shipping only",
                ),
                Some((status, _)) if status == "AWAITING_SHIPMENT" || status == "UNPAID" => {
                    refuse(21_001_004, "the package has not been shipped yet")
                }
                Some(_) => ok(json!({
                    "doc_url": format!("https://sandbox.invalid/documents/{package_id}.pdf"),
                    "tracking_number": format!("TT{package_id}"),
                })),
            }
        }
        ("POST", ["fulfillment", "202309", "orders", order_id, "packages"]) => {
            let body = json_body();
            let tracking = body
                .get("tracking_number")
                .and_then(Value::as_str)
                .map(str::to_owned);
            if tracking.is_none() || body.get("shipping_provider_id").is_none() {
                return refuse(
                    code::INVALID_PARAM,
                    "tracking_number and shipping_provider_id are required",
                );
            }
            let status = world
                .orders
                .get(*order_id)
                .filter(|o| o.shop_id == shop_id)
                .map(|o| o.wire.status.clone());
            match status.as_deref() {
                None => refuse(21_001_001, "order not found"),
                Some("AWAITING_SHIPMENT") => {
                    let package = world
                        .orders
                        .get(*order_id)
                        .and_then(|o| o.wire.packages.first())
                        .map(|p| p.id.0.clone());
                    if let Some(order) = world.orders.get_mut(*order_id) {
                        order.wire.tracking_number = tracking;
                    }
                    world.set_status(order_id, "AWAITING_COLLECTION", true);
                    ok(json!({ "order_id": order_id, "package_id": package }))
                }
                Some(status) => refuse(
                    21_001_002,
                    &format!("order cannot be marked shipped: it is {status}"),
                ),
            }
        }
        (
            "POST",
            [
                "fulfillment",
                "202309",
                "orders",
                order_id,
                "shipping_info",
                "update",
            ],
        ) => {
            let tracking = json_body()
                .get("tracking_number")
                .and_then(Value::as_str)
                .map(str::to_owned);
            match world
                .orders
                .get_mut(*order_id)
                .filter(|o| o.shop_id == shop_id)
            {
                Some(order) if order.wire.tracking_number.is_some() => {
                    order.wire.tracking_number = tracking;
                    ok(json!({}))
                }
                Some(_) => refuse(21_001_003, "the order was not shipped by the seller"),
                None => refuse(21_001_001, "order not found"),
            }
        }
        ("POST", ["return_refund", "202309", "cancellations"]) => {
            let order_id = json_body()
                .get("order_id")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_default();
            let status = world
                .orders
                .get(&order_id)
                .filter(|o| o.shop_id == shop_id)
                .map(|o| o.wire.status.clone());
            match status.as_deref() {
                None => refuse(21_001_001, "order not found"),
                Some("UNPAID" | "ON_HOLD" | "AWAITING_SHIPMENT") => {
                    let cancel_id = format!("CX{order_id}");
                    if let Some(order) = world.orders.get_mut(&order_id) {
                        order.cancel_ids.push(cancel_id.clone());
                    }
                    world.set_status(&order_id, "CANCELLED", true);
                    ok(
                        json!({ "cancel_id": cancel_id, "cancel_status": "CANCELLATION_REQUEST_COMPLETE" }),
                    )
                }
                Some(status) => refuse(
                    21_001_002,
                    &format!("order cannot be cancelled: it is {status}"),
                ),
            }
        }
        ("GET", ["return_refund", "202309", "reject_reasons"]) => {
            let Some(id) = param("return_or_cancel_id").filter(|id| !id.is_empty()) else {
                return refuse(code::INVALID_PARAM, "return_or_cancel_id is required");
            };
            match world.reject_reasons(&shop_id, id) {
                Ok(data) => ok(data),
                Err((code, message)) => refuse(code, &message),
            }
        }
        (
            "POST",
            [
                "return_refund",
                "202309",
                noun @ ("cancellations" | "returns"),
                id,
                verb @ ("approve" | "reject"),
            ],
        ) => {
            let Some(key) = param("idempotency_key").filter(|k| !k.is_empty() && k.len() <= 255)
            else {
                return refuse(code::INVALID_PARAM, "idempotency_key is required");
            };
            let kind = if *noun == "cancellations" {
                RequestKind::Cancellation
            } else {
                RequestKind::Return
            };
            let approve = *verb == "approve";
            match world.answer_request(&shop_id, kind, id, approve, key, &json_body()) {
                Ok(data) => ok(data),
                Err((code, message)) => refuse(code, &message),
            }
        }
        _ => envelope(
            StatusCode::NOT_FOUND,
            code::INVALID_PARAM,
            "no such API",
            Value::Null,
        ),
    }
}

/// The unsigned token endpoints: the app secret travels in the query string.
fn token<'a>(
    shared: &Shared,
    grant: &str,
    param: &impl Fn(&str) -> Option<&'a str>,
) -> HttpResponse {
    if param("app_key") != Some(shared.app_key.as_str())
        || param("app_secret") != Some(shared.app_secret.as_str())
    {
        return refuse(code::INVALID_PARAM, "Invalid app_key or app_secret");
    }
    let mut world = shared.world();
    let granted = match (grant, param("grant_type")) {
        ("get", Some("authorized_code")) => world
            .exchange_code(param("auth_code").unwrap_or_default())
            .ok_or((36_004_005, "can not find related auth record")),
        ("refresh", Some("refresh_token")) => world
            .refresh(param("refresh_token").unwrap_or_default())
            .map_err(|p| match p {
                TokenProblem::Expired => (36_004_001, "rt has expired"),
                TokenProblem::Unknown => (36_004_005, "can not find related auth record"),
            }),
        _ => Err((code::INVALID_PARAM, "Invalid grant_type")),
    };
    match granted {
        Ok(grant) => ok(json!({
            "access_token": grant.access_token,
            "access_token_expire_in": grant.access_token_expire_in,
            "refresh_token": grant.refresh_token,
            "refresh_token_expire_in": grant.refresh_token_expire_in,
            "open_id": grant.open_id,
            "seller_name": grant.seller_name,
            "seller_base_region": "US",
            "user_type": 0,
        })),
        Err((code, message)) => refuse(code, message),
    }
}

/// A path with its ids replaced, for counting calls.
fn pattern(path: &str) -> String {
    path.split('/')
        .map(|s| {
            if s.len() > 6 && s.chars().any(|c| c.is_ascii_digit()) {
                "{id}"
            } else {
                s
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}
