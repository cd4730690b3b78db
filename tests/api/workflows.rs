//! Workflows end to end against the sandbox: a standard order ships itself, a large one waits for
//! a person, a failing step is retried, dead-lettered and replayed.

use std::time::Duration;

use creatorflow::integrations::tiktok::sandbox::{Fault, Sandbox};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestDb, assert_problem, cli_command, spawn_app_with, write_file};
use crate::tiktok_client::{SHOP, sandbox, sandbox_env};

const SHIP: &str = "/fulfillment/202309/packages/{id}/ship";

async fn spawn(sandbox: &Sandbox, db: TestDb, extra: &[(&str, &str)]) -> TestApp {
    let mut pairs: Vec<(String, String)> = sandbox_env(&db, sandbox)
        .into_iter()
        .filter(|(k, _)| k.starts_with("CREATORFLOW__TIKTOK"))
        .collect();
    pairs.push(("CREATORFLOW__WORKFLOW__ENABLED".into(), "true".into()));
    pairs.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let borrowed: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let app = spawn_app_with(db, &borrowed).await;
    sandbox.set_webhook_url(&app.url("/webhooks/tiktok"));
    let code = sandbox.add_shop(SHOP, "Glow Labs");
    let mut command = cli_command(
        &app.db,
        &[
            "shop",
            "add",
            "--tiktok-shop-id",
            SHOP,
            "--name",
            "Glow Labs",
            "--auth-code",
            &code,
        ],
    );
    command.envs(sandbox_env(&app.db, sandbox));
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    app
}

/// A paid order past the remorse window, as TikTok announces it.
fn ready_order(sandbox: &Sandbox, units: usize) -> String {
    let id = sandbox.create_order(SHOP, units, true);
    sandbox.set_status(&id, "ON_HOLD", true);
    sandbox.set_status(&id, "AWAITING_SHIPMENT", true);
    id
}

async fn eventually(app: &TestApp, path: &str, check: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..200 {
        let response = app.get(path, Some(&app.admin_key)).await;
        if response.status() == 200 {
            last = response.json().await.unwrap();
            if check(&last) {
                return last;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{path} never satisfied the check; last: {last}");
}

fn step_summary(run: &Value) -> Vec<(String, String)> {
    run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[actix_web::test]
async fn a_standard_order_ships_itself_with_zero_touches() {
    let sandbox = sandbox();
    let app = spawn(&sandbox, TestDb::new().await, &[]).await;
    let id = ready_order(&sandbox, 2);

    let run = eventually(&app, &format!("/api/v1/orders/{id}/workflow"), |r| {
        r["run"]["status"] == "completed"
    })
    .await;
    assert_eq!(run["run"]["template"], "standard");
    let pairs: Vec<(&str, &str)> = vec![
        ("validate", "skipped"),
        ("reserve", "done"),
        ("label", "done"),
        ("ship", "done"),
        ("notify", "done"),
    ];
    let expected: Vec<(String, String)> = pairs
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect();
    assert_eq!(step_summary(&run), expected);
    assert_eq!(
        sandbox.order_status(&id).as_deref(),
        Some("AWAITING_COLLECTION")
    );
    assert_eq!(sandbox.calls(SHIP), 1, "shipped exactly once");
    let order = eventually(&app, &format!("/api/v1/orders/{id}"), |o| {
        o["status"] == "AWAITING_COLLECTION"
    })
    .await;
    assert_eq!(order["stage"], "shipped");
    let history: Value = app
        .get(
            &format!("/api/v1/orders/{id}/history"),
            Some(&app.admin_key),
        )
        .await
        .json()
        .await
        .unwrap();
    let causes: Vec<&str> = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["cause"].as_str().unwrap())
        .collect();
    assert!(causes.contains(&"rule:standard/reserve"), "{causes:?}");

    let templates: Value = app
        .get("/api/v1/workflows", Some(&app.admin_key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(templates["workflows"].as_array().unwrap().len(), 3);
    let metrics = app.get("/metrics", None).await.text().await.unwrap();
    assert!(
        metrics.contains("creatorflow_workflow_runs_total{outcome=\"completed\"}"),
        "{metrics}"
    );
}

#[actix_web::test]
async fn an_unpaid_order_never_starts_and_a_high_value_order_waits_for_a_person() {
    let sandbox = sandbox();
    let app = spawn(&sandbox, TestDb::new().await, &[]).await;
    let unpaid = sandbox.create_order(SHOP, 1, true);
    // 40 units: above the 500.00 review threshold.
    let big = ready_order(&sandbox, 40);

    let order = eventually(&app, &format!("/api/v1/orders/{big}"), |o| {
        o["stage"] == "on_hold"
    })
    .await;
    assert!(
        order["stage_reason"]
            .as_str()
            .unwrap()
            .contains("high-value")
    );
    let run: Value = app
        .get(
            &format!("/api/v1/orders/{big}/workflow"),
            Some(&app.admin_key),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(run["run"]["template"], "high_value_review");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        sandbox.calls(SHIP),
        0,
        "nothing ships while a person has not looked"
    );

    let release = app
        .post_json(
            &format!("/api/v1/orders/{big}/release"),
            &app.admin_key,
            &json!({ "expected_version": order["version"] }),
        )
        .await;
    assert_eq!(release.status(), 200);
    eventually(&app, &format!("/api/v1/orders/{big}/workflow"), |r| {
        r["run"]["status"] == "completed"
    })
    .await;
    assert_eq!(
        sandbox.order_status(&big).as_deref(),
        Some("AWAITING_COLLECTION")
    );

    // The unpaid order has no run at all.
    let response = app
        .get(
            &format!("/api/v1/orders/{unpaid}/workflow"),
            Some(&app.admin_key),
        )
        .await;
    assert_problem(response, 404, "not_found").await;
    assert_eq!(sandbox.order_status(&unpaid).as_deref(), Some("UNPAID"));
}

#[actix_web::test]
async fn a_failing_step_is_retried_then_dead_lettered_then_replayed_without_shipping_twice() {
    let db = TestDb::new().await;
    let dir = db.dir.path().join("workflows");
    std::fs::create_dir_all(&dir).unwrap();
    write_file(
        &dir,
        "rules.toml",
        "[[rules]]\nwhen = \"true\"\ntemplate = \"quick\"\n",
    );
    write_file(
        &dir,
        "quick.toml",
        "name = \"quick\"\n[[steps]]\nname = \"ship\"\naction = \"ship\"\nretry = { max_attempts = 3, backoff = \"20ms\", timeout = \"5s\" }\n",
    );
    let sandbox = sandbox();
    let dir = dir.display().to_string();
    let app = spawn(&sandbox, db, &[("CREATORFLOW__WORKFLOW__DIR", &dir)]).await;
    // Ship Package fails three times (a 503 may have shipped, so the client does not repeat it;
    // the workflow does, after asking TikTok).
    sandbox.inject_on(
        SHIP,
        &[Fault::Unavailable, Fault::Unavailable, Fault::Unavailable],
    );
    let id = ready_order(&sandbox, 1);

    let run = eventually(&app, &format!("/api/v1/orders/{id}/workflow"), |r| {
        r["run"]["status"] == "failed"
    })
    .await;
    assert_eq!(run["run"]["attempts"], 3);
    let order: Value = app
        .get(&format!("/api/v1/orders/{id}"), Some(&app.admin_key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(order["stage"], "exception");
    assert!(
        order["stage_reason"]
            .as_str()
            .unwrap()
            .contains("step ship failed after 3 attempts"),
        "{order}"
    );
    let letters: Value = app
        .get("/api/v1/dead-letters", Some(&app.admin_key))
        .await
        .json()
        .await
        .unwrap();
    let letter = letters["dead_letters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["order_id"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(letter["action"], "ship");
    assert!(
        letter["error"].as_str().unwrap().contains("503"),
        "{letter}"
    );
    let shop_key = app.shop_with_key("999").await;
    assert_problem(
        app.get("/api/v1/dead-letters", Some(&shop_key)).await,
        403,
        "forbidden",
    )
    .await;

    let replay = app
        .post_json(
            &format!("/api/v1/dead-letters/{}/replay", letter["id"]),
            &app.admin_key,
            &json!({}),
        )
        .await;
    assert_eq!(replay.status(), 200);
    let run = eventually(&app, &format!("/api/v1/orders/{id}/workflow"), |r| {
        r["run"]["status"] == "completed"
    })
    .await;
    let statuses: Vec<String> = step_summary(&run).into_iter().map(|(_, s)| s).collect();
    assert_eq!(statuses, ["replayed", "done"]);
    assert_eq!(
        sandbox.order_status(&id).as_deref(),
        Some("AWAITING_COLLECTION")
    );
    assert_eq!(
        sandbox.calls(SHIP),
        4,
        "three refusals, one success: shipped once"
    );
    let again = app
        .post_json(
            &format!("/api/v1/dead-letters/{}/replay", letter["id"]),
            &app.admin_key,
            &json!({}),
        )
        .await;
    assert_problem(again, 404, "not_found").await;
}
