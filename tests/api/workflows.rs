//! Workflows end to end against the sandbox: a standard order ships itself, a large one waits for
//! a person, a failing step is retried, dead-lettered and replayed.

use serde_json::{Value, json};
use tiktok_sandbox::Fault;

use crate::helpers::{
    SHOP, TestDb, assert_problem, authorise_command, eventually, point_at, put_stock, ready_order,
    sandbox, sandbox_env, spawn_app_with, spawn_with_workflows as spawn, write_file,
};

/// Batch Ship Packages: TikTok-shipped packages go in batches per shop.
const SHIP: &str = "/fulfillment/202309/packages/ship";

/// A workflow folder holding one template, which a catch-all rule picks; returns its path.
fn only_template(db: &TestDb, name: &str, toml: &str) -> String {
    let dir = db.dir.path().join("workflows");
    std::fs::create_dir_all(&dir).unwrap();
    write_file(
        &dir,
        "rules.toml",
        &format!("[[rules]]\nwhen = \"true\"\ntemplate = \"{name}\"\n"),
    );
    write_file(&dir, &format!("{name}.toml"), toml);
    dir.display().to_string()
}

/// Paid pre-orders of one unit, one per ship-by deadline in `deadlines`, all released in 8 s:
/// their runs wait for the release date, so their next steps come due together. The tests see
/// each run waiting first; with the whole suite on two cores, the webhooks, detail fetches and
/// run starts of three orders took over 3 s, and a run released before it was seen waiting
/// failed its test.
fn released_together(sandbox: &tiktok_sandbox::Sandbox, deadlines: &[i64]) -> Vec<String> {
    let release = chrono::Utc::now().timestamp() + 8;
    deadlines
        .iter()
        .map(|deadline| {
            let id = sandbox.create_order(SHOP, 1, false);
            sandbox.set_preorder(&id, release);
            sandbox.set_rts_sla(&id, *deadline);
            sandbox.set_status(&id, "ON_HOLD", true);
            sandbox.set_status(&id, "AWAITING_SHIPMENT", true);
            id
        })
        .collect()
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
    let app = spawn(&sandbox, TestDb::new().await, |_| {}).await;
    let id = ready_order(&sandbox, 2);

    let run = app
        .get_until(&format!("/api/v1/orders/{id}/workflow"), |r| {
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
    let order = app
        .get_until(&format!("/api/v1/orders/{id}"), |o| {
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
    let app = spawn(&sandbox, TestDb::new().await, |_| {}).await;
    let unpaid = sandbox.create_order(SHOP, 1, true);
    // 40 units: above the 500.00 review threshold.
    let big = ready_order(&sandbox, 40);

    let order = app
        .get_until(&format!("/api/v1/orders/{big}"), |o| {
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
    // The scheduler has seen the hold and waits (the run is held), so no step can ship now.
    app.get_until(&format!("/api/v1/orders/{big}/workflow"), |r| {
        r["run"]["status"] == "held"
    })
    .await;
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
    app.get_until(&format!("/api/v1/orders/{big}/workflow"), |r| {
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
    let dir = only_template(
        &db,
        "quick",
        "name = \"quick\"\n[[steps]]\nname = \"ship\"\naction = \"ship\"\nretry = { max_attempts = 3, backoff = \"20ms\", timeout = \"5s\" }\n",
    );
    let sandbox = sandbox();
    let app = spawn(&sandbox, db, |s| s.workflow.dir = dir.clone()).await;
    // Ship Package fails three times (a 503 may have shipped, so the client does not repeat it;
    // the workflow does, after asking TikTok).
    sandbox.inject_on(
        SHIP,
        &[Fault::Unavailable, Fault::Unavailable, Fault::Unavailable],
    );
    let id = ready_order(&sandbox, 1);

    let run = app
        .get_until(&format!("/api/v1/orders/{id}/workflow"), |r| {
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
    // Another shop's key sees none of this shop's dead letters and cannot replay them.
    let other_key = app.shop_with_key("999").await;
    let theirs: Value = app
        .get("/api/v1/dead-letters", Some(&other_key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs["dead_letters"], json!([]));
    let refused = app
        .post_json(
            &format!("/api/v1/dead-letters/{}/replay", letter["id"]),
            &other_key,
            &json!({}),
        )
        .await;
    assert_problem(refused, 404, "not_found").await;

    // Replayed from the dashboard: its workflows page groups the letter under its step and
    // error, and replays the group.
    let cookie = crate::dashboard::sign_in(&app, &app.admin_key).await;
    let (_, page) = crate::dashboard::get(&app, &cookie, "/ui/workflows").await;
    assert!(
        page.contains("ship: 1 order") && page.contains("503"),
        "{page}"
    );
    let replay = crate::dashboard::post(
        &app,
        &cookie,
        "/ui/dead-letters/replay",
        &[
            ("csrf", &crate::dashboard::csrf(&page)),
            ("ids", &letter["id"].to_string()),
        ],
    )
    .await;
    assert_eq!(
        crate::dashboard::location(&replay),
        "/ui/workflows?done=Replayed+1+dead+letter"
    );
    let run = app
        .get_until(&format!("/api/v1/orders/{id}/workflow"), |r| {
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
    // The replay is in the operators' audit: who, from where, which order.
    let audit: Value = app
        .get(
            "/api/v1/audit?action=dead_letter.replayed",
            Some(&app.admin_key),
        )
        .await
        .json()
        .await
        .unwrap();
    let entry = &audit["entries"][0];
    assert_eq!(entry["target"], format!("dead letter {}", letter["id"]));
    assert_eq!(entry["detail"]["order_id"], id.as_str());
    assert_eq!(entry["source"], "127.0.0.1");
    assert_eq!(audit["entries"].as_array().unwrap().len(), 1);
}

#[actix_web::test]
async fn a_preorder_waits_for_its_release_date_then_ships() {
    let sandbox = sandbox();
    let app = spawn(&sandbox, TestDb::new().await, |_| {}).await;
    let id = sandbox.create_order(SHOP, 1, true);
    // Far enough for the run to be seen waiting under CI's load (see `released_together`).
    let release = chrono::Utc::now().timestamp() + 8;
    sandbox.set_preorder(&id, release);
    sandbox.set_status(&id, "ON_HOLD", true);
    sandbox.set_status(&id, "AWAITING_SHIPMENT", true);

    let run = app
        .get_until(&format!("/api/v1/orders/{id}/workflow"), |r| {
            r["steps"]
                .as_array()
                .is_some_and(|s| s.iter().any(|s| s["name"] == "reserve"))
        })
        .await;
    assert_eq!(run["run"]["template"], "preorder");
    assert_eq!(sandbox.calls(SHIP), 0, "not before the release date");
    app.get_until(&format!("/api/v1/orders/{id}/workflow"), |r| {
        r["run"]["status"] == "completed"
    })
    .await;
    assert!(chrono::Utc::now().timestamp() >= release);
    assert_eq!(sandbox.calls(SHIP), 1);
}

#[actix_web::test]
async fn cancelling_a_held_order_ends_its_run_with_compensation() {
    let sandbox = sandbox();
    let app = spawn(&sandbox, TestDb::new().await, |_| {}).await;
    let big = ready_order(&sandbox, 40);
    app.get_until(&format!("/api/v1/orders/{big}"), |o| {
        o["stage"] == "on_hold"
    })
    .await;
    sandbox.set_status(&big, "CANCELLED", true);
    let run = app
        .get_until(&format!("/api/v1/orders/{big}/workflow"), |r| {
            r["run"]["status"] == "cancelled"
        })
        .await;
    assert!(
        run["run"]["last_error"]
            .as_str()
            .unwrap()
            .contains("released 0 reserved lines; no unused label to void"),
        "{run}"
    );
    assert_eq!(sandbox.calls(SHIP), 0);
}

#[actix_web::test]
async fn simulate_lists_the_orders_a_template_would_take_and_changes_nothing() {
    let sandbox = sandbox();
    // Workflows off: only the dry run evaluates anything.
    let app = spawn(&sandbox, TestDb::new().await, |s| {
        s.workflow.enabled = false
    })
    .await;
    let small = ready_order(&sandbox, 2);
    let big = ready_order(&sandbox, 40);
    for id in [&small, &big] {
        app.get_until(&format!("/api/v1/orders/{id}"), |o| {
            o["stage"] == "validated"
        })
        .await;
    }
    let now = chrono::Utc::now();
    let range = json!({ "from": now - chrono::TimeDelta::hours(1), "to": now + chrono::TimeDelta::hours(1) });
    let standard: Value = app
        .post_json(
            "/api/v1/workflows/standard/simulate",
            &app.admin_key,
            &range,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(standard["evaluated"], 2);
    let ids: Vec<&str> = standard["matched"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["order_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [small.as_str()]);
    let runs: Vec<bool> = standard["matched"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["runs"].as_bool().unwrap())
        .collect();
    assert_eq!(runs, [false, true, true, true, true]);
    let review: Value = app
        .post_json(
            "/api/v1/workflows/high_value_review/simulate",
            &app.admin_key,
            &range,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(review["matched"][0]["order_id"], big.as_str());
    // A range with no orders, and a template that does not exist.
    let empty = json!({ "from": now - chrono::TimeDelta::hours(3), "to": now - chrono::TimeDelta::hours(2) });
    let none: Value = app
        .post_json(
            "/api/v1/workflows/standard/simulate",
            &app.admin_key,
            &empty,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(none["evaluated"], 0);
    assert_problem(
        app.post_json("/api/v1/workflows/nope/simulate", &app.admin_key, &range)
            .await,
        404,
        "not_found",
    )
    .await;
    // No side effects.
    assert_problem(
        app.get(
            &format!("/api/v1/orders/{small}/workflow"),
            Some(&app.admin_key),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(sandbox.calls(SHIP), 0);
}

/// A crash in the middle of a run: the restarted daemon resumes at the pending step and does not
/// repeat the completed ones.
#[actix_web::test]
async fn a_kill_9_mid_run_resumes_at_the_pending_step_without_repeating_done_ones() {
    let db = TestDb::new().await;
    let dir = only_template(
        &db,
        "slow",
        "name = \"slow\"\n[[steps]]\nname = \"reserve\"\naction = \"reserve_stock\"\n[[steps]]\nname = \"pause\"\naction = \"wait\"\nduration = \"2s\"\n[[steps]]\nname = \"ship\"\naction = \"ship\"\n",
    );
    let sandbox = sandbox();
    let code = sandbox.add_shop(SHOP, "Glow Labs");
    let mut env: Vec<(String, String)> = sandbox_env(&db, &sandbox)
        .into_iter()
        .filter(|(k, _)| k.starts_with("CREATORFLOW__TIKTOK"))
        .collect();
    env.push(("CREATORFLOW__WORKFLOW__ENABLED".into(), "true".into()));
    env.push(("CREATORFLOW__WORKFLOW__DIR".into(), dir.clone()));
    let borrowed: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let daemon = crate::helpers::Daemon::start_with(&db, &borrowed);
    let admin_key = daemon.admin_key.clone();
    sandbox.set_webhook_url(&format!("http://{}/webhooks/tiktok", daemon.addr));
    let mut command = authorise_command(&db, &sandbox, &code);
    assert!(
        tokio::task::spawn_blocking(move || command.output())
            .await
            .unwrap()
            .unwrap()
            .status
            .success()
    );
    let id = ready_order(&sandbox, 1);

    // Wait until the run is in its pause, then kill the daemon.
    let client = reqwest::Client::new();
    let url = format!("http://{}/api/v1/orders/{id}/workflow", daemon.addr);
    eventually("the run to reach its pause", || async {
        let response = client.get(&url).bearer_auth(&admin_key).send().await.ok()?;
        let run: Value = response.json().await.ok()?;
        (run["run"]["step"] == 1 && run["run"]["attempts"] == 1).then_some(())
    })
    .await;
    daemon.signal(nix::sys::signal::Signal::SIGKILL);
    drop(daemon);

    let app = spawn_app_with(db, |s| {
        point_at(s, &sandbox);
        s.workflow.enabled = true;
        s.workflow.dir = dir;
    })
    .await;
    sandbox.set_webhook_url(&app.url("/webhooks/tiktok"));
    let run = eventually("the run to complete after the restart", || async {
        let run: Value = app
            .get(&format!("/api/v1/orders/{id}/workflow"), Some(&admin_key))
            .await
            .json()
            .await
            .ok()?;
        (run["run"]["status"] == "completed").then_some(run)
    })
    .await;
    let pairs: Vec<(String, String)> = step_summary(&run);
    let names: Vec<&str> = pairs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["reserve", "pause", "ship"], "each step once");
    assert_eq!(sandbox.calls(SHIP), 1);
}

#[actix_web::test]
async fn tags_and_priority_set_by_a_workflow_are_kept_and_seen_by_later_conditions() {
    let db = TestDb::new().await;
    let dir = only_template(
        &db,
        "vip",
        r#"name = "vip"
[[steps]]
name = "mark"
action = "tag"
tag = "vip"
[[steps]]
name = "scratch"
action = "tag"
tag = "scratch"
[[steps]]
name = "unscratch"
action = "untag"
tag = "scratch"
[[steps]]
name = "first"
action = "set_priority"
priority = 7
[[steps]]
name = "review"
action = "hold"
reason = "vip: a person packs it"
when = "'vip' in order.tags && !('scratch' in order.tags)"
"#,
    );
    let sandbox = sandbox();
    let app = spawn(&sandbox, db, |s| s.workflow.dir = dir.clone()).await;
    let id = ready_order(&sandbox, 1);
    let order = app
        .get_until(&format!("/api/v1/orders/{id}"), |o| o["stage"] == "on_hold")
        .await;
    assert_eq!(order["stage_reason"], "vip: a person packs it");
    assert_eq!(order["tags"], json!(["vip"]));
    let run: Value = app
        .get(
            &format!("/api/v1/orders/{id}/workflow"),
            Some(&app.admin_key),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(run["run"]["priority"], 7, "{run}");
    assert_eq!(sandbox.calls(SHIP), 0);
}

#[actix_web::test]
async fn a_limited_action_runs_one_at_a_time_most_urgent_first() {
    let db = TestDb::new().await;
    // Every run waits for the same release date, so all their ship steps are due together.
    let dir = only_template(
        &db,
        "limited",
        "name = \"limited\"\n[[steps]]\nname = \"release\"\naction = \"wait\"\nuntil = \"release_date\"\n[[steps]]\nname = \"ship\"\naction = \"ship\"\n",
    );
    let sandbox = sandbox();
    let app = spawn(&sandbox, db, |s| {
        s.workflow.dir = dir.clone();
        s.workflow.action_concurrency.insert("ship".into(), 1);
    })
    .await;
    let now = chrono::Utc::now().timestamp();
    // Created least urgent first.
    let ids = released_together(&sandbox, &[now + 3_000, now + 2_000, now + 1_000]);
    for id in &ids {
        app.get_until(&format!("/api/v1/orders/{id}/workflow"), |r| {
            r["run"]["status"] == "completed"
        })
        .await;
    }
    // All three ship steps were due in the same round. One at a time: each is its own batch
    // (unlimited, the three would go in one call).
    assert_eq!(sandbox.calls(SHIP), 3, "ship steps ran one at a time");
    // Most urgent first.
    assert_eq!(
        sandbox.ship_log(),
        vec![ids[2].clone(), ids[1].clone(), ids[0].clone()],
        "most urgent (earliest rts_sla_time) first"
    );
}

#[actix_web::test]
async fn retry_workflow_sends_a_failed_run_back_to_work_with_the_version_checked() {
    let db = TestDb::new().await;
    let dir = only_template(
        &db,
        "quick",
        "name = \"quick\"\n[[steps]]\nname = \"ship\"\naction = \"ship\"\nretry = { max_attempts = 2, backoff = \"20ms\", timeout = \"5s\" }\n",
    );
    let sandbox = sandbox();
    let app = spawn(&sandbox, db, |s| s.workflow.dir = dir.clone()).await;
    sandbox.inject_on(SHIP, &[Fault::Unavailable, Fault::Unavailable]);
    let id = ready_order(&sandbox, 1);
    app.get_until(&format!("/api/v1/orders/{id}/workflow"), |r| {
        r["run"]["status"] == "failed"
    })
    .await;
    let order = app
        .get_until(&format!("/api/v1/orders/{id}"), |o| {
            o["stage"] == "exception"
        })
        .await;
    let version = order["version"].as_i64().unwrap();

    // A priority is kept on the run, with the order's version checked like any command.
    let prioritised = app
        .post_json(
            &format!("/api/v1/orders/{id}/priority"),
            &app.admin_key,
            &json!({ "priority": 7, "expected_version": version }),
        )
        .await;
    assert_eq!(prioritised.status(), 200);
    let run = app
        .get_until(&format!("/api/v1/orders/{id}/workflow"), |_| true)
        .await;
    assert_eq!(run["run"]["priority"], 7, "{run}");

    let stale = app
        .post_json(
            &format!("/api/v1/orders/{id}/retry-workflow"),
            &app.admin_key,
            &json!({ "expected_version": version }),
        )
        .await;
    assert_problem(stale, 409, "version_conflict").await;
    let retried = app
        .post_json(
            &format!("/api/v1/orders/{id}/retry-workflow"),
            &app.admin_key,
            &json!({ "expected_version": version + 1 }),
        )
        .await;
    assert_eq!(retried.status(), 200);
    let run = app
        .get_until(&format!("/api/v1/orders/{id}/workflow"), |r| {
            r["run"]["status"] == "completed"
        })
        .await;
    let statuses: Vec<String> = step_summary(&run).into_iter().map(|(_, s)| s).collect();
    assert_eq!(statuses, ["replayed", "done"]);
    assert_eq!(sandbox.calls(SHIP), 3, "two refusals, one success");
    let order = app
        .get(&format!("/api/v1/orders/{id}"), Some(&app.admin_key))
        .await
        .json::<Value>()
        .await
        .unwrap();
    let again = app
        .post_json(
            &format!("/api/v1/orders/{id}/retry-workflow"),
            &app.admin_key,
            &json!({ "expected_version": order["version"] }),
        )
        .await;
    assert_problem(again, 422, "not_allowed").await;
    assert_eq!(sandbox.calls(SHIP), 3);
}

async fn run_of(app: &crate::helpers::TestApp, id: &str) -> Value {
    app.get(
        &format!("/api/v1/orders/{id}/workflow"),
        Some(&app.admin_key),
    )
    .await
    .json::<Value>()
    .await
    .unwrap()["run"]
        .clone()
}

#[actix_web::test]
async fn short_stock_waits_and_freed_units_go_to_the_earliest_deadlines_first() {
    let db = TestDb::new().await;
    let dir = only_template(
        &db,
        "reserve_then_pause",
        "name = \"reserve_then_pause\"\n[[steps]]\nname = \"reserve\"\naction = \"reserve_stock\"\n[[steps]]\nname = \"pause\"\naction = \"wait\"\nduration = \"1h\"\n",
    );
    let sandbox = sandbox();
    let app = spawn(&sandbox, db, |s| s.workflow.dir = dir.clone()).await;
    // One unit each of the sandbox's first SKU; none in stock.
    let sku = "1729382256910270000";
    put_stock(&app, sku, 0).await;
    let now = chrono::Utc::now().timestamp();
    // Arrival order is not deadline order.
    let deadlines = [5_000, 1_000, 4_000, 2_000, 3_000];
    let ids: Vec<String> = deadlines
        .iter()
        .map(|sla| {
            let id = sandbox.create_order(SHOP, 1, false);
            sandbox.set_rts_sla(&id, now + sla);
            sandbox.set_status(&id, "ON_HOLD", true);
            sandbox.set_status(&id, "AWAITING_SHIPMENT", true);
            id
        })
        .collect();
    for id in &ids {
        let run = app
            .get_until(&format!("/api/v1/orders/{id}/workflow"), |r| {
                r["run"]["status"] == "waiting"
            })
            .await;
        assert_eq!(run["run"]["waiting_for"], sku);
        assert_eq!(
            run["run"]["last_error"],
            format!("waiting for stock: not enough stock of {sku}: 0 available, 1 wanted")
        );
        assert_eq!(run["run"]["attempts"], 0, "waiting is not a failed attempt");
    }
    // Not a failure: no dead letter, no order in exception.
    let dead: Value = app
        .get("/api/v1/dead-letters", Some(&app.admin_key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(dead["dead_letters"], json!([]));
    let order: Value = app
        .get(&format!("/api/v1/orders/{}", ids[0]), Some(&app.admin_key))
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(order["stage"], "exception");

    // Three units come in: the three earliest deadlines (1,000, 2,000, 3,000 s) get them and
    // go on to the pause.
    put_stock(&app, sku, 3).await;
    let past_reservation = |r: &Value| r["run"]["step"] == 1 && r["run"]["status"] == "running";
    for id in [&ids[1], &ids[3], &ids[4]] {
        app.get_until(&format!("/api/v1/orders/{id}/workflow"), past_reservation)
            .await;
    }
    for id in [&ids[0], &ids[2]] {
        let run = run_of(&app, id).await;
        assert_eq!(run["status"], "waiting", "{id} has a later deadline");
    }
    let level: Value = app
        .get(
            &format!("/api/v1/inventory/{SHOP}/{sku}"),
            Some(&app.admin_key),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (level["on_hand"].as_i64(), level["reserved"].as_i64()),
        (Some(3), Some(3))
    );

    // The buyer cancels one of them: its run gives its unit back, which wakes the next one by
    // deadline (4,000 s), not the last (5,000 s).
    sandbox.set_status(&ids[1], "CANCELLED", true);
    app.get_until(&format!("/api/v1/orders/{}/workflow", ids[1]), |r| {
        r["run"]["status"] == "cancelled"
    })
    .await;
    app.get_until(
        &format!("/api/v1/orders/{}/workflow", ids[2]),
        past_reservation,
    )
    .await;
    assert_eq!(run_of(&app, &ids[0]).await["status"], "waiting");
}

#[actix_web::test]
async fn ship_steps_due_together_go_to_tiktok_in_one_batch_with_an_outcome_per_package() {
    let db = TestDb::new().await;
    // Every run waits for the same release date, so all their ship steps are due together.
    let dir = only_template(
        &db,
        "batch",
        "name = \"batch\"\n[[steps]]\nname = \"release\"\naction = \"wait\"\nuntil = \"release_date\"\n[[steps]]\nname = \"ship\"\naction = \"ship\"\nretry = { max_attempts = 1 }\n",
    );
    let sandbox = sandbox();
    let app = spawn(&sandbox, db, |s| s.workflow.dir = dir.clone()).await;
    let now = chrono::Utc::now().timestamp();
    let ids = released_together(&sandbox, &[now + 3_600; 3]);
    for id in &ids {
        app.get_until(&format!("/api/v1/orders/{id}/workflow"), |r| {
            r["run"]["status"] == "running" && r["run"]["step"] == 0 && r["run"]["attempts"] == 1
        })
        .await;
    }
    // Behind the daemon's back (no webhook): the second was shipped from TikTok's seller
    // center, the third cancelled.
    sandbox.set_status(&ids[1], "AWAITING_COLLECTION", false);
    sandbox.set_status(&ids[2], "CANCELLED", false);

    let first = app
        .get_until(&format!("/api/v1/orders/{}/workflow", ids[0]), |r| {
            r["run"]["status"] == "completed"
        })
        .await;
    assert_eq!(step_summary(&first)[1], ("ship".into(), "done".into()));
    // Already shipped is a success, not a retry.
    let second = app
        .get_until(&format!("/api/v1/orders/{}/workflow", ids[1]), |r| {
            r["run"]["status"] == "completed"
        })
        .await;
    assert!(
        second["steps"][1]["detail"]
            .as_str()
            .unwrap()
            .contains("already shipped"),
        "{second}"
    );
    // Refused: TikTok's reason, for that package only.
    let third = app
        .get_until(&format!("/api/v1/orders/{}/workflow", ids[2]), |r| {
            r["run"]["status"] == "failed"
        })
        .await;
    let why = third["run"]["last_error"].as_str().unwrap();
    assert!(
        why.contains("TikTok refused to ship package") && why.contains("order is CANCELLED"),
        "{why}"
    );
    // One Batch Ship Packages call for the three; only the first was shipped by it.
    assert_eq!(sandbox.calls(SHIP), 1);
    assert_eq!(sandbox.ship_log(), vec![ids[0].clone()]);
}
