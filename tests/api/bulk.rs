//! Bulk jobs: a fixed target set, acted on through the orders' actors in throttled batches,
//! per-item outcomes, cancel, export, scoped to the key, and resumed after `kill -9` with each
//! item taking effect once.

use std::time::Duration;

use creatorflow::domain::OrderStatus;
use futures_util::StreamExt;
use nix::sys::signal::Signal;
use serde_json::{Value, json};

use crate::helpers::{
    Daemon, SHOP, TestApp, TestDb, assert_problem, eventually, order_at, spawn_app, spawn_app_with,
};
use crate::webhooks::{APP_KEY, APP_SECRET, signed};

async fn create(app: &TestApp, key: &str, body: Value) -> reqwest::Response {
    app.post_json("/api/v1/bulk-jobs", key, &body).await
}

/// Waits until job `id` is in `state`; returns it.
async fn until_state(app: &TestApp, key: &str, id: i64, state: &str) -> Value {
    eventually(&format!("bulk job {id} to be {state}"), || async {
        let job: Value = app
            .get(&format!("/api/v1/bulk-jobs/{id}"), Some(key))
            .await
            .json()
            .await
            .ok()?;
        (job["state"] == state).then_some(job)
    })
    .await
}

async fn get_json(app: &TestApp, path: &str, key: &str) -> Value {
    let response = app.get(path, Some(key)).await;
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

#[actix_web::test]
async fn a_bulk_hold_acts_on_the_matches_fixed_at_creation_and_lists_each_failure() {
    let app = spawn_app().await;
    let mine = app.shop_with_key(SHOP).await;
    let theirs = app.shop_with_key("999").await;
    for n in 0..24 {
        order_at(
            &app,
            SHOP,
            &format!("61{n:02}"),
            OrderStatus::AwaitingShipment,
        )
        .await;
    }
    // Cancelled orders cannot be held: they fail, with the reason, and the rest go on.
    for n in 0..2 {
        order_at(&app, SHOP, &format!("62{n:02}"), OrderStatus::Cancelled).await;
    }
    order_at(&app, "999", "6300", OrderStatus::AwaitingShipment).await;

    let response = create(
        &app,
        &mine,
        json!({ "action": "hold", "query": "-status:UNPAID", "params": { "reason": "stock count" } }),
    )
    .await;
    assert_eq!(response.status(), 202);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let job: Value = response.json().await.unwrap();
    assert_eq!(location, format!("/api/v1/bulk-jobs/{}", job["id"]));
    assert_eq!(job["total"], 26, "its own shop's matches only: {job}");
    let id = job["id"].as_i64().unwrap();
    // A match that arrives after creation does not slip in.
    order_at(&app, SHOP, "6400", OrderStatus::AwaitingShipment).await;

    let done = until_state(&app, &mine, id, "completed").await;
    assert_eq!(
        (
            done["total"].as_i64(),
            done["succeeded"].as_i64(),
            done["failed"].as_i64()
        ),
        (Some(26), Some(24), Some(2)),
        "{done}"
    );
    // A second worker recording outcomes of the same items (another node, a batch repeated
    // after a handoff) changes no item and counts nothing again.
    let db = creatorflow::persistence::Database::connect(&app.db.settings().database)
        .await
        .unwrap();
    let again: Vec<_> = (1..=26)
        .map(|seq| (seq, creatorflow::bulk::Outcome::Succeeded, None))
        .collect();
    db.bulk().record(id, &again).await.unwrap();
    let recounted = get_json(&app, &format!("/api/v1/bulk-jobs/{id}"), &mine).await;
    assert_eq!(
        (
            recounted["processed"].as_i64(),
            recounted["succeeded"].as_i64(),
            recounted["failed"].as_i64()
        ),
        (Some(26), Some(24), Some(2)),
        "{recounted}"
    );
    let failed = get_json(
        &app,
        &format!("/api/v1/bulk-jobs/{id}/items?outcome=failed"),
        &mine,
    )
    .await;
    let failed = failed["items"].as_array().unwrap();
    assert_eq!(failed.len(), 2);
    assert!(
        failed
            .iter()
            .all(|i| i["reason"].as_str().unwrap().contains("cancelled")),
        "{failed:?}"
    );

    let held = get_json(&app, "/api/v1/orders/6105", &mine).await;
    assert_eq!(held["stage"], "on_hold");
    assert_eq!(held["stage_reason"], "stock count");
    let history = get_json(&app, "/api/v1/orders/6105/history", &mine).await;
    let cause = history["events"].as_array().unwrap().last().unwrap()["cause"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(cause.contains(&format!("(bulk job {id})")), "{cause}");
    assert_eq!(
        get_json(&app, "/api/v1/orders/6400", &mine).await["stage"],
        "received"
    );
    assert_eq!(
        get_json(&app, "/api/v1/orders/6300", &app.admin_key).await["stage"],
        "received"
    );

    // Another shop's key sees nothing of it, and its ids reach nothing of ours.
    assert_problem(
        app.get(&format!("/api/v1/bulk-jobs/{id}"), Some(&theirs))
            .await,
        404,
        "not_found",
    )
    .await;
    let listed = get_json(&app, "/api/v1/bulk-jobs", &theirs).await;
    assert!(
        listed["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|j| j["id"] != id)
    );
    let response = create(
        &app,
        &theirs,
        json!({ "action": "release", "ids": ["6105", "6300"] }),
    )
    .await;
    let probe: Value = response.json().await.unwrap();
    let probe = until_state(&app, &theirs, probe["id"].as_i64().unwrap(), "completed").await;
    assert_eq!(
        probe["failed"], 2,
        "6105 is not theirs, 6300 is not held: {probe}"
    );
    assert_eq!(
        get_json(&app, "/api/v1/orders/6105", &mine).await["stage"],
        "on_hold"
    );

    // Bad requests name what is wrong and create nothing.
    for (body, needle) in [
        (
            json!({ "action": "hold", "query": "status:X" }),
            "params.reason",
        ),
        (json!({ "action": "melt", "ids": ["1"] }), "melt"),
        (
            json!({ "action": "release", "query": "colour:red" }),
            "colour",
        ),
        (
            json!({ "action": "release", "query": "x:1", "ids": ["1"] }),
            "exactly one",
        ),
        (
            json!({ "action": "tags_add", "ids": ["1"], "params": { "tags": ["a,b"] } }),
            "comma",
        ),
    ] {
        let problem = assert_problem(create(&app, &mine, body).await, 400, "bad_request").await;
        assert!(
            problem["detail"].as_str().unwrap().contains(needle),
            "{problem}"
        );
    }
}

#[actix_web::test]
async fn an_export_streams_its_orders_and_a_cancel_stops_a_job_where_it_is() {
    let app = spawn_app_with(TestDb::new().await, |s| s.bulk.items_per_second = 20).await;
    for n in 0..40 {
        order_at(
            &app,
            SHOP,
            &format!("71{n:02}"),
            OrderStatus::AwaitingShipment,
        )
        .await;
    }
    // One buyer asked for something: its line carries the request.
    crate::helpers::request_of(
        &app,
        SHOP,
        "7107",
        "c-7107",
        "CANCELLATION_REQUEST_PENDING",
        1_700_000_100,
    )
    .await;
    let key = app.admin_key.clone();
    let export: Value = create(
        &app,
        &key,
        json!({ "action": "export", "query": "status:AWAITING_SHIPMENT" }),
    )
    .await
    .json()
    .await
    .unwrap();
    let tags: Value = create(
        &app,
        &key,
        json!({ "action": "tags_add", "query": "status:AWAITING_SHIPMENT", "params": { "tags": ["counted"] } }),
    )
    .await
    .json()
    .await
    .unwrap();
    let export_id = export["id"].as_i64().unwrap();
    let not_yet = app
        .get(&format!("/api/v1/bulk-jobs/{export_id}/result"), Some(&key))
        .await;
    assert_problem(not_yet, 422, "not_allowed").await;
    until_state(&app, &key, export_id, "completed").await;
    let lines = app
        .get(&format!("/api/v1/bulk-jobs/{export_id}/result"), Some(&key))
        .await
        .text()
        .await
        .unwrap();
    let orders: Vec<Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(orders.len(), 40);
    assert!(orders.iter().all(|o| o["status"] == "AWAITING_SHIPMENT"));
    for order in &orders {
        let requests = order["requests"].as_array().unwrap();
        match order["id"].as_str().unwrap() {
            "7107" => {
                assert_eq!(requests.len(), 1, "{order}");
                assert_eq!(requests[0]["id"], "c-7107");
                assert_eq!(requests[0]["awaits_seller"], true);
            }
            _ => assert!(requests.is_empty(), "{order}"),
        }
    }
    let csv = app
        .get(
            &format!("/api/v1/bulk-jobs/{export_id}/result?format=csv"),
            Some(&key),
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(csv.starts_with("id,shop_id,status,stage,version,"), "{csv}");
    assert_eq!(csv.lines().count(), 41);

    // 20 items a second: cancel it while it runs.
    let tags_id = tags["id"].as_i64().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let canceled = app
        .post_json(
            &format!("/api/v1/bulk-jobs/{tags_id}/cancel"),
            &key,
            &json!({}),
        )
        .await;
    assert_eq!(canceled.status(), 200);
    let job = until_state(&app, &key, tags_id, "canceled").await;
    let processed = job["processed"].as_i64().unwrap();
    assert!(processed < 40, "{job}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let later = get_json(&app, &format!("/api/v1/bulk-jobs/{tags_id}"), &key).await;
    assert_eq!(
        later["processed"], processed,
        "nothing moves after the cancel"
    );
    let pending = get_json(
        &app,
        &format!("/api/v1/bulk-jobs/{tags_id}/items?outcome=pending&limit=1000"),
        &key,
    )
    .await;
    assert_eq!(
        pending["items"].as_array().unwrap().len() as i64,
        40 - processed
    );
    let again = app
        .post_json(
            &format!("/api/v1/bulk-jobs/{tags_id}/cancel"),
            &key,
            &json!({}),
        )
        .await;
    assert_problem(again, 422, "not_allowed").await;
}

/// `kill -9` mid-job: after the restart the job resumes where it stopped and every order is
/// held exactly once.
#[actix_web::test]
async fn a_job_survives_kill_9_and_each_item_takes_effect_once() {
    let db = TestDb::new().await;
    let daemon = Daemon::start_with(
        &db,
        &[
            ("CREATORFLOW__TIKTOK__APP_KEY", APP_KEY),
            ("CREATORFLOW__TIKTOK__APP_SECRET", APP_SECRET),
            ("CREATORFLOW__BULK__ITEMS_PER_SECOND", "400"),
        ],
    );
    let client = reqwest::Client::new();
    let base = format!("http://{}", daemon.addr);
    let orders = 1200;
    // Sixteen in flight, as TikTok delivers them: one at a time, each waited for its own
    // commit (an fsync), and the orders alone took most of this test's 28 s.
    let statuses: Vec<u16> = futures_util::stream::iter(0..orders)
        .map(|i| {
            let body = json!({
                "type": 1, "tts_notification_id": format!("bulk-{i}"), "shop_id": SHOP, "timestamp": 100,
                "data": { "order_id": format!("88{i:05}"), "order_status": "AWAITING_SHIPMENT", "update_time": 100 }
            })
            .to_string();
            let sent = signed(&client, &base, body).send();
            async move { sent.await.unwrap().status().as_u16() }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let key = daemon.admin_key.clone();
    let job: Value = client
        .post(format!("{base}/api/v1/bulk-jobs"))
        .bearer_auth(&key)
        .json(&json!({ "action": "hold", "query": "status:AWAITING_SHIPMENT", "params": { "reason": "audit" } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(job["total"], orders);
    let id = job["id"].as_i64().unwrap();
    eventually("the job to be under way", || async {
        let job: Value = client
            .get(format!("{base}/api/v1/bulk-jobs/{id}"))
            .bearer_auth(&key)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (job["processed"].as_i64()? >= 300).then_some(())
    })
    .await;
    daemon.signal(Signal::SIGKILL);
    drop(daemon);

    let app = spawn_app_with(db, |_| {}).await;
    let done = until_state(&app, &key, id, "completed").await;
    assert_eq!(done["succeeded"], orders, "{done}");
    assert_eq!(done["failed"], 0, "{done}");
    // Held once each: created (version 1), held (version 2), nothing more.
    let mut versions = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(cursor) => format!("/api/v1/orders?query=stage:on_hold&first=250&after={cursor}"),
            None => "/api/v1/orders?query=stage:on_hold&first=250".to_owned(),
        };
        let page = get_json(&app, &path, &key).await;
        versions.extend(
            page["orders"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["version"].as_i64().unwrap()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => after = Some(cursor.to_owned()),
            None => break,
        }
    }
    assert_eq!(versions.len(), orders);
    assert!(
        versions.iter().all(|v| *v == 2),
        "an order held twice: {versions:?}"
    );
}

/// A sold-out SKU's buyers ask to cancel: one job approves every waiting request at TikTok; an
/// order named that has no such request fails, saying so. Rejecting takes TikTok's reason.
#[actix_web::test]
async fn a_bulk_job_answers_each_orders_waiting_request_at_tiktok() {
    use tiktok_sandbox::RequestKind;
    let sandbox = crate::helpers::sandbox();
    let app = crate::helpers::spawn_with_workflows(&sandbox, TestDb::new().await, |s| {
        s.workflow.enabled = false;
    })
    .await;
    let ids: Vec<String> = (0..3)
        .map(|_| crate::helpers::ready_order(&sandbox, 1))
        .collect();
    for id in &ids {
        app.get_until(&format!("/api/v1/orders/{id}"), |o| {
            o["status"] == "AWAITING_SHIPMENT" && o["stage"] == "validated"
        })
        .await;
    }
    let asked: Vec<String> = ids[..2]
        .iter()
        .map(|id| {
            sandbox
                .buyer_request(id, RequestKind::Cancellation, None)
                .unwrap()
        })
        .collect();
    app.get_until("/api/v1/orders?query=request%3Aopen", |b| {
        b["orders"].as_array().is_some_and(|o| o.len() == 2)
    })
    .await;
    let key = app.admin_key.clone();
    let unreasoned = create(
        &app,
        &key,
        json!({ "action": "reject_requests", "query": "request:open" }),
    )
    .await;
    let problem = assert_problem(unreasoned, 400, "bad_request").await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("params.reason"),
        "{problem}"
    );

    // A reason TikTok does not list for these requests: each fails, naming TikTok's, and
    // nothing is answered.
    let whim: Value = create(
        &app,
        &key,
        json!({ "action": "reject_requests", "query": "request:open", "params": { "reason": "whim" } }),
    )
    .await
    .json()
    .await
    .unwrap();
    let whim = until_state(&app, &key, whim["id"].as_i64().unwrap(), "completed").await;
    assert_eq!(whim["failed"], 2, "{whim}");
    let failed = get_json(
        &app,
        &format!("/api/v1/bulk-jobs/{}/items?outcome=failed", whim["id"]),
        &key,
    )
    .await;
    assert!(
        failed["items"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("no reject reason whim"),
        "{failed}"
    );
    assert_eq!(
        sandbox.calls("/return_refund/202309/cancellations/{id}/reject"),
        0
    );

    let job: Value = create(
        &app,
        &key,
        json!({ "action": "approve_requests", "ids": ids }),
    )
    .await
    .json()
    .await
    .unwrap();
    let job = until_state(&app, &key, job["id"].as_i64().unwrap(), "completed").await;
    assert_eq!(
        (job["succeeded"].as_i64(), job["failed"].as_i64()),
        (Some(2), Some(1)),
        "{job}"
    );
    let failed = get_json(
        &app,
        &format!("/api/v1/bulk-jobs/{}/items?outcome=failed", job["id"]),
        &key,
    )
    .await;
    assert_eq!(failed["items"][0]["order_id"], ids[2].as_str(), "{failed}");
    assert!(
        failed["items"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("no buyer's request awaiting the seller"),
        "{failed}"
    );
    for (id, request) in ids.iter().zip(&asked) {
        assert_eq!(
            sandbox.request_status(request).as_deref(),
            Some("CANCELLATION_REQUEST_COMPLETE")
        );
        app.get_until(&format!("/api/v1/orders/{id}"), |o| {
            o["status"] == "CANCELLED"
        })
        .await;
    }
}
