//! Labels end to end against the sandbox: TikTok shipping (ship, then fetch the shipping
//! document), the seller's carrier through the label API stand-in (buy once, tell TikTok the
//! tracking number), stock committed on ship, and an unused label voided when the order is
//! cancelled.

use serde_json::{Value, json};
use tiktok_sandbox::{Fault, Sandbox};

use crate::helpers::{SHOP, put_stock, ready_order, sandbox, spawn_with_workflows as spawn};
use crate::helpers::{TestApp, TestDb};

const DOCUMENTS: &str = "/fulfillment/202309/packages/{id}/shipping_documents";
const MARK_SHIPPED: &str = "/fulfillment/202309/orders/{id}/packages";
/// The sandbox's two SKUs (line items alternate between them).
const SKUS: [&str; 2] = ["1729382256910270000", "1729382256910270001"];

async fn with_labels(sandbox: &Sandbox) -> TestApp {
    let url = format!("{}/labels/v1", sandbox.url());
    spawn(sandbox, TestDb::new().await, |s| {
        s.shipping.label_api_url = url;
        s.shipping.label_api_key = "sandbox-label-key".into();
        s.shipping
            .tiktok_provider_ids
            .insert("ups".into(), "7117858858072016686".into());
    })
    .await
}

/// A paid order the seller ships with their own carrier.
fn seller_order(sandbox: &Sandbox) -> String {
    let id = sandbox.create_order(SHOP, 1, false);
    sandbox.set_seller_shipping(&id);
    sandbox.set_status(&id, "ON_HOLD", true);
    sandbox.set_status(&id, "AWAITING_SHIPMENT", true);
    id
}

async fn stock(app: &TestApp, sku: &str) -> Value {
    app.get(
        &format!("/api/v1/inventory/{SHOP}/{sku}"),
        Some(&app.admin_key),
    )
    .await
    .json()
    .await
    .unwrap()
}

#[actix_web::test]
async fn a_tiktok_shipped_order_gets_its_label_from_tiktok_and_its_stock_leaves_the_shelf() {
    let sandbox = sandbox();
    let app = spawn(&sandbox, TestDb::new().await, |_| {}).await;
    put_stock(&app, SKUS[0], 10).await;
    put_stock(&app, SKUS[1], 10).await;
    let id = ready_order(&sandbox, 3);
    app.get_until(&format!("/api/v1/orders/{id}/workflow"), |r| {
        r["run"]["status"] == "completed"
    })
    .await;
    let shipment = app
        .get_until(&format!("/api/v1/orders/{id}/shipment"), |_| true)
        .await;
    assert_eq!(shipment["provider"], "tiktok");
    assert_eq!(shipment["state"], "shipped");
    let package = shipment["package_id"].as_str().unwrap().to_owned();
    // The label is not on the way to shipping: TikTok is asked for it when someone wants it,
    // once.
    assert_eq!(shipment["label_url"], Value::Null);
    assert_eq!(sandbox.calls(DOCUMENTS), 0);
    for _ in 0..2 {
        let label: Value = app
            .get(
                &format!("/api/v1/orders/{id}/shipment/label"),
                Some(&app.admin_key),
            )
            .await
            .json()
            .await
            .unwrap();
        assert!(
            label["label_url"].as_str().unwrap().ends_with(".pdf"),
            "{label}"
        );
    }
    assert_eq!(sandbox.calls(DOCUMENTS), 1);
    let shipment = app
        .get_until(&format!("/api/v1/orders/{id}/shipment"), |_| true)
        .await;
    assert_eq!(shipment["tracking_number"], format!("TT{package}"));
    assert!(shipment["label_url"].as_str().unwrap().ends_with(".pdf"));
    // Three units (two of the first SKU, one of the second) left the shelf; nothing is held.
    let first = stock(&app, SKUS[0]).await;
    let second = stock(&app, SKUS[1]).await;
    assert_eq!(
        (first["on_hand"].as_i64(), first["reserved"].as_i64()),
        (Some(8), Some(0))
    );
    assert_eq!(
        (second["on_hand"].as_i64(), second["reserved"].as_i64()),
        (Some(9), Some(0))
    );
    let reservation: Value = app
        .get(
            &format!("/api/v1/orders/{id}/reservation"),
            Some(&app.admin_key),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(
        reservation["lines"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["state"] == "committed"),
        "{reservation}"
    );
}

#[actix_web::test]
async fn a_seller_shipped_order_buys_one_label_and_tells_tiktok_its_tracking_number() {
    let sandbox = sandbox();
    let app = with_labels(&sandbox).await;
    let id = seller_order(&sandbox);
    let run = app
        .get_until(&format!("/api/v1/orders/{id}/workflow"), |r| {
            r["run"]["status"] == "completed"
        })
        .await;
    let shipment: Value = app
        .get(
            &format!("/api/v1/orders/{id}/shipment"),
            Some(&app.admin_key),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shipment["provider"], "label_api", "{run}");
    assert_eq!(shipment["carrier"], "UPS");
    assert_eq!(shipment["state"], "shipped");
    let tracking = shipment["tracking_number"].as_str().unwrap();
    assert!(tracking.starts_with("1ZSANDBOX"));
    assert_eq!(sandbox.tracking_number(&id).as_deref(), Some(tracking));
    assert_eq!(
        sandbox.order_status(&id).as_deref(),
        Some("AWAITING_COLLECTION")
    );
    assert_eq!(sandbox.calls(MARK_SHIPPED), 1);
    assert_eq!(sandbox.calls("/labels/v1/shipments"), 1, "one label bought");
    assert_eq!(sandbox.label_status(&id).as_deref(), Some("purchased"));
}

#[actix_web::test]
async fn cancelling_an_order_whose_label_is_bought_but_unused_voids_the_label() {
    let sandbox = sandbox();
    let app = with_labels(&sandbox).await;
    // TikTok refuses to take the tracking number for a while: the ship step keeps failing.
    sandbox.inject_on(MARK_SHIPPED, &[Fault::Unavailable; 20]);
    let id = seller_order(&sandbox);
    app.get_until(&format!("/api/v1/orders/{id}/shipment"), |s| {
        s["state"] == "purchased"
    })
    .await;
    // The ship step failed and waits for its retry.
    app.get_until(&format!("/api/v1/orders/{id}/workflow"), |r| {
        r["run"]["step"] == 3 && r["run"]["attempts"].as_i64() >= Some(1)
    })
    .await;
    sandbox.set_status(&id, "CANCELLED", true);
    let run = app
        .get_until(&format!("/api/v1/orders/{id}/workflow"), |r| {
            r["run"]["status"] == "cancelled"
        })
        .await;
    assert!(
        run["run"]["last_error"]
            .as_str()
            .unwrap()
            .contains("voided"),
        "{run}"
    );
    assert_eq!(sandbox.label_status(&id).as_deref(), Some("voided"));
    let shipment: Value = app
        .get(
            &format!("/api/v1/orders/{id}/shipment"),
            Some(&app.admin_key),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shipment["state"], "voided");
    assert_eq!(sandbox.order_status(&id).as_deref(), Some("CANCELLED"));
}

#[actix_web::test]
async fn a_failing_label_api_is_left_alone_after_five_failures_in_a_row() {
    use creatorflow::integrations::shipping::LabelApi;
    let sandbox = sandbox();
    let labels = LabelApi::new(
        &format!("{}/labels/v1", sandbox.url()),
        "sandbox-label-key".into(),
    )
    .unwrap();
    let ship_to = json!({ "name": "A Buyer", "region_code": "US" });
    // A refusal is an answer, not the provider failing: it trips nothing.
    let refused = labels.buy("", "1", &ship_to, 1).await.unwrap_err();
    assert!(refused.is_permanent(), "{refused}");
    sandbox.inject_on("/labels/v1/shipments", &[Fault::Unavailable; 6]);
    for attempt in 1..=5 {
        let failed = labels.buy("k1", "1", &ship_to, 1).await.unwrap_err();
        assert!(
            failed.to_string().contains("503"),
            "attempt {attempt}: {failed}"
        );
    }
    // The sixth is not sent: it fails at once, saying why, and a later retry may pass.
    let paused = labels.buy("k1", "1", &ship_to, 1).await.unwrap_err();
    assert_eq!(
        paused.to_string(),
        "label API calls are paused: it failed 5 times in a row"
    );
    assert!(!paused.is_permanent());
    assert_eq!(
        sandbox.calls("/labels/v1/shipments"),
        6,
        "one refusal, five failures"
    );
}

/// A buyer asks to cancel while the order waits for stock: when the stock comes, its workflow
/// does not ship it but stops for the seller's answer, saying why. Rejected, the order ships on
/// the workflow's retry.
#[actix_web::test]
async fn no_parcel_leaves_while_a_buyers_request_waits_for_the_seller() {
    use tiktok_sandbox::RequestKind;
    let sandbox = sandbox();
    let app = spawn(&sandbox, TestDb::new().await, |_| {}).await;
    put_stock(&app, SKUS[0], 0).await;
    let id = ready_order(&sandbox, 1);
    app.get_until(&format!("/api/v1/orders/{id}/workflow"), |r| {
        r["run"]["status"] == "waiting"
    })
    .await;
    let cancel_id = sandbox
        .buyer_request(&id, RequestKind::Cancellation, None)
        .unwrap();
    app.get_until("/api/v1/orders?query=request%3Aopen", |b| {
        b["orders"].as_array().is_some_and(|o| !o.is_empty())
    })
    .await;
    put_stock(&app, SKUS[0], 5).await;
    let run = app
        .get_until(&format!("/api/v1/orders/{id}/workflow"), |r| {
            r["run"]["status"] == "failed"
        })
        .await;
    let stop =
        "The buyer asked to cancel (CANCELLATION_REQUEST_PENDING): answer it before shipping";
    assert!(
        run["run"]["last_error"].as_str().unwrap().contains(stop),
        "{run}"
    );
    assert!(!sandbox.ship_log().contains(&id), "nothing shipped");
    let order = app
        .get_until(&format!("/api/v1/orders/{id}"), |o| {
            o["stage"] == "exception"
        })
        .await;

    // The seller rejects the request; TikTok's webhook closes it; the retried workflow ships.
    let rejected = app
        .post_json(
            &format!("/api/v1/orders/{id}/requests/{cancel_id}/reject"),
            &app.admin_key,
            &json!({ "reason": "seller_reject_apply_product_has_been_packed", "expected_version": order["version"] }),
        )
        .await;
    assert_eq!(rejected.status(), 200, "{}", rejected.text().await.unwrap());
    app.get_until("/api/v1/orders?query=request%3Aopen", |b| {
        b["orders"].as_array().is_some_and(|o| o.is_empty())
    })
    .await;
    let order = app
        .get_until(&format!("/api/v1/orders/{id}"), |_| true)
        .await;
    let retried = app
        .post_json(
            &format!("/api/v1/orders/{id}/retry-workflow"),
            &app.admin_key,
            &json!({ "expected_version": order["version"] }),
        )
        .await;
    assert_eq!(retried.status(), 200, "{}", retried.text().await.unwrap());
    app.get_until(&format!("/api/v1/orders/{id}/workflow"), |r| {
        r["run"]["status"] == "completed"
    })
    .await;
    assert!(sandbox.ship_log().contains(&id), "shipped once answered");
}
