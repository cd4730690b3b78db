//! Feature flags: configured, changed at run time through `/api/v1/flags` (admin, audited, kept
//! across restarts, followed by a second process within a second), and gating workflow
//! templates: turning a flag off stops new runs of its template while runs in flight finish.

use creatorflow::config::FlagSettings;
use creatorflow::domain::Rollout;
use creatorflow::flags::Changed;
use creatorflow::persistence::Database;
use serde_json::{Value, json};

use crate::helpers::{
    SHOP, TestApp, TestDb, assert_problem, eventually, ready_order, sandbox, spawn_app_with,
    spawn_with_workflows as spawn, write_file,
};

fn flag(enabled: bool, percent: u32) -> FlagSettings {
    FlagSettings {
        description: "Ship through the express workflow".into(),
        enabled,
        percent,
        allow: Vec::new(),
        deny: Vec::new(),
    }
}

/// A workflow folder in the test's scratch folder holding `rules` as its rules.toml.
fn workflows(db: &TestDb, rules: &str) -> std::path::PathBuf {
    let dir = db.dir.path().join("workflows");
    std::fs::create_dir_all(&dir).unwrap();
    write_file(&dir, "rules.toml", rules);
    dir
}

async fn put(app: &TestApp, key: &str, name: &str, body: &Value) -> reqwest::Response {
    app.client
        .put(app.url(&format!("/api/v1/flags/{name}")))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn get(app: &TestApp, path: &str) -> Value {
    let response = app.get(path, Some(&app.admin_key)).await;
    assert_eq!(response.status(), 200, "GET {path}");
    response.json().await.unwrap()
}

#[actix_web::test]
async fn a_flag_changed_through_the_api_takes_effect_at_once_is_audited_and_survives_restart() {
    let configure = |s: &mut creatorflow::config::Settings| {
        s.flags.insert("express".into(), flag(true, 0));
    };
    let app = spawn_app_with(TestDb::new().await, configure).await;
    let admin = app.admin_key.clone();
    let listed = get(&app, "/api/v1/flags").await;
    assert_eq!(listed["flags"][0]["name"], "express");
    assert_eq!(listed["flags"][0]["source"], "config");
    assert_eq!(listed["flags"][0]["percent"], 0);
    let shop = "7494000000000000077";
    let before = get(&app, &format!("/api/v1/flags/express?shop_id={shop}")).await;
    assert_eq!(before["on_for_shop"], false);

    // Allow-listed: on for that shop at 0% at once; another shop still off.
    let changed = put(
        &app,
        &admin,
        "express",
        &json!({ "enabled": true, "percent": 0, "allow": [shop] }),
    )
    .await;
    assert_eq!(changed.status(), 200);
    let after = get(&app, &format!("/api/v1/flags/express?shop_id={shop}")).await;
    assert_eq!(after["on_for_shop"], true, "{after}");
    assert_eq!(after["source"], "api");
    assert!(
        after["updated_by"].as_str().unwrap().starts_with("key:"),
        "{after}"
    );
    let other = get(&app, "/api/v1/flags/express?shop_id=7494000000000000078").await;
    assert_eq!(other["on_for_shop"], false);

    // Bad input names what is wrong and changes nothing; a shop key may not look or change.
    let response = put(
        &app,
        &admin,
        "express",
        &json!({ "enabled": true, "percent": 101 }),
    )
    .await;
    assert_problem(response, 400, "bad_request").await;
    for percent in [json!(-1), json!(12.5)] {
        let body = json!({ "enabled": true, "percent": percent });
        let response = put(&app, &admin, "express", &body).await;
        let problem = assert_problem(response, 400, "bad_request").await;
        assert!(
            problem["detail"].as_str().unwrap().contains("percent")
                || problem["detail"].as_str().unwrap().contains("whole"),
            "{problem}"
        );
    }
    // 36.0 is the integer 36, as JSON Schema counts.
    let response = put(
        &app,
        &admin,
        "express",
        &json!({ "enabled": true, "percent": 36.0, "allow": [shop] }),
    )
    .await;
    assert_eq!(response.status(), 200);
    let response = put(
        &app,
        &admin,
        "express",
        &json!({ "enabled": true, "percent": 5, "allow": ["7"], "deny": ["7"] }),
    )
    .await;
    let body = assert_problem(response, 400, "bad_request").await;
    assert!(body["detail"].as_str().unwrap().contains("both"), "{body}");
    let response = put(
        &app,
        &admin,
        "nope",
        &json!({ "enabled": true, "percent": 5 }),
    )
    .await;
    assert_problem(response, 404, "not_found").await;
    let shop_key = app.shop_with_key(SHOP).await;
    let response = put(
        &app,
        &shop_key,
        "express",
        &json!({ "enabled": false, "percent": 0 }),
    )
    .await;
    assert_problem(response, 403, "forbidden").await;
    let response = app.get("/api/v1/flags", Some(&shop_key)).await;
    assert_problem(response, 403, "forbidden").await;

    let audit = get(&app, "/api/v1/audit?action=flag.changed").await;
    let entries = audit["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "two changes, each audited: {audit}");
    assert_eq!(entries[1]["detail"]["after"]["percent"], 36);
    assert_eq!(entries[0]["target"], "flag express");
    assert_eq!(entries[0]["detail"]["after"]["allow"], json!([shop]));

    // A restart keeps the change (the configuration says otherwise).
    let db = app.stop().await;
    let mut app = spawn_app_with(db, configure).await;
    app.admin_key = admin;
    let kept = get(&app, &format!("/api/v1/flags/express?shop_id={shop}")).await;
    assert_eq!(
        (kept["on_for_shop"].clone(), kept["source"].clone()),
        (json!(true), json!("api")),
        "{kept}"
    );

    // Another process sharing the database (a second node) changes it: followed within a second.
    let other_node = Database::connect(&app.db.settings().database)
        .await
        .unwrap();
    let rollout = Rollout::parse(true, 100, &[], &[]).unwrap();
    let change = Changed {
        rollout,
        at: chrono::Utc::now(),
        by: "cli".into(),
    };
    other_node.flags().set("express", &change).await.unwrap();
    let started = std::time::Instant::now();
    eventually("the other node's change to be followed", || async {
        let flag = get(&app, "/api/v1/flags/express").await;
        (flag["percent"] == 100).then_some(())
    })
    .await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[actix_web::test]
async fn turning_a_flag_off_stops_new_runs_of_its_template_while_runs_in_flight_finish() {
    let db = TestDb::new().await;
    let dir = workflows(
        &db,
        "[[rules]]\nwhen = \"true\"\ntemplate = \"express\"\n\n[[rules]]\nwhen = \"true\"\ntemplate = \"plain\"\n",
    );
    write_file(
        &dir,
        "express.toml",
        "name = \"express\"\nflag = \"express\"\n[[steps]]\nname = \"pause\"\naction = \"wait\"\nduration = \"2s\"\n[[steps]]\nname = \"mark\"\naction = \"tag\"\ntag = \"express\"\n",
    );
    write_file(
        &dir,
        "plain.toml",
        "name = \"plain\"\n[[steps]]\nname = \"mark\"\naction = \"tag\"\ntag = \"plain\"\n",
    );
    let dir = dir.display().to_string();
    let sandbox = sandbox();
    let app = spawn(&sandbox, db, |s| {
        s.workflow.dir = dir.clone();
        s.flags.insert("express".into(), flag(true, 100));
    })
    .await;

    let first = ready_order(&sandbox, 1);
    let run = app
        .get_until(&format!("/api/v1/orders/{first}/workflow"), |r| {
            r["run"]["template"] == "express"
        })
        .await;
    assert_ne!(run["run"]["status"], "completed", "{run}");
    let off = put(
        &app,
        &app.admin_key,
        "express",
        &json!({ "enabled": false, "percent": 100 }),
    )
    .await;
    assert_eq!(off.status(), 200);

    let second = ready_order(&sandbox, 1);
    let run = app
        .get_until(&format!("/api/v1/orders/{second}/workflow"), |r| {
            r["run"]["status"] == "completed"
        })
        .await;
    assert_eq!(run["run"]["template"], "plain", "{run}");
    let run = app
        .get_until(&format!("/api/v1/orders/{first}/workflow"), |r| {
            r["run"]["status"] == "completed"
        })
        .await;
    assert_eq!(
        run["run"]["template"], "express",
        "the run in flight finished: {run}"
    );
    let order = get(&app, &format!("/api/v1/orders/{first}")).await;
    assert!(
        order["tags"]
            .as_array()
            .unwrap()
            .contains(&json!("express")),
        "{order}"
    );
}

#[actix_web::test]
async fn a_template_needing_an_unconfigured_flag_fails_at_start_naming_it() {
    let db = TestDb::new().await;
    let dir = workflows(&db, "[[rules]]\nwhen = \"true\"\ntemplate = \"t\"\n");
    write_file(
        &dir,
        "t.toml",
        "name = \"t\"\nflag = \"ghost\"\n[[steps]]\nname = \"s\"\naction = \"ship\"\n",
    );
    let mut settings = db.settings();
    settings.workflow.dir = dir.display().to_string();
    let error = match creatorflow::app::Application::build(&settings).await {
        Ok(_) => panic!("the app built with a template needing an unconfigured flag"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        error.contains("workflow.dir") && error.contains("`ghost`"),
        "{error}"
    );
}
