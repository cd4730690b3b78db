//! `creatorflow doctor` against a real deployment: the database, the broker, the sandbox as
//! TikTok with an authorised shop; and what it says when parts are broken.

use crate::helpers::{SHOP, TestDb, cli_command, sandbox, sandbox_env, spawn_with_workflows};

async fn doctor(db: &TestDb, env: Vec<(String, String)>) -> (Option<i32>, String) {
    let mut command = cli_command(db, &["doctor"]);
    command.envs(env);
    let out = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn line<'a>(report: &'a str, check: &str) -> &'a str {
    report
        .lines()
        .find(|l| l[6..].starts_with(check))
        .unwrap_or_else(|| panic!("no `{check}` line in:\n{report}"))
}

#[actix_web::test]
async fn doctor_passes_a_working_deployment_and_names_each_broken_part() {
    let sandbox = sandbox();
    let app = spawn_with_workflows(&sandbox, TestDb::new().await, |_| {}).await;
    let env: Vec<(String, String)> = sandbox_env(&app.db, &sandbox).into_iter().collect();

    let (code, report) = doctor(&app.db, env.clone()).await;
    assert_eq!(code, Some(0), "{report}");
    for check in [
        "configuration",
        "database",
        "migrations",
        "broker",
        "tiktok clock",
    ] {
        assert!(line(&report, check).starts_with("ok "), "{report}");
    }
    let shop = line(&report, &format!("shop {SHOP}"));
    assert!(
        shop.starts_with("ok ") && shop.contains("token works"),
        "{report}"
    );
    assert!(!line(&report, "disk").starts_with("FAIL"), "{report}");

    // A broker that does not answer, and TikTok's clock out of reach: each named, exit 1.
    let mut broken = env.clone();
    broken.push((
        "CREATORFLOW__BUS__AMQP_URL".into(),
        "amqp://guest:guest@127.0.0.1:1/%2f".into(),
    ));
    broken.push((
        "CREATORFLOW__TIKTOK__API_BASE_URL".into(),
        "http://127.0.0.1:1".into(),
    ));
    let (code, report) = doctor(&app.db, broken).await;
    assert_eq!(code, Some(1), "{report}");
    assert!(
        line(&report, "broker").starts_with("FAIL  broker"),
        "{report}"
    );
    assert!(
        line(&report, "tiktok clock").starts_with("FAIL"),
        "{report}"
    );
    assert!(
        !report.contains("guest:guest"),
        "the broker's password is printed:\n{report}"
    );
    let shop = line(&report, &format!("shop {SHOP}"));
    assert!(shop.starts_with("FAIL"), "{report}");

    // A configuration error is a FAIL line naming the key.
    let mut bad = env;
    bad.push(("CREATORFLOW__JOURNAL__MAX_BATCH".into(), "lots".into()));
    let (code, report) = doctor(&app.db, bad).await;
    assert_eq!(code, Some(1));
    assert!(
        report.starts_with("FAIL  configuration") && report.contains("journal.max_batch"),
        "{report}"
    );
}

#[actix_web::test]
async fn doctor_fails_on_pending_migrations() {
    let db = TestDb::empty().await;
    let (code, report) = doctor(&db, Vec::new()).await;
    assert_eq!(code, Some(1), "{report}");
    let migrations = line(&report, "migrations");
    assert!(
        migrations.starts_with("FAIL") && migrations.contains("migrate up"),
        "{report}"
    );
}

#[actix_web::test]
async fn doctor_warns_when_a_live_node_runs_with_another_lease() {
    use std::time::Duration;
    let test_db = TestDb::new().await;
    let Some(db) = crate::cluster::postgres(&test_db).await else {
        return;
    };
    let (_node, running) = crate::cluster::holding_every_slot(
        &db,
        "node-a",
        Duration::from_secs(2),
        Duration::from_millis(100),
    )
    .await;
    let cluster = |lease: &str| {
        vec![
            (
                "CREATORFLOW__CLUSTER__ENABLED".to_owned(),
                "true".to_owned(),
            ),
            (
                "CREATORFLOW__CLUSTER__SECRET".to_owned(),
                crate::cluster::SECRET.to_owned(),
            ),
            ("CREATORFLOW__CLUSTER__LEASE".to_owned(), lease.to_owned()),
        ]
    };
    let (_, report) = doctor(&test_db, cluster("2s")).await;
    assert!(line(&report, "cluster").starts_with("ok "), "{report}");
    let (_, report) = doctor(&test_db, cluster("5s")).await;
    let warned = line(&report, "cluster");
    assert!(
        warned.starts_with("warn ")
            && warned.contains("node-a runs with 2000 ms against this configuration's 5000 ms"),
        "{report}"
    );
    running.stop(Duration::from_secs(5)).await;
}
