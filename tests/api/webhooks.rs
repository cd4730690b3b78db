//! `POST /webhooks/tiktok` end to end: TikTok's signature on the raw bytes, what each topic does,
//! and that nothing signed is ever lost — malformed bodies and unknown types are kept.

use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::{Value, json};
use tiktok_wire::signature::webhook_signature;

use crate::helpers::{
    Daemon, TestApp, TestDb, assert_problem, spawn_app_on, spawn_app_with, tiktok_app,
};

/// The app credentials of TikTok's official webhook test vector.
pub const APP_KEY: &str = "abcdef";
pub const APP_SECRET: &str = "123";
const OFFICIAL_BODY: &str = r#"{"type":1,"tts_notification_id":"7380066284010030890","shop_id":"7495540735365777507","timestamp":1718305585,"data":{"is_on_hold_order":true,"order_id":"576653688135258178","order_status":"UNPAID","update_time":1718305585}}"#;
const OFFICIAL_SIGNATURE: &str = "5dec0f11ec2f6783b8deee53c9ffbf8d024302f7c7e7fa55a35d17629031ac05";

async fn spawn() -> TestApp {
    spawn_app_with(TestDb::new().await, tiktok_app).await
}

/// `body` posted to the daemon at `base` (`http://host:port`) as TikTok posts it: signed with the
/// test app's secret.
pub fn signed(client: &reqwest::Client, base: &str, body: String) -> reqwest::RequestBuilder {
    let signature = webhook_signature(APP_KEY, APP_SECRET.as_bytes(), body.as_bytes());
    client
        .post(format!("{base}/webhooks/tiktok"))
        .header("content-type", "application/json")
        .header("authorization", signature)
        .body(body)
}

/// Posts `body` exactly as given, with TikTok's signature of those bytes.
async fn push(app: &TestApp, body: &str) -> reqwest::Response {
    let signature = webhook_signature(APP_KEY, APP_SECRET.as_bytes(), body.as_bytes());
    push_signed(app, body, Some(&signature)).await
}

async fn push_signed(app: &TestApp, body: &str, signature: Option<&str>) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url("/webhooks/tiktok"))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(signature) = signature {
        request = request.header("authorization", signature);
    }
    request.send().await.expect("the daemon answers")
}

async fn accepted(response: reqwest::Response) -> String {
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["result"].as_str().unwrap().to_owned()
}

fn status_body(notification: Option<&str>, order: &str, status: &str, t: i64) -> String {
    let mut body = json!({
        "type": 1, "shop_id": "7495540735365777507", "timestamp": t,
        "data": { "order_id": order, "order_status": status, "update_time": t, "is_on_hold_order": false },
    });
    if let Some(id) = notification {
        body["tts_notification_id"] = json!(id);
    }
    body.to_string()
}

async fn get_order(app: &TestApp, id: &str) -> reqwest::Response {
    app.get(&format!("/api/v1/orders/{id}"), Some(&app.admin_key))
        .await
}

async fn history_kinds(app: &TestApp, id: &str) -> Vec<String> {
    let response = app
        .get(
            &format!("/api/v1/orders/{id}/history"),
            Some(&app.admin_key),
        )
        .await;
    assert_eq!(response.status(), 200);
    let history: Value = response.json().await.unwrap();
    history["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

async fn quarantine(app: &TestApp) -> Vec<Value> {
    let response = app
        .get("/api/v1/webhooks/quarantine", Some(&app.admin_key))
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["webhooks"].as_array().unwrap().clone()
}

#[actix_web::test]
async fn the_official_sample_is_verified_and_creates_the_order_once() {
    let app = spawn().await;
    let response = push_signed(&app, OFFICIAL_BODY, Some(OFFICIAL_SIGNATURE)).await;
    assert_eq!(accepted(response).await, "applied");

    let response = get_order(&app, "576653688135258178").await;
    assert_eq!(response.status(), 200);
    let order: Value = response.json().await.unwrap();
    assert_eq!(order["status"], "UNPAID");
    assert_eq!(order["shop_id"], "7495540735365777507");
    assert_eq!(order["stage"], "received");

    // TikTok delivers at least once: the redelivery is acknowledged and changes nothing.
    let again = push_signed(&app, OFFICIAL_BODY, Some(OFFICIAL_SIGNATURE)).await;
    assert_eq!(accepted(again).await, "duplicate");
    assert_eq!(history_kinds(&app, "576653688135258178").await, ["created"]);
    let history: Value = app
        .get(
            "/api/v1/orders/576653688135258178/history",
            Some(&app.admin_key),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        history["events"][0]["cause"],
        "webhook:tts:7380066284010030890"
    );
}

#[actix_web::test]
async fn a_missing_or_wrong_signature_is_401_and_changes_nothing() {
    let app = spawn().await;
    let missing = push_signed(&app, OFFICIAL_BODY, None).await;
    let problem = assert_problem(missing, 401, "invalid_signature").await;
    assert!(problem["detail"].as_str().unwrap().contains("missing"));

    let uppercase = OFFICIAL_SIGNATURE.to_ascii_uppercase();
    let tampered = OFFICIAL_BODY.replace("UNPAID", "AWAITING_SHIPMENT");
    let other_secret = webhook_signature(APP_KEY, b"456", OFFICIAL_BODY.as_bytes());
    for (body, signature) in [
        (OFFICIAL_BODY, uppercase.as_str()),
        (tampered.as_str(), OFFICIAL_SIGNATURE),
        (OFFICIAL_BODY, other_secret.as_str()),
        (OFFICIAL_BODY, "Bearer nope"),
    ] {
        let response = push_signed(&app, body, Some(signature)).await;
        assert_problem(response, 401, "invalid_signature").await;
    }
    assert_eq!(get_order(&app, "576653688135258178").await.status(), 404);
    assert!(
        quarantine(&app).await.is_empty(),
        "unsigned bodies are not kept"
    );
}

#[actix_web::test]
async fn an_unconfigured_app_secret_verifies_nothing() {
    let app = spawn_app_on(TestDb::new().await).await;
    let signature = webhook_signature("", b"", OFFICIAL_BODY.as_bytes());
    let response = push_signed(&app, OFFICIAL_BODY, Some(&signature)).await;
    assert_problem(response, 401, "invalid_signature").await;
}

#[actix_web::test]
async fn a_body_above_the_limit_is_413() {
    let app = spawn_app_with(TestDb::new().await, |s| {
        tiktok_app(s);
        s.tiktok.max_webhook_bytes = 512;
    })
    .await;
    let mut big = json!({"type": 1, "shop_id": "1", "data": {"order_id": "2", "order_status": "UNPAID", "update_time": 1}});
    big["padding"] = json!("x".repeat(600));
    let response = push(&app, &big.to_string()).await;
    let problem = assert_problem(response, 413, "payload_too_large").await;
    assert!(problem["detail"].as_str().unwrap().contains("512 bytes"));
    // Just under the limit is fine.
    let response = push(&app, &status_body(Some("n1"), "2", "UNPAID", 1)).await;
    assert_eq!(accepted(response).await, "applied");

    // A body that does not declare its size (chunked) is held to the same limit as it arrives,
    // and one under it is read whole from its chunks.
    let chunked = |body: String| {
        let signature = webhook_signature(APP_KEY, APP_SECRET.as_bytes(), body.as_bytes());
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> = body
            .into_bytes()
            .chunks(100)
            .map(|c| Ok(c.to_vec()))
            .collect();
        app.client
            .post(app.url("/webhooks/tiktok"))
            .header("content-type", "application/json")
            .header("authorization", signature)
            .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
                chunks,
            )))
            .send()
    };
    let response = chunked(big.to_string()).await.unwrap();
    assert_problem(response, 413, "payload_too_large").await;
    let body = status_body(Some("n2"), "3", "UNPAID", 1);
    assert!(body.len() > 100, "the body comes in several chunks");
    assert_eq!(accepted(chunked(body).await.unwrap()).await, "applied");
    assert_eq!(get_order(&app, "3").await.status(), 200);
}

#[actix_web::test]
async fn a_signed_but_malformed_body_is_400_and_kept_in_quarantine() {
    let app = spawn().await;
    let bad_json = r#"{"type":1,"shop_id":"7495540735365777507","data":{"order_id":"5766"#;
    let problem = assert_problem(push(&app, bad_json).await, 400, "malformed_webhook").await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("quarantined webhook")
    );
    let no_order = r#"{"type":1,"shop_id":"7495540735365777507","data":{"order_status":"UNPAID","update_time":1}}"#;
    let problem = assert_problem(push(&app, no_order).await, 400, "malformed_webhook").await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("data.order_id is missing")
    );

    let kept = quarantine(&app).await;
    assert_eq!(kept.len(), 2);
    // Newest first, byte for byte.
    assert_eq!(kept[0]["body"], no_order);
    assert_eq!(kept[0]["reason"], "malformed");
    assert_eq!(kept[0]["event_type"], 1);
    assert_eq!(kept[1]["body"], bad_json);
    assert_eq!(kept[1]["body_bytes"], bad_json.len());
    assert!(
        kept[1]["detail"]
            .as_str()
            .unwrap()
            .contains("not a TikTok notification")
    );

    // Only operators read the quarantine.
    let shop_key = app.shop_with_key("7495540735365777507").await;
    let response = app
        .get("/api/v1/webhooks/quarantine", Some(&shop_key))
        .await;
    assert_problem(response, 403, "forbidden").await;
}

#[actix_web::test]
async fn an_unknown_type_is_acknowledged_stored_and_counted() {
    let app = spawn().await;
    let body = r#"{"type":16,"tts_notification_id":"555","shop_id":"7495540735365777507","timestamp":1,"data":{"product_id":576486316948490000}}"#;
    assert_eq!(accepted(push(&app, body).await).await, "stored");
    let kept = quarantine(&app).await;
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0]["reason"], "unhandled_type");
    assert_eq!(kept[0]["event_type"], 16);
    assert_eq!(kept[0]["body"], body);

    let metrics = app.get("/metrics", None).await.text().await.unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("creatorflow_tiktok_webhooks_total{")
                && l.contains(r#"type="UNHANDLED""#)
                && l.contains(r#"outcome="stored""#)),
        "{metrics}"
    );
}

/// The system page's quarantine card.
fn quarantine_card(page: &str) -> &str {
    page.split("id=\"quarantine\"")
        .nth(1)
        .and_then(|rest| rest.split("</section>").next())
        .expect("the quarantine card")
}

#[actix_web::test]
async fn administrators_see_the_kept_webhooks_on_the_system_page_and_shops_do_not() {
    use crate::dashboard::{get, sign_in};
    let app = spawn().await;
    let admin = sign_in(&app, &app.admin_key).await;
    let (_, page) = get(&app, &admin, "/ui/system").await;
    assert!(
        page.contains("Webhooks kept in quarantine")
            && page.contains("None: every webhook signed by TikTok could be read"),
        "{page}"
    );

    // A body a stranger could have written into, kept as it came, and an unhandled type.
    let unreadable = r#"{"type":1,"shop_id":"7495540735365777507","data":{"order_status":"<script>alert(1)</script>","update_time":1}}"#;
    assert_problem(push(&app, unreadable).await, 400, "malformed_webhook").await;
    let unhandled =
        r#"{"type":16,"tts_notification_id":"556","shop_id":"7495540735365777507","data":{}}"#;
    assert_eq!(accepted(push(&app, unhandled).await).await, "stored");

    let (status, page) = get(&app, &admin, "/ui/system").await;
    assert_eq!(status, 200);
    let card = quarantine_card(&page);
    assert!(card.contains("2 signed webhooks"), "{card}");
    assert!(
        card.contains("unreadable") && card.contains("data.order_id is missing"),
        "why the first was kept: {card}"
    );
    assert!(
        card.contains("ORDER_STATUS_CHANGE") && card.contains("type 16"),
        "{card}"
    );
    assert!(
        card.contains(&format!("{} bytes", unreadable.len())),
        "{card}"
    );
    assert!(
        card.contains("alert(1)") && !card.contains("<script>"),
        "a kept body is shown as text, never as markup: {card}"
    );
    let newest_first = card.find("type 16").unwrap() < card.find("ORDER_STATUS_CHANGE").unwrap();
    assert!(newest_first, "{card}");

    // Read again from the page: still unreadable, so it stays, and the page says why.
    let id = quarantine(&app).await[1]["id"].as_i64().unwrap();
    let again = crate::dashboard::post(
        &app,
        &admin,
        &format!("/ui/system/quarantine/{id}/replay"),
        &[("csrf", &crate::dashboard::csrf(&page))],
    )
    .await;
    assert_eq!(again.status(), 303);
    let (_, after) = get(&app, &admin, &crate::dashboard::location(&again)).await;
    assert!(
        after.contains("class=\"problem\"") && after.contains("still unreadable"),
        "{after}"
    );
    assert_eq!(quarantine(&app).await.len(), 2);

    // A long body: the page says its whole size and shows its start; the API gives it whole.
    let tail = "z".repeat(30_000);
    let long = format!(
        r#"{{"type":16,"tts_notification_id":"557","shop_id":"7495540735365777507","data":{{"note":"{tail}"}}}}"#
    );
    assert_eq!(accepted(push(&app, &long).await).await, "stored");
    let (_, page) = get(&app, &admin, "/ui/system").await;
    let card = quarantine_card(&page);
    assert!(card.contains(&format!("{} bytes", long.len())), "{card}");
    let shown = card
        .split("<pre class=\"body\">")
        .nth(1)
        .and_then(|rest| rest.split("</pre>").next())
        .expect("the newest body");
    assert!(
        shown.ends_with('…') && shown.matches('z').count() < 2_000,
        "only the start of a long body is shown: {} characters",
        shown.chars().count()
    );
    assert_eq!(quarantine(&app).await[0]["body"], long.as_str());

    let shop = sign_in(&app, &app.shop_with_key("7495540735365777507").await).await;
    let (_, theirs) = get(&app, &shop, "/ui/stock").await;
    let refused = crate::dashboard::post(
        &app,
        &shop,
        &format!("/ui/system/quarantine/{id}/replay"),
        &[("csrf", &crate::dashboard::csrf(&theirs))],
    )
    .await;
    assert_eq!(refused.status(), 403, "a shop's session replays nothing");
    let (status, theirs) = get(&app, &shop, "/ui/system").await;
    assert_eq!(status, 200);
    assert!(
        !theirs.contains("Webhooks kept in quarantine") && !theirs.contains("alert(1)"),
        "the quarantine is the operators': {theirs}"
    );
}

#[actix_web::test]
async fn a_kept_webhook_this_build_reads_is_replayed_once_and_one_it_cannot_stays_kept() {
    let app = spawn().await;
    // What an earlier build could not read, kept while its signature verified: this build
    // reads it.
    let readable = status_body(Some("kept-1"), "576653688135258190", "AWAITING_SHIPMENT", 7);
    let db = creatorflow::persistence::Database::connect(&app.db.settings().database)
        .await
        .unwrap();
    let earlier = db
        .webhooks()
        .quarantine(
            creatorflow::persistence::QuarantineReason::Malformed,
            "an earlier build's reason",
            Some(1),
            readable.as_bytes(),
        )
        .await
        .unwrap();
    let unreadable = r#"{"type":1,"shop_id":"7495540735365777507","data":{"update_time":1}}"#;
    assert_problem(push(&app, unreadable).await, 400, "malformed_webhook").await;
    let unhandled =
        r#"{"type":16,"tts_notification_id":"557","shop_id":"7495540735365777507","data":{}}"#;
    assert_eq!(accepted(push(&app, unhandled).await).await, "stored");
    let kept = quarantine(&app).await;
    assert_eq!(kept.len(), 3);
    let (unhandled_id, unreadable_id) = (
        kept[0]["id"].as_i64().unwrap(),
        kept[1]["id"].as_i64().unwrap(),
    );
    let replay = |id: i64, key: String| {
        let app = &app;
        async move {
            app.client
                .post(app.url(&format!("/api/v1/webhooks/quarantine/{id}/replay")))
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
        }
    };

    // Only administrators replay.
    let shop_key = app.shop_with_key("7495540735365777507").await;
    assert_problem(replay(earlier, shop_key).await, 403, "forbidden").await;
    assert_eq!(get_order(&app, "576653688135258190").await.status(), 404);

    let response = replay(earlier, app.admin_key.clone()).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"id": earlier, "result": "applied"}));
    let order: Value = get_order(&app, "576653688135258190")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(order["status"], "AWAITING_SHIPMENT");
    assert_eq!(history_kinds(&app, "576653688135258190").await, ["created"]);
    // Out of quarantine: again is 404, and the order has its one event.
    assert_problem(
        replay(earlier, app.admin_key.clone()).await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(history_kinds(&app, "576653688135258190").await, ["created"]);

    let problem = assert_problem(
        replay(unreadable_id, app.admin_key.clone()).await,
        422,
        "not_allowed",
    )
    .await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("still unreadable: data.order_id is missing"),
        "{problem}"
    );
    let problem = assert_problem(
        replay(unhandled_id, app.admin_key.clone()).await,
        422,
        "not_allowed",
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("type 16"),
        "{problem}"
    );
    let left: Vec<i64> = quarantine(&app)
        .await
        .iter()
        .map(|w| w["id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        left,
        [unhandled_id, unreadable_id],
        "what cannot be read stays, once each"
    );

    let audit: Value = app
        .get(
            "/api/v1/audit?action=webhook.replayed",
            Some(&app.admin_key),
        )
        .await
        .json()
        .await
        .unwrap();
    let entries = audit["entries"].as_array().expect("audit entries");
    assert_eq!(entries.len(), 1, "{audit}");
    assert_eq!(
        entries[0]["target"],
        format!("quarantined webhook {earlier}")
    );
}

#[actix_web::test]
async fn numeric_ids_beyond_2_pow_53_keep_every_digit() {
    let app = spawn().await;
    // 576653688135258179 is not representable as a double (it would become ...258176).
    let body = r#"{"type":1,"shop_id":7495540735365777507,"data":{"order_id":576653688135258179,"order_status":"AWAITING_SHIPMENT","update_time":1718305585}}"#;
    assert_eq!(accepted(push(&app, body).await).await, "applied");
    let response = get_order(&app, "576653688135258179").await;
    assert_eq!(response.status(), 200);
    let order: Value = response.json().await.unwrap();
    assert_eq!(order["id"], "576653688135258179");
    assert_eq!(order["shop_id"], "7495540735365777507");
    assert_eq!(order["status"], "AWAITING_SHIPMENT");
}

#[actix_web::test]
async fn without_a_notification_id_the_body_hash_dedupes() {
    let app = spawn().await;
    let first = status_body(None, "42", "UNPAID", 100);
    assert_eq!(accepted(push(&app, &first).await).await, "applied");
    assert_eq!(accepted(push(&app, &first).await).await, "duplicate");
    let next = status_body(None, "42", "AWAITING_SHIPMENT", 200);
    assert_eq!(accepted(push(&app, &next).await).await, "applied");
    assert_eq!(
        history_kinds(&app, "42").await,
        ["created", "status_changed"]
    );
}

#[actix_web::test]
async fn reordered_webhooks_never_regress_and_the_stale_one_is_recorded() {
    let app = spawn().await;
    let newer = status_body(Some("b"), "43", "AWAITING_SHIPMENT", 200);
    let older = status_body(Some("a"), "43", "UNPAID", 100);
    assert_eq!(accepted(push(&app, &newer).await).await, "applied");
    assert_eq!(accepted(push(&app, &older).await).await, "applied");
    let order: Value = get_order(&app, "43").await.json().await.unwrap();
    assert_eq!(order["status"], "AWAITING_SHIPMENT");
    assert_eq!(
        history_kinds(&app, "43").await,
        ["created", "stale_ignored"]
    );
    // TikTok's CANCEL spelling is CANCELLED.
    let cancel = status_body(Some("c"), "43", "CANCEL", 300);
    assert_eq!(accepted(push(&app, &cancel).await).await, "applied");
    let order: Value = get_order(&app, "43").await.json().await.unwrap();
    assert_eq!(order["status"], "CANCELLED");
    assert_eq!(order["stage"], "cancelled");
}

#[actix_web::test]
async fn address_package_cancellation_and_return_topics_reach_their_orders() {
    let app = spawn().await;
    for (n, id) in [("1", "51"), ("2", "52")] {
        let body = status_body(Some(n), id, "AWAITING_SHIPMENT", 100);
        assert_eq!(accepted(push(&app, &body).await).await, "applied");
    }
    // An address change or a package change asks for the detail again; nothing else changes.
    let address = r#"{"type":3,"tts_notification_id":"3","shop_id":"7495540735365777507","timestamp":150,"data":{"order_id":"51","update_time":150}}"#;
    assert_eq!(accepted(push(&app, address).await).await, "unchanged");
    let package = r#"{"type":4,"tts_notification_id":"4","shop_id":"7495540735365777507","timestamp":160,"data":{"sc_type":"COMBINE","role_type":"ROLE_SELLER","package_list":[{"package_id":"p9","order_id_list":["51","52"]}],"update_time":160}}"#;
    assert_eq!(accepted(push(&app, package).await).await, "unchanged");
    assert_eq!(accepted(push(&app, package).await).await, "duplicate");
    assert_eq!(history_kinds(&app, "52").await, ["created"]);

    let cancellation = r#"{"type":11,"tts_notification_id":"11","shop_id":"7495540735365777507","timestamp":170,"data":{"order_id":"51","cancellations_role":"BUYER","cancel_status":"CANCELLATION_REQUEST_PENDING","cancel_id":"9001","create_time":170}}"#;
    assert_eq!(accepted(push(&app, cancellation).await).await, "applied");
    let ret = r#"{"type":12,"tts_notification_id":"12","shop_id":"7495540735365777507","timestamp":180,"data":{"order_id":"52","return_role":"BUYER","return_type":"REFUND","return_status":"RETURN_OR_REFUND_REQUEST_PENDING","return_id":"9002","create_time":175,"update_time":180}}"#;
    assert_eq!(accepted(push(&app, ret).await).await, "applied");
    assert_eq!(
        history_kinds(&app, "51").await,
        ["created", "cancellation_updated"]
    );
    assert_eq!(
        history_kinds(&app, "52").await,
        ["created", "return_updated"]
    );
    let history: Value = app
        .get("/api/v1/orders/51/history", Some(&app.admin_key))
        .await
        .json()
        .await
        .unwrap();
    let update = &history["events"][1]["payload"]["update"];
    assert_eq!(update["id"], "9001");
    assert_eq!(update["status"], "CANCELLATION_REQUEST_PENDING");
    assert_eq!(update["role"], "BUYER");
}

#[actix_web::test]
async fn seller_deauthorization_and_expiry_notices_update_the_shop() {
    let app = spawn().await;
    app.shop_with_key("7495540735365777507").await;
    let expiring = r#"{"type":7,"tts_notification_id":"70","shop_id":"7495540735365777507","timestamp":1,"data":{"message":"expires soon","expiration_time":"1893456000"}}"#;
    assert_eq!(accepted(push(&app, expiring).await).await, "applied");
    let shop: Value = app
        .get("/api/v1/shops/7495540735365777507", Some(&app.admin_key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shop["authorization_expires_at"], "2030-01-01T00:00:00Z");
    assert!(shop["deauthorized_at"].is_null());

    let gone = r#"{"type":6,"tts_notification_id":"60","shop_id":"7495540735365777507","timestamp":2,"data":{"message":"seller left"}}"#;
    assert_eq!(accepted(push(&app, gone).await).await, "applied");
    assert_eq!(accepted(push(&app, gone).await).await, "duplicate");
    let shop: Value = app
        .get("/api/v1/shops/7495540735365777507", Some(&app.admin_key))
        .await
        .json()
        .await
        .unwrap();
    assert!(shop["deauthorized_at"].is_string(), "{shop}");
    assert_eq!(shop["authorized"], false);
}

/// PostgreSQL only: a deleted SQLite file stays writable through open handles, so there is no
/// clean way to take SQLite away under a running daemon.
#[actix_web::test]
async fn a_database_outage_is_503_with_retry_after_so_tiktok_retries() {
    let app = spawn().await;
    if app.db.postgres.is_none() {
        return;
    }
    app.db.destroy().await;
    let response = push(&app, &status_body(Some("down"), "61", "UNPAID", 1)).await;
    assert_eq!(response.headers()["retry-after"], "5");
    assert_problem(response, 503, "unavailable").await;
    let malformed = push(&app, "{").await;
    assert_problem(malformed, 503, "unavailable").await;
}

/// At the default log level, a line logged while a request is handled names that request: its
/// method, its path and the id its answer carries in `x-request-id`, so an operator can find the
/// log of a failed call from its answer; and a log that is not a terminal has no colour codes.
#[actix_web::test]
async fn a_line_logged_inside_a_request_names_the_request_and_its_id() {
    let db = TestDb::new().await;
    let mut daemon = Daemon::start_with(
        &db,
        &[
            ("CREATORFLOW__TIKTOK__APP_KEY", APP_KEY),
            ("CREATORFLOW__TIKTOK__APP_SECRET", APP_SECRET),
        ],
    );
    let client = reqwest::Client::new();
    let base = format!("http://{}", daemon.addr);
    let response = signed(&client, &base, r#"{"type":1,"#.to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let line = daemon.wait_for_line("malformed TikTok webhook kept", Duration::from_secs(10));
    assert!(line.contains(&format!("request_id={id}")), "{line}");
    assert!(line.contains("method=POST path=/webhooks/tiktok"), "{line}");
    assert!(
        !line.contains('\x1b'),
        "colour codes in a piped log: {line:?}"
    );
}

/// Every acknowledged webhook survives `kill -9`.
#[actix_web::test]
async fn acknowledged_webhooks_survive_kill_9() {
    let db = TestDb::new().await;
    let daemon = Daemon::start_with(
        &db,
        &[
            ("CREATORFLOW__TIKTOK__APP_KEY", APP_KEY),
            ("CREATORFLOW__TIKTOK__APP_SECRET", APP_SECRET),
        ],
    );
    let client = reqwest::Client::new();
    let base = format!("http://{}", daemon.addr);
    let mut acked = Vec::new();
    for i in 0..50 {
        let id = format!("7700{i}");
        let body = status_body(Some(&format!("k{i}")), &id, "AWAITING_SHIPMENT", 100 + i);
        let response = signed(&client, &base, body).send().await.unwrap();
        let status = response.status();
        assert_eq!(status, 200, "{}", response.text().await.unwrap());
        acked.push(id);
    }
    daemon.signal(Signal::SIGKILL);
    let admin_key = daemon.admin_key.clone();
    drop(daemon);
    tokio::time::sleep(Duration::from_millis(100)).await;

    let app = spawn_app_with(db, tiktok_app).await;
    for id in &acked {
        let response = app
            .get(&format!("/api/v1/orders/{id}"), Some(&admin_key))
            .await;
        assert_eq!(response.status(), 200, "acknowledged order {id} survived");
    }
}

/// Ends the sessions of database `name` whose application is `application`; returns how many.
async fn end_sessions(base: &str, name: &str, application: &str) -> i64 {
    use sea_orm::ConnectionTrait;
    let admin = sea_orm::Database::connect(base).await.unwrap();
    let ended = admin
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE datname = '{name}' AND application_name = '{application}'"
            ),
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap();
    admin.close().await.unwrap();
    ended
}

/// PostgreSQL: the journal's writers and the snapshot loaders keep connections of their own.
/// When the server ends them, an idle one is found dead by its ping and replaced before its next
/// statement (nothing is refused); one ended while in use fails one statement (503, so TikTok
/// retries) and the retry is recorded, once.
#[actix_web::test]
async fn webhooks_carry_on_when_the_database_ends_the_engines_connections() {
    let app = spawn().await;
    let Some((base, name)) = app.db.postgres.clone() else {
        return; // SQLite: the engine uses the pool.
    };
    let application = creatorflow::persistence::ENGINE_APPLICATION_NAME;
    for (n, order) in ["71", "72"].iter().enumerate() {
        let body = status_body(Some(&format!("e{n}")), order, "UNPAID", 1);
        assert_eq!(accepted(push(&app, &body).await).await, "applied");
    }
    assert!(end_sessions(&base, &name, application).await >= 1);
    // Idle for more than a second: pinged, found gone, replaced. A change to a live order (the
    // writer's connection) and a new order (the loader's) are both recorded at once.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let body = status_body(Some("e2"), "71", "AWAITING_SHIPMENT", 2);
    assert_eq!(accepted(push(&app, &body).await).await, "applied");
    let body = status_body(Some("e3"), "73", "UNPAID", 2);
    assert_eq!(accepted(push(&app, &body).await).await, "applied");
    // Ended while in use: a refusal at most per connection, then the retry is recorded.
    assert!(end_sessions(&base, &name, application).await >= 1);
    let body = status_body(Some("e4"), "72", "AWAITING_SHIPMENT", 3);
    let mut refused = 0;
    loop {
        let response = push(&app, &body).await;
        if response.status() == 200 {
            assert_eq!(accepted(response).await, "applied");
            break;
        }
        assert_problem(response, 503, "unavailable").await;
        refused += 1;
        assert!(
            refused <= 4,
            "refused {refused} times: connections are not replaced"
        );
    }
    assert_eq!(
        history_kinds(&app, "72").await,
        ["created", "status_changed"],
        "the retried change is recorded once"
    );
}
