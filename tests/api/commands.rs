//! Order commands over REST: tags, priority, cancellation through TikTok, workflow retry; each
//! with the version it expects (`If-Match` or the body), and `Idempotency-Key` on every POST.

use creatorflow::actors::{Envelope, Reply};
use creatorflow::domain::{Cause, Msg, OrderId, OrderStatus, ShopId};
use creatorflow::journal::InboxEntry;
use reqwest::Response;
use serde_json::{Value, json};
use tiktok_sandbox::Sandbox;

use crate::helpers::{
    SHOP, TestApp, TestDb, assert_problem, sandbox, spawn_app, spawn_with_workflows,
};

async fn order_body(app: &TestApp, id: &str) -> Value {
    app.get_until(&format!("/api/v1/orders/{id}"), |_| true)
        .await
}

async fn post(app: &TestApp, path: &str, headers: &[(&str, &str)], body: Value) -> Response {
    let mut request = app
        .client
        .post(app.url(path))
        .bearer_auth(&app.admin_key)
        .json(&body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("the daemon answers")
}

async fn history_kinds(app: &TestApp, id: &str) -> Vec<(String, String)> {
    let history = app
        .get_until(&format!("/api/v1/orders/{id}/history"), |_| true)
        .await;
    history["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_owned(),
                e["cause"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// An order as a status webhook creates it (version 1).
async fn an_order(app: &TestApp, id: &str) {
    let envelope = Envelope {
        msg: Msg::Status {
            shop_id: ShopId::parse(SHOP).unwrap(),
            status: OrderStatus::AwaitingShipment,
            update_time: 1_700_000_000,
        },
        cause: Cause::Webhook(format!("n-{id}").into()),
        inbox: Some(InboxEntry {
            dedupe_key: format!("n-{id}").into(),
            event_type: 1,
        }),
    };
    let reply = app
        .registry
        .submit(OrderId::parse(id).unwrap(), envelope)
        .await
        .unwrap();
    assert!(
        matches!(reply, Reply::Applied { version: 1, .. }),
        "{reply:?}"
    );
}

#[actix_web::test]
async fn tags_take_the_version_from_if_match_and_a_stale_one_is_a_409() {
    let app = spawn_app().await;
    an_order(&app, "7001").await;
    let order = app.get("/api/v1/orders/7001", Some(&app.admin_key)).await;
    assert_eq!(order.headers()["etag"], "\"1\"");

    let tagged = post(
        &app,
        "/api/v1/orders/7001/tags",
        &[("If-Match", "\"1\"")],
        json!({ "add": ["vip", "gift wrap"] }),
    )
    .await;
    assert_eq!(tagged.status(), 200);
    assert_eq!(tagged.headers()["etag"], "\"2\"");
    let order = order_body(&app, "7001").await;
    assert_eq!(order["tags"], json!(["gift wrap", "vip"]));
    let found = app
        .get_until("/api/v1/orders?query=tag:vip", |_| true)
        .await;
    assert_eq!(found["orders"][0]["id"], "7001");

    // The same version again: the order has moved on.
    let stale = post(
        &app,
        "/api/v1/orders/7001/tags",
        &[("If-Match", "\"1\"")],
        json!({ "remove": ["vip"] }),
    )
    .await;
    let problem = assert_problem(stale, 409, "version_conflict").await;
    assert!(
        problem["detail"].as_str().unwrap().contains("version 2"),
        "{problem}"
    );
    let removed = post(
        &app,
        "/api/v1/orders/7001/tags",
        &[],
        json!({ "remove": ["vip"], "expected_version": 2 }),
    )
    .await;
    assert_eq!(removed.status(), 200);
    assert_eq!(order_body(&app, "7001").await["tags"], json!(["gift wrap"]));
    let kinds = history_kinds(&app, "7001").await;
    assert_eq!(kinds.len(), 3, "{kinds:?}");
    assert!(
        kinds[1..]
            .iter()
            .all(|(k, c)| k == "tagged" && c.starts_with("user:admin")),
        "{kinds:?}"
    );

    // Without a version, with two that disagree, with a bad tag: refused, nothing recorded.
    let none = post(
        &app,
        "/api/v1/orders/7001/tags",
        &[],
        json!({ "add": ["x"] }),
    )
    .await;
    assert_problem(none, 428, "version_required").await;
    let two = post(
        &app,
        "/api/v1/orders/7001/tags",
        &[("If-Match", "\"3\"")],
        json!({ "add": ["x"], "expected_version": 2 }),
    )
    .await;
    assert_problem(two, 409, "version_conflict").await;
    let bad = post(
        &app,
        "/api/v1/orders/7001/tags",
        &[("If-Match", "\"3\"")],
        json!({ "add": ["a,b"] }),
    )
    .await;
    let problem = assert_problem(bad, 400, "bad_request").await;
    assert!(
        problem["detail"].as_str().unwrap().contains("comma"),
        "{problem}"
    );
    let empty = post(
        &app,
        "/api/v1/orders/7001/tags",
        &[("If-Match", "3")],
        json!({}),
    )
    .await;
    assert_problem(empty, 422, "not_allowed").await;
    // No workflow run yet: nothing to prioritise.
    let priority = post(
        &app,
        "/api/v1/orders/7001/priority",
        &[("If-Match", "3")],
        json!({ "priority": 5 }),
    )
    .await;
    assert_problem(priority, 422, "not_allowed").await;
    assert_eq!(history_kinds(&app, "7001").await.len(), 3);

    // Another shop's key: the order does not exist for it, whatever the command.
    let other = app.shop_with_key("999").await;
    for (path, body) in [
        ("tags", json!({ "add": ["mine"] })),
        ("hold", json!({ "reason": "mine" })),
        ("release", json!({})),
        ("priority", json!({ "priority": 1 })),
        ("retry-workflow", json!({})),
        ("cancel", json!({ "reason": "mine" })),
    ] {
        let response = app
            .client
            .post(app.url(&format!("/api/v1/orders/7001/{path}")))
            .bearer_auth(&other)
            .header("If-Match", "\"3\"")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_problem(response, 404, "not_found").await;
    }
    assert_eq!(history_kinds(&app, "7001").await.len(), 3);
}

#[actix_web::test]
async fn a_retried_post_with_the_same_idempotency_key_gets_the_first_answer_and_acts_once() {
    let app = spawn_app().await;
    an_order(&app, "7002").await;
    let hold = json!({ "reason": "fraud check", "expected_version": 1 });
    let key = [("Idempotency-Key", "4b1d3c2e-hold-7002")];
    let first = post(&app, "/api/v1/orders/7002/hold", &key, hold.clone()).await;
    assert_eq!(first.status(), 200);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["version"], 2);

    // The retry is answered as the first time, though version 1 is stale by now.
    let retry = post(&app, "/api/v1/orders/7002/hold", &key, hold.clone()).await;
    assert_eq!(retry.status(), 200);
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    assert_eq!(retry.json::<Value>().await.unwrap(), first);
    assert_eq!(history_kinds(&app, "7002").await.len(), 2, "held once");

    // The same key with another request is refused; a new key runs (and meets the version).
    let other = json!({ "reason": "another", "expected_version": 1 });
    let reused = post(&app, "/api/v1/orders/7002/hold", &key, other.clone()).await;
    assert_problem(reused, 422, "idempotency_key_reused").await;
    let fresh = post(
        &app,
        "/api/v1/orders/7002/hold",
        &[("Idempotency-Key", "second")],
        other,
    )
    .await;
    assert_problem(fresh, 409, "version_conflict").await;
    let bad = post(
        &app,
        "/api/v1/orders/7002/release",
        &[("Idempotency-Key", "")],
        json!({}),
    )
    .await;
    assert_problem(bad, 400, "bad_request").await;

    // Keys are per API key: another caller's same key is its own.
    let shop_key = app.shop_with_key(SHOP).await;
    let release = app
        .client
        .post(app.url("/api/v1/orders/7002/release"))
        .bearer_auth(&shop_key)
        .header("Idempotency-Key", "4b1d3c2e-hold-7002")
        .header("If-Match", "\"2\"")
        .send()
        .await
        .unwrap();
    assert_eq!(release.status(), 200);
    assert!(release.headers().get("idempotent-replayed").is_none());
    assert_eq!(order_body(&app, "7002").await["stage"], "received");
}

#[actix_web::test]
async fn a_seller_cancellation_goes_through_tiktok_and_both_sides_are_on_the_audit_trail() {
    let (sandbox, app, id) = waiting_to_ship().await;
    let version = order_body(&app, &id).await["version"].as_i64().unwrap();

    let cancelled = post(
        &app,
        &format!("/api/v1/orders/{id}/cancel"),
        &[("If-Match", &format!("\"{version}\""))],
        json!({ "reason": "seller_cancel_reason_out_of_stock" }),
    )
    .await;
    assert_eq!(
        cancelled.status(),
        200,
        "{}",
        cancelled.text().await.unwrap()
    );
    assert_eq!(sandbox.order_status(&id).as_deref(), Some("CANCELLED"));
    let kinds = history_kinds(&app, &id).await;
    let tail: Vec<_> = kinds
        .iter()
        .skip_while(|(k, _)| k != "cancel_requested")
        .collect();
    assert!(tail[0].1.starts_with("user:admin"), "{kinds:?}");
    // TikTok's answer, recorded by us; its webhook (the status) may land before or after it.
    assert!(
        tail[1..].contains(&&(
            "cancellation_updated".to_owned(),
            "integration:tiktok".to_owned()
        )),
        "{kinds:?}"
    );
    // TikTok's webhook follows with the status.
    app.get_until(&format!("/api/v1/orders/{id}"), |o| {
        o["status"] == "CANCELLED"
    })
    .await;

    // TikTok refuses once the parcel is with the carrier: the refusal is recorded and said.
    // (One webhook, its detail awaited: nothing else in flight moves the version.)
    let shipped = sandbox.create_order(SHOP, 1, false);
    sandbox.set_status(&shipped, "AWAITING_COLLECTION", true);
    let order = app
        .get_until(&format!("/api/v1/orders/{shipped}"), |o| {
            o["status"] == "AWAITING_COLLECTION" && o["detail"]["status"] == "AWAITING_COLLECTION"
        })
        .await;
    let refused = post(
        &app,
        &format!("/api/v1/orders/{shipped}/cancel"),
        &[],
        json!({ "reason": "seller_cancel_reason_out_of_stock", "expected_version": order["version"] }),
    )
    .await;
    let problem = assert_problem(refused, 422, "not_allowed").await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("TikTok refused"),
        "{problem}"
    );
    let kinds = history_kinds(&app, &shipped).await;
    assert_eq!(kinds.last().unwrap().0, "cancel_failed", "{kinds:?}");
    // In transit, nobody asks TikTok at all.
    sandbox.set_status(&shipped, "IN_TRANSIT", true);
    let order = app
        .get_until(&format!("/api/v1/orders/{shipped}"), |o| {
            o["status"] == "IN_TRANSIT"
        })
        .await;
    let calls = sandbox.calls("/return_refund/202309/cancellations");
    let late = post(
        &app,
        &format!("/api/v1/orders/{shipped}/cancel"),
        &[],
        json!({ "reason": "too late", "expected_version": order["version"] }),
    )
    .await;
    assert_problem(late, 422, "not_allowed").await;
    assert_eq!(sandbox.calls("/return_refund/202309/cancellations"), calls);
}

/// A daemon whose workflows are off, against a sandbox whose paid order it has heard of and
/// fetched.
async fn waiting_to_ship() -> (Sandbox, TestApp, String) {
    waiting_to_ship_with(|_| {}).await
}

/// The same, with the daemon's settings changed by `configure`.
async fn waiting_to_ship_with(
    configure: impl FnOnce(&mut creatorflow::config::Settings),
) -> (Sandbox, TestApp, String) {
    let sandbox = sandbox();
    let app = spawn_with_workflows(&sandbox, TestDb::new().await, |s| {
        s.workflow.enabled = false;
        configure(s);
    })
    .await;
    // One webhook only (TikTok's deliveries may overtake each other, and a late one is recorded
    // as ignored, moving the version), and validated only once its detail is applied: nothing
    // is left in flight to move the version behind the test's back.
    let id = sandbox.create_order(SHOP, 1, false);
    sandbox.set_status(&id, "AWAITING_SHIPMENT", true);
    app.get_until(&format!("/api/v1/orders/{id}"), |o| {
        o["status"] == "AWAITING_SHIPMENT" && o["stage"] == "validated"
    })
    .await;
    (sandbox, app, id)
}

/// An order waiting to ship whose buyer has asked TikTok to cancel it, the request known to
/// the daemon (from TikTok's webhook) as waiting for the seller; with the request's id.
async fn asked_to_cancel_with(
    configure: impl FnOnce(&mut creatorflow::config::Settings),
) -> (Sandbox, TestApp, String, String) {
    let (sandbox, app, id) = waiting_to_ship_with(configure).await;
    let cancel_id = sandbox
        .buyer_request(&id, tiktok_sandbox::RequestKind::Cancellation, None)
        .unwrap();
    app.get_until(&format!("/api/v1/orders/{id}"), |o| {
        o["requests"][0]["awaits_seller"] == true
    })
    .await;
    (sandbox, app, id, cancel_id)
}

#[actix_web::test]
async fn a_buyers_request_is_answered_through_tiktok_and_recorded_on_both_sides() {
    let (sandbox, app, id, cancel_id) = asked_to_cancel_with(|_| {}).await;
    // TikTok's webhook tells the daemon; the order is then found waiting for the seller.
    let waiting = app
        .get_until("/api/v1/orders?query=request%3Aopen", |b| {
            b["orders"].as_array().is_some_and(|o| !o.is_empty())
        })
        .await;
    assert_eq!(waiting["orders"][0]["id"], id.as_str());
    let order = order_body(&app, &id).await;
    let version = order["version"].as_i64().unwrap();
    assert_eq!(
        order["requests"],
        json!([{
            "kind": "cancellation", "id": cancel_id, "status": "CANCELLATION_REQUEST_PENDING",
            "awaits_seller": true, "summary": "The buyer asked to cancel", "role": "BUYER",
            "return_type": null, "updated_at": order["requests"][0]["updated_at"],
        }]),
        "the order's body names the request to answer"
    );
    let answer = |verb: &'static str, body: Value| {
        let path = format!("/api/v1/orders/{id}/requests/{cancel_id}/{verb}");
        let app = &app;
        async move { post(app, &path, &[], body).await }
    };

    // Bad answers name what is wrong and ask TikTok nothing.
    let calls = sandbox.calls("/return_refund/202309/cancellations/{id}/approve")
        + sandbox.calls("/return_refund/202309/cancellations/{id}/reject");
    let unreasoned = answer(
        "reject",
        json!({ "reason": "  ", "expected_version": version }),
    )
    .await;
    let problem = assert_problem(unreasoned, 400, "bad_request").await;
    assert!(
        problem["detail"].as_str().unwrap().contains("reason"),
        "{problem}"
    );
    let stale = answer("approve", json!({ "expected_version": version - 1 })).await;
    assert_problem(stale, 409, "version_conflict").await;
    let unknown = post(
        &app,
        &format!("/api/v1/orders/{id}/requests/CX0/approve"),
        &[],
        json!({ "expected_version": version }),
    )
    .await;
    let problem = assert_problem(unknown, 422, "not_allowed").await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("no request CX0"),
        "{problem}"
    );
    assert_eq!(
        sandbox.calls("/return_refund/202309/cancellations/{id}/approve")
            + sandbox.calls("/return_refund/202309/cancellations/{id}/reject"),
        calls
    );

    // Approved: recorded as the seller's, TikTok completes the request and cancels the order.
    let approved = answer("approve", json!({ "expected_version": version })).await;
    assert_eq!(approved.status(), 200, "{}", approved.text().await.unwrap());
    assert_eq!(
        sandbox.request_status(&cancel_id).as_deref(),
        Some("CANCELLATION_REQUEST_COMPLETE")
    );
    // Two webhooks say so, and TikTok's deliveries may overtake each other: both are awaited.
    let cancelled = app
        .get_until(&format!("/api/v1/orders/{id}"), |o| {
            o["status"] == "CANCELLED"
                && o["requests"][0]["status"] == "CANCELLATION_REQUEST_COMPLETE"
        })
        .await;
    assert_eq!(cancelled["requests"][0]["awaits_seller"], false);
    let kinds = history_kinds(&app, &id).await;
    assert!(
        kinds
            .iter()
            .any(|(k, cause)| k == "request_answered" && cause.starts_with("user:admin")),
        "{kinds:?}"
    );
    app.get_until("/api/v1/orders?query=request%3Aopen", |b| {
        b["orders"].as_array().is_some_and(|o| o.is_empty())
    })
    .await;

    // Answering it again: nothing waits for an answer any more. (The cancelled order's detail
    // may still be on its way and move the version: a conflict is answered at the new one.)
    let mut again = None;
    for _ in 0..50 {
        let current = order_body(&app, &id).await["version"].clone();
        let reply = answer(
            "reject",
            json!({ "reason": "seller_reject_apply_product_has_been_packed", "expected_version": current }),
        )
        .await;
        if reply.status() != 409 {
            again = Some(reply);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let problem = assert_problem(again.expect("the version settles"), 422, "not_allowed").await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("CANCELLATION_REQUEST_COMPLETE"),
        "{problem}"
    );
}

#[actix_web::test]
async fn a_rejection_gives_one_of_the_reasons_tiktok_lists_for_the_request() {
    let (sandbox, app, id, cancel_id) = asked_to_cancel_with(|_| {}).await;
    let version = order_body(&app, &id).await["version"].as_i64().unwrap();
    let reasons_of = |request: &str| {
        let path = format!("/api/v1/orders/{id}/requests/{request}/reject-reasons");
        let app = &app;
        async move { app.get(&path, Some(&app.admin_key)).await }
    };
    let listed: Value = reasons_of(&cancel_id).await.json().await.unwrap();
    assert_eq!(
        listed,
        json!({ "reasons": [
            { "name": "seller_reject_apply_product_has_been_packed", "text": "The parcel is already packed" },
            { "name": "seller_reject_apply_buyer_agreed_to_keep_order", "text": "The buyer agreed to keep the order" },
        ] })
    );
    // GraphQL lists the same, and the order's page offers them to choose from.
    let queried = crate::graphql::data(
        &app,
        &app.admin_key,
        "query($id: ID!, $request: ID!) { order(id: $id) { rejectReasons(request: $request) { name text } } }",
        json!({ "id": id, "request": cancel_id }),
    )
    .await;
    assert_eq!(queried["order"]["rejectReasons"], listed["reasons"]);
    let cookie = crate::dashboard::sign_in(&app, &app.admin_key).await;
    let (_, page) = crate::dashboard::get(&app, &cookie, &format!("/ui/orders/{id}")).await;
    assert!(
        page.contains("<select name=\"reason\" required>")
            && page.contains(
                "<option value=\"seller_reject_apply_buyer_agreed_to_keep_order\">The buyer agreed to keep the order</option>"
            ),
        "{page}"
    );
    let problem = assert_problem(reasons_of("CX0").await, 422, "not_allowed").await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("no request CX0"),
        "{problem}"
    );

    // A reason TikTok does not list: said with those it does, before anything is recorded or
    // TikTok is asked to reject.
    let path = format!("/api/v1/orders/{id}/requests/{cancel_id}/reject");
    let rejects = || sandbox.calls("/return_refund/202309/cancellations/{id}/reject");
    let asked = rejects();
    let whim = post(
        &app,
        &path,
        &[],
        json!({ "reason": "changed my mind", "expected_version": version }),
    )
    .await;
    let problem = assert_problem(whim, 422, "not_allowed").await;
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("no reject reason changed my mind")
            && detail.contains(
                "seller_reject_apply_buyer_agreed_to_keep_order (The buyer agreed to keep the order)"
            ),
        "{problem}"
    );
    assert_eq!(rejects(), asked);
    assert_eq!(order_body(&app, &id).await["version"], version);

    // One of TikTok's: taken, and TikTok's webhook says the buyer's request was turned down; the
    // order still waits to ship, and its request waits for nothing, so no reasons are listed.
    let rejected = post(
        &app,
        &path,
        &[],
        json!({ "reason": "seller_reject_apply_buyer_agreed_to_keep_order", "expected_version": version }),
    )
    .await;
    assert_eq!(rejected.status(), 200, "{}", rejected.text().await.unwrap());
    assert_eq!(
        sandbox.request_status(&cancel_id).as_deref(),
        Some("CANCELLATION_REQUEST_CANCELLED")
    );
    let settled = app
        .get_until(&format!("/api/v1/orders/{id}"), |o| {
            o["requests"][0]["status"] == "CANCELLATION_REQUEST_CANCELLED"
        })
        .await;
    assert_eq!(settled["status"], "AWAITING_SHIPMENT", "{settled}");
    let problem = assert_problem(reasons_of(&cancel_id).await, 422, "not_allowed").await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("waits for no answer"),
        "{problem}"
    );
}

#[actix_web::test]
async fn the_order_page_takes_a_typed_reason_when_tiktok_cannot_list_them() {
    use tiktok_sandbox::Fault;
    // The client retries an outage from 2 s on (2 + 4 + 8 + 16 + 32 s before it gives up).
    let (sandbox, app, id, _) = asked_to_cancel_with(|s| {
        s.tiktok.retry_base = std::time::Duration::from_secs(2);
    })
    .await;
    // TikTok answers the list with outages for a while: the page does not wait out the client's
    // retries (a second at most), and asks for TikTok's code instead.
    sandbox.inject_on(
        "/return_refund/202309/reject_reasons",
        &[Fault::Unavailable; 50],
    );
    let cookie = crate::dashboard::sign_in(&app, &app.admin_key).await;
    let asked = std::time::Instant::now();
    let (status, page) = crate::dashboard::get(&app, &cookie, &format!("/ui/orders/{id}")).await;
    assert_eq!(status, 200);
    assert!(
        asked.elapsed() < std::time::Duration::from_secs(5),
        "the page took {:?}",
        asked.elapsed()
    );
    assert!(
        page.contains("Reject reason (TikTok's code) <input name=\"reason\" required")
            && !page.contains("Choose TikTok's reason"),
        "{page}"
    );
}

#[actix_web::test]
async fn tiktoks_refusal_of_an_answer_is_recorded_and_said() {
    let (_sandbox, app, id) = waiting_to_ship().await;
    // A request this daemon heard of that TikTok no longer has.
    crate::helpers::request_of(
        &app,
        SHOP,
        &id,
        "CX77",
        "CANCELLATION_REQUEST_PENDING",
        1_700_000_100,
    )
    .await;
    let version = order_body(&app, &id).await["version"].as_i64().unwrap();
    let refused = post(
        &app,
        &format!("/api/v1/orders/{id}/requests/CX77/approve"),
        &[("If-Match", &format!("\"{version}\""))],
        json!({}),
    )
    .await;
    let problem = assert_problem(refused, 422, "not_allowed").await;
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("TikTok refused the answer"), "{detail}");
    assert!(detail.contains("not found"), "{detail}");
    let kinds = history_kinds(&app, &id).await;
    let tail: Vec<_> = kinds[kinds.len() - 2..].iter().collect();
    assert_eq!(tail[0].0, "request_answered", "{kinds:?}");
    assert!(tail[0].1.starts_with("user:admin"), "{kinds:?}");
    assert_eq!(
        tail[1],
        &("answer_failed".to_owned(), "integration:tiktok".to_owned())
    );
}

/// The sandbox's simulated buyers ask too (`serve --demo`, `sandbox --buyer-request-rate`):
/// every paid order's buyer asks to cancel here, and the daemon finds them waiting.
#[actix_web::test]
async fn simulated_buyers_ask_to_cancel_and_the_daemon_lists_them() {
    let sandbox = Sandbox::start(tiktok_sandbox::Options {
        orders_per_second: 2.0,
        step: std::time::Duration::from_secs(1),
        buyer_request_rate: 1.0,
        ..tiktok_sandbox::Options::new("abcdef", "123")
    })
    .unwrap();
    let app = spawn_with_workflows(&sandbox, TestDb::new().await, |s| {
        s.workflow.enabled = false;
    })
    .await;
    let waiting = app
        .get_until("/api/v1/orders?query=request%3Aopen", |b| {
            b["orders"].as_array().is_some_and(|o| !o.is_empty())
        })
        .await;
    let order = &waiting["orders"][0];
    assert_eq!(order["status"], "AWAITING_SHIPMENT", "{order}");
    sandbox.stop().await;
}
