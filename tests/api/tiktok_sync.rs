//! Two-way sync through the whole daemon against the sandbox: a seller authorises with a code,
//! the sandbox's signed webhooks bring orders in, details are fetched and applied, and the
//! poller repairs what webhooks missed.

use serde_json::Value;
use tiktok_sandbox::Sandbox;

use crate::helpers::{SHOP, TestApp, authorise_command, eventually, ms, sandbox, spawn_against};

/// The reconciliation poller's call.
const SEARCH: &str = "/order/202309/orders/search";

/// `shop add --auth-code`, as an operator runs it.
fn authorise(app: &TestApp, sandbox: &Sandbox, code: &str) {
    let out = authorise_command(&app.db, sandbox, code).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("tokens stored encrypted"), "{stderr}");
    assert!(!stderr.contains("TTP_"), "tokens never reach the log");
}

fn kinds(history: &Value) -> Vec<String> {
    history["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[actix_web::test]
async fn a_webhook_brings_the_order_in_and_its_detail_is_fetched_and_applied() {
    let sandbox = sandbox();
    let code = sandbox.add_shop(SHOP, "Glow Labs");
    let app = spawn_against(&sandbox, |_| {}).await;
    authorise(&app, &sandbox, &code);
    let shop: Value = app
        .get(&format!("/api/v1/shops/{SHOP}"), Some(&app.admin_key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shop["authorized"], true);

    let id = sandbox.create_order(SHOP, 3, true);
    let path = format!("/api/v1/orders/{id}");
    let order = app.get_until(&path, |o| !o["total_amount"].is_null()).await;
    assert_eq!(order["status"], "UNPAID");
    assert_eq!(order["stage"], "received", "UNPAID is never fulfilled");
    assert_eq!(order["currency"], "USD");
    assert_eq!(order["detail"]["items"].as_array().unwrap().len(), 3);

    // Paid and past the remorse window: validated, ready for fulfilment.
    sandbox.set_status(&id, "ON_HOLD", true);
    sandbox.set_status(&id, "AWAITING_SHIPMENT", true);
    let order = app.get_until(&path, |o| o["stage"] == "validated").await;
    assert_eq!(order["status"], "AWAITING_SHIPMENT");

    // The buyer changes the address: no event of its own, but the detail is fetched again.
    let fetched = sandbox.calls("/order/202309/orders");
    let body = serde_json::json!({
        "type": 3, "tts_notification_id": "addr-1", "shop_id": SHOP,
        "timestamp": 1, "data": { "order_id": id, "update_time": 1 },
    })
    .to_string();
    let response = crate::webhooks::signed(&app.client, &app.address, body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    eventually("an address change to fetch the detail again", || async {
        sandbox.calls("/order/202309/orders") > fetched
    })
    .await;
}

#[actix_web::test]
async fn the_poller_repairs_orders_whose_webhooks_were_lost_and_counts_the_drift() {
    let sandbox = sandbox();
    let code = sandbox.add_shop(SHOP, "Glow Labs");
    let app = spawn_against(&sandbox, |s| s.tiktok.poll_interval = ms(300)).await;
    authorise(&app, &sandbox, &code);

    let known = sandbox.create_order(SHOP, 1, true);
    app.get_until(&format!("/api/v1/orders/{known}"), |o| {
        !o["total_amount"].is_null()
    })
    .await;
    // The fetch the webhook asked for has read TikTok (so it saw the order before the change).
    eventually("the detail fetch to read TikTok", || async {
        sandbox.calls("/order/202309/orders") >= 1
    })
    .await;
    // TikTok moves it on, and creates another order, but no webhook arrives for either.
    sandbox.set_status(&known, "CANCELLED", false);
    let unseen = sandbox.create_order(SHOP, 2, false);

    let order = app
        .get_until(&format!("/api/v1/orders/{known}"), |o| {
            o["status"] == "CANCELLED"
        })
        .await;
    assert_eq!(order["stage"], "cancelled");
    let history = app
        .get_until(&format!("/api/v1/orders/{known}/history"), |_| true)
        .await;
    let last = history["events"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["cause"], "poll");
    let order = app
        .get_until(&format!("/api/v1/orders/{unseen}"), |o| {
            !o["total_amount"].is_null()
        })
        .await;
    assert_eq!(order["status"], "UNPAID");

    // Polling again and again changes nothing more: no event is appended for what is known.
    let before = kinds(&history);
    // Two more polls must have run (searched TikTok) before "nothing more" means anything.
    let searches = sandbox.calls(SEARCH);
    eventually("two more polls", || async {
        sandbox.calls(SEARCH) >= searches + 2
    })
    .await;
    let after = app
        .get_until(&format!("/api/v1/orders/{known}/history"), |_| true)
        .await;
    assert_eq!(kinds(&after), before);

    let drift = app.metric("creatorflow_tiktok_sync_drift_total").await;
    assert!(drift >= 2.0, "{drift}");

    // The shop's own drift (a race with the first webhook can add one), on the API and the
    // dashboard's system page.
    let shops: Value = app
        .get("/api/v1/shops", Some(&app.admin_key))
        .await
        .json()
        .await
        .unwrap();
    let shop = shops
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == SHOP)
        .unwrap();
    let repaired = shop["sync_repaired"].as_i64().unwrap();
    assert!((2..=3).contains(&repaired), "{shop}");
    assert!(shop["synced_until"].is_string(), "{shop}");
    let cookie = crate::dashboard::sign_in(&app, &app.admin_key).await;
    let (_, page) = crate::dashboard::get(&app, &cookie, "/ui/system").await;
    let row = page
        .lines()
        .find(|l| l.contains("Glow Labs"))
        .expect("the shop's row");
    assert!(
        row.contains(&format!(r#"<td class="num">{repaired}</td></tr>"#)),
        "{row}"
    );
}

/// A shop whose webhooks arrive before it authorised CreatorFlow: TikTok cannot be asked for
/// its orders' details, so the fetches are counted as skipped, not parked a row per order to
/// fail for good; once it authorises, its first poll brings them.
#[actix_web::test]
async fn a_shop_not_yet_authorised_has_its_fetches_skipped_and_its_first_poll_brings_the_details() {
    let sandbox = sandbox();
    let code = sandbox.add_shop(SHOP, "Glow Labs");
    let app = spawn_against(&sandbox, |s| s.tiktok.poll_interval = ms(300)).await;

    let id = sandbox.create_order(SHOP, 2, true);
    let path = format!("/api/v1/orders/{id}");
    app.get_until(&path, |o| o["status"] == "UNPAID").await;
    eventually("the fetch counted as skipped", || async {
        app.metric("creatorflow_tiktok_details_skipped_total").await >= 1.0
    })
    .await;
    let db = creatorflow::persistence::Database::connect(&app.db.settings().database)
        .await
        .unwrap();
    let parked = db
        .outbox()
        .pending("tiktok.fetch_detail", 10)
        .await
        .unwrap();
    assert!(parked.is_empty(), "nothing parked: {}", parked.len());
    assert_eq!(sandbox.calls("/order/202309/orders"), 0, "TikTok not asked");
    let order: Value = app
        .get(&path, Some(&app.admin_key))
        .await
        .json()
        .await
        .unwrap();
    assert!(order["total_amount"].is_null(), "no detail yet: {order}");

    authorise(&app, &sandbox, &code);
    let order = app.get_until(&path, |o| !o["total_amount"].is_null()).await;
    assert_eq!(order["detail"]["items"].as_array().unwrap().len(), 2);
    assert_eq!(order["status"], "UNPAID");
}

#[actix_web::test]
async fn the_oauth_callback_takes_only_states_this_daemon_issued() {
    let sandbox = sandbox();
    let code = sandbox.add_shop(SHOP, "Glow Labs");
    let app = spawn_against(&sandbox, |_| {}).await;

    let link: Value = app
        .get("/api/v1/tiktok/authorize", Some(&app.admin_key))
        .await
        .json()
        .await
        .unwrap();
    let state = link["state"].as_str().unwrap().to_owned();
    assert!(
        link["url"]
            .as_str()
            .unwrap()
            .contains(&format!("state={state}"))
    );

    let forged = app
        .get(
            &format!("/oauth/tiktok/callback?code={code}&state=123.abc.def"),
            None,
        )
        .await;
    crate::helpers::assert_problem(forged, 400, "bad_request").await;
    let shop = app
        .get(&format!("/api/v1/shops/{SHOP}"), Some(&app.admin_key))
        .await;
    assert_eq!(shop.status(), 404, "nothing was stored for a forged state");

    let response = app
        .get(
            &format!("/oauth/tiktok/callback?code={code}&state={state}"),
            None,
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["authorized"][0]["id"], SHOP);
    let shop: Value = app
        .get(&format!("/api/v1/shops/{SHOP}"), Some(&app.admin_key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shop["authorized"], true);

    // The code was single-use.
    let again = app
        .get(
            &format!("/oauth/tiktok/callback?code={code}&state={state}"),
            None,
        )
        .await;
    crate::helpers::assert_problem(again, 400, "bad_request").await;
}

/// TikTok delivers at least once, in any order, and sometimes not at all: with duplicates,
/// reordering and drops on, every order still ends where TikTok has it.
#[actix_web::test]
async fn duplicated_reordered_and_dropped_webhooks_still_converge_on_tiktoks_state() {
    let sandbox = Sandbox::start(tiktok_sandbox::Options {
        duplicate_rate: 0.3,
        reorder_rate: 0.3,
        drop_rate: 0.2,
        ..tiktok_sandbox::Options::new("abcdef", "123")
    })
    .unwrap();
    let code = sandbox.add_shop(SHOP, "Glow Labs");
    let app = spawn_against(&sandbox, |s| s.tiktok.poll_interval = ms(500)).await;
    authorise(&app, &sandbox, &code);

    let ids: Vec<String> = (0..20)
        .map(|_| sandbox.create_order(SHOP, 2, true))
        .collect();
    let path = [
        "ON_HOLD",
        "AWAITING_SHIPMENT",
        "AWAITING_COLLECTION",
        "IN_TRANSIT",
    ];
    for (i, id) in ids.iter().enumerate() {
        for status in &path[..=(i % path.len())] {
            sandbox.set_status(id, status, true);
        }
        if i % 5 == 0 {
            sandbox.set_status(id, "CANCELLED", true);
        }
    }
    for id in &ids {
        let expected = sandbox.order_status(id).unwrap();
        let order = app
            .get_until(&format!("/api/v1/orders/{id}"), |o| {
                o["status"] == expected.as_str()
            })
            .await;
        let history = app
            .get_until(&format!("/api/v1/orders/{id}/history"), |_| true)
            .await;
        assert!(
            !kinds(&history)
                .iter()
                .any(|k| k == "regression_ignored" && order["status"] == "UNPAID"),
            "never moved backwards"
        );
    }
}
