use crate::helpers::{TestDb, cli_command, run_cli, spawn_app_on, write_file};

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[actix_web::test]
async fn check_config_accepts_the_defaults_and_names_a_bad_key() {
    let db = TestDb::new().await;
    let out = run_cli(&db, &["check-config"]);
    assert!(out.status.success(), "{}", stderr(&out));

    let out = cli_command(&db, &["check-config"])
        .env("CREATORFLOW__JOURNAL__MAX_BATCH", "lots")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("journal.max_batch"),
        "{}",
        stderr(&out)
    );

    let out = cli_command(&db, &["check-config"])
        .env("CREATORFLOW__LOG__FORMAT", "xml")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("log.format"), "{}", stderr(&out));
}

#[actix_web::test]
async fn a_config_file_is_layered_over_defaults_and_under_env() {
    let db = TestDb::new().await;
    let bad = write_file(
        db.dir.path(),
        "bad.toml",
        "[engine]\nmailbox_capacity = 0\n",
    );
    // Via --config.
    let out = run_cli(&db, &["--config", bad.to_str().unwrap(), "check-config"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("engine.mailbox_capacity"),
        "{}",
        stderr(&out)
    );
    // Via CREATORFLOW_CONFIG, and the environment wins over the file.
    let out = cli_command(&db, &["check-config"])
        .env("CREATORFLOW_CONFIG", &bad)
        .env("CREATORFLOW__ENGINE__MAILBOX_CAPACITY", "8")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // A missing file is an error, not a silent default.
    let out = run_cli(
        &db,
        &["--config", "/nonexistent/creatorflow.toml", "check-config"],
    );
    assert_eq!(out.status.code(), Some(1));
}

#[actix_web::test]
async fn secrets_never_reach_the_log() {
    let db = TestDb::new().await;
    let out = cli_command(&db, &["shop", "list"])
        .env("CREATORFLOW__TIKTOK__APP_SECRET", "s3cr3t-never-logged")
        .env("CREATORFLOW__LOG__LEVEL", "trace")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("s3cr3t-never-logged"));
    assert!(!stdout(&out).contains("s3cr3t-never-logged"));
}

#[actix_web::test]
async fn migrations_go_up_down_and_report_status() {
    let db = TestDb::empty().await;
    let status = |db: &TestDb| stdout(&run_cli(db, &["migrate", "status"]));

    let before = status(&db);
    let names: Vec<String> = {
        use migration::MigratorTrait;
        migration::Migrator::migrations()
            .iter()
            .map(|m| m.name().to_owned())
            .collect()
    };
    let count = names.len();
    assert_eq!(before.lines().count(), count, "{before}");
    assert!(
        before.lines().all(|l| l.starts_with("pending\t")),
        "{before}"
    );

    assert!(run_cli(&db, &["migrate", "up"]).status.success());
    let after = status(&db);
    assert!(after.lines().all(|l| l.starts_with("applied\t")), "{after}");
    assert!(after.contains("m20261125_000002_orders"));

    let out = run_cli(&db, &["migrate", "down"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let down = status(&db);
    // One step down undoes the newest migration only.
    assert!(
        down.contains(&format!("applied\t{}", names[count - 2])),
        "{down}"
    );
    assert!(
        down.contains(&format!("pending\t{}", names[count - 1])),
        "{down}"
    );

    let out = run_cli(
        &db,
        &["migrate", "down", "--steps", &(count - 1).to_string()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(status(&db).lines().all(|l| l.starts_with("pending\t")));

    // And up again from nothing: every `down` really undid its `up`.
    assert!(run_cli(&db, &["migrate", "up"]).status.success());
    assert!(status(&db).lines().all(|l| l.starts_with("applied\t")));
}

#[actix_web::test]
async fn migrating_down_puts_the_detail_and_its_recipient_back_on_the_order_row() {
    use sea_orm::{ConnectionTrait, Statement};
    let db = TestDb::new().await;
    let raw = sea_orm::Database::connect(&db.url).await.unwrap();
    let text = |raw: sea_orm::DatabaseConnection, sql: &'static str| async move {
        let backend = raw.get_database_backend();
        raw.query_one_raw(Statement::from_string(backend, sql))
            .await
            .map(|row| row.unwrap().try_get::<Option<String>>("", "r").unwrap())
    };
    let recipient = "SELECT CAST(recipient AS TEXT) AS r FROM orders";
    let on_the_row = "SELECT CAST(detail AS TEXT) AS r FROM orders";
    let in_its_table = "SELECT CAST(detail AS TEXT) AS r FROM order_details";
    raw.execute_unprepared(
        "INSERT INTO orders (id, shop_id, status, stage, version, created_at, updated_at) \
         VALUES ('576000000000000001', '7495540735365777507', 'AWAITING_SHIPMENT', 'new', 1, \
         CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
    )
    .await
    .unwrap();
    raw.execute_unprepared(
        "INSERT INTO order_details (order_id, detail) VALUES ('576000000000000001', \
         '{\"status\":\"AWAITING_SHIPMENT\",\"update_time\":1,\"items\":[],\
         \"recipient\":{\"name\":\"A. Buyer\",\"region_code\":\"US\"}}')",
    )
    .await
    .unwrap();
    assert!(
        text(raw.clone(), recipient).await.is_err(),
        "the recipient is kept in the detail only"
    );
    assert!(
        text(raw.clone(), on_the_row).await.is_err(),
        "the detail has a table of its own"
    );

    // Down to just before the migration that dropped the recipient column (which undoes the
    // one that moved the detail first).
    let steps = {
        use migration::MigratorTrait;
        let names: Vec<String> = migration::Migrator::migrations()
            .iter()
            .map(|m| m.name().to_owned())
            .collect();
        let at = names
            .iter()
            .position(|n| n == "m20261207_000037_recipient_in_detail")
            .expect("the migration is listed");
        names.len() - at
    };
    let out = run_cli(&db, &["migrate", "down", "--steps", &steps.to_string()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json = |text: Option<String>| -> serde_json::Value {
        serde_json::from_str(&text.expect("a value")).unwrap()
    };
    assert_eq!(
        json(text(raw.clone(), recipient).await.unwrap()),
        serde_json::json!({"name": "A. Buyer", "region_code": "US"})
    );
    assert_eq!(
        json(text(raw.clone(), on_the_row).await.unwrap())["recipient"]["name"],
        "A. Buyer"
    );
    assert!(
        text(raw.clone(), in_its_table).await.is_err(),
        "the details' table is gone"
    );

    assert!(run_cli(&db, &["migrate", "up"]).status.success());
    assert!(text(raw.clone(), recipient).await.is_err());
    assert!(text(raw.clone(), on_the_row).await.is_err());
    assert_eq!(
        json(text(raw.clone(), in_its_table).await.unwrap())["recipient"]["name"],
        "A. Buyer",
        "migrating up moves the detail into its table"
    );
    raw.close().await.ok();
}

#[actix_web::test]
async fn every_order_id_column_compares_as_the_orders_own_ids_do() {
    use sea_orm::{ConnectionTrait, Statement};
    let db = TestDb::new().await;
    if db.postgres.is_none() {
        return; // SQLite compares every text as bytes
    }
    let raw = sea_orm::Database::connect(&db.url).await.unwrap();
    // A join of two order ids under two collations leaves one side's index unused: showing an
    // order with its detail read every detail (`order_details` was made with the default
    // collation, `orders.id` compares as bytes since migration 31).
    let rows = raw
        .query_all_raw(Statement::from_string(
            raw.get_database_backend(),
            "SELECT c.relname::text FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = current_schema() AND c.relkind = 'r' \
             AND a.attname = 'order_id' AND NOT a.attisdropped \
             AND a.attcollation <> (SELECT attcollation FROM pg_attribute \
                                    WHERE attrelid = 'orders'::regclass AND attname = 'id')",
        ))
        .await
        .unwrap();
    let odd: Vec<String> = rows
        .iter()
        .map(|r| r.try_get_by_index(0).unwrap())
        .collect();
    assert!(
        odd.is_empty(),
        "order ids under another collation in {odd:?}"
    );
    raw.close().await.ok();
}

#[actix_web::test]
async fn apikey_create_prints_only_the_key_and_the_key_works() {
    let db = TestDb::new().await;
    let out = run_cli(&db, &["apikey", "create", "--admin", "--name", "ops"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = stdout(&out);
    assert_eq!(
        printed.lines().count(),
        1,
        "the key alone on stdout: {printed:?}"
    );
    let key = printed.trim().to_owned();
    assert!(key.starts_with("cf_") && key.len() == 67, "{key}");
    assert!(
        !stderr(&out).contains(&key),
        "messages go to stderr, without the key"
    );

    let app = spawn_app_on(db).await;
    assert!(
        app.admin_key.is_empty(),
        "a database with keys gets no first-start key"
    );
    assert_eq!(app.get("/api/v1/shops", Some(&key)).await.status(), 200);
}

#[actix_web::test]
async fn apikey_list_rotate_and_revoke_take_effect_at_once() {
    let db = TestDb::new().await;
    let first = run_cli(&db, &["apikey", "create", "--admin", "--name", "ops"]);
    let old = stdout(&first).trim().to_owned();
    let app = spawn_app_on(db).await;
    assert_eq!(app.get("/api/v1/shops", Some(&old)).await.status(), 200);

    let cli = |args: &'static [&'static str]| {
        let mut command = crate::helpers::cli_command(&app.db, args);
        async move {
            tokio::task::spawn_blocking(move || command.output().unwrap())
                .await
                .unwrap()
        }
    };
    let listed = cli(&["apikey", "list"]).await;
    let listing = stdout(&listed);
    assert!(
        listing.contains("\tops\t") && listing.contains("\tadmin\t"),
        "{listing}"
    );
    assert!(
        !listing.contains(&old),
        "the list never shows a key: {listing}"
    );
    let id = listing
        .lines()
        .nth(1)
        .unwrap()
        .split('\t')
        .next()
        .unwrap()
        .to_owned();

    // Rotated: the new key works, the old one is refused at once.
    let mut rotate = crate::helpers::cli_command(&app.db, &["apikey", "rotate", &id]);
    let rotated = tokio::task::spawn_blocking(move || rotate.output().unwrap())
        .await
        .unwrap();
    assert!(rotated.status.success(), "{}", stderr(&rotated));
    let new = stdout(&rotated).trim().to_owned();
    assert_ne!(new, old);
    assert_eq!(app.get("/api/v1/shops", Some(&old)).await.status(), 401);
    assert_eq!(app.get("/api/v1/shops", Some(&new)).await.status(), 200);

    // Revoked: refused at once, and so are its dashboard sessions.
    let cookie = crate::dashboard::sign_in(&app, &new).await;
    let (status, _) = crate::dashboard::get(&app, &cookie, "/ui/orders").await;
    assert_eq!(status, 200);
    let listing = stdout(&cli(&["apikey", "list"]).await);
    let new_id = listing
        .lines()
        .last()
        .unwrap()
        .split('\t')
        .next()
        .unwrap()
        .to_owned();
    let mut revoke = crate::helpers::cli_command(&app.db, &["apikey", "revoke", &new_id]);
    let revoked = tokio::task::spawn_blocking(move || revoke.output().unwrap())
        .await
        .unwrap();
    assert!(revoked.status.success(), "{}", stderr(&revoked));
    assert_eq!(app.get("/api/v1/shops", Some(&new)).await.status(), 401);
    let (status, _) = crate::dashboard::get(&app, &cookie, "/ui/orders").await;
    assert_eq!(status, 303, "the session ended with its key");
    let mut again = crate::helpers::cli_command(&app.db, &["apikey", "revoke", &new_id]);
    let again = tokio::task::spawn_blocking(move || again.output().unwrap())
        .await
        .unwrap();
    assert!(!again.status.success() && stderr(&again).contains("no live API key"));
}

#[actix_web::test]
async fn apikey_create_needs_exactly_one_scope_and_an_existing_shop() {
    let db = TestDb::new().await;
    let out = run_cli(&db, &["apikey", "create"]);
    assert_eq!(out.status.code(), Some(2), "usage error: {}", stderr(&out));
    let out = run_cli(&db, &["apikey", "create", "--admin", "--shop", "1"]);
    assert_eq!(out.status.code(), Some(2), "usage error: {}", stderr(&out));

    let out = run_cli(&db, &["apikey", "create", "--shop", "4242"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("shop 4242"), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
}

#[actix_web::test]
async fn shop_add_and_list_round_trip() {
    let db = TestDb::new().await;
    let out = run_cli(
        &db,
        &[
            "shop",
            "add",
            "--tiktok-shop-id",
            "7494049642642441621",
            "--name",
            "Glow Co",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run_cli(
        &db,
        &[
            "shop",
            "add",
            "--tiktok-shop-id",
            "7494049642642441621",
            "--name",
            "Again",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    let out = run_cli(
        &db,
        &["shop", "add", "--tiktok-shop-id", "bad id", "--name", "X"],
    );
    assert_eq!(out.status.code(), Some(1));

    let list = stdout(&run_cli(&db, &["shop", "list"]));
    let rows: Vec<Vec<&str>> = list.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), 1, "{list}");
    assert_eq!(
        rows[0][..3],
        ["7494049642642441621", "Glow Co", "unauthorized"]
    );

    let out = run_cli(&db, &["apikey", "create", "--shop", "7494049642642441621"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// `serve --demo`: a new user sees orders flowing on the embedded default, signed webhooks and
/// all, with nothing configured.
#[actix_web::test]
async fn serve_demo_shows_orders_flowing_with_nothing_configured() {
    let db = TestDb::new().await;
    let mut child = cli_command(&db, &["serve", "--demo"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let mut log = Vec::new();
    let (mut url, mut key) = (None, None);
    while url.is_none() || key.is_none() {
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no URL and key: {log:#?}"));
        if let Some(rest) = line.split("Open http://").nth(1) {
            url = rest.split('/').next().map(str::to_owned);
        }
        if let Some(k) = line.trim().strip_prefix("cf_") {
            key = Some(format!("cf_{k}"));
        }
        log.push(line);
    }
    let (url, key) = (url.unwrap(), key.unwrap());
    let client = reqwest::Client::new();
    let mut flowing = false;
    for _ in 0..100 {
        let orders: serde_json::Value = client
            .get(format!("http://{url}/api/v1/orders"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        // An order with its detail fetched from the sandbox: the whole loop works.
        if orders["orders"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| !o["total_amount"].is_null())
        {
            flowing = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(flowing, "no order flowed in 20 s; log: {log:#?}");
}

/// `loadgen` signs like TikTok and reports what the daemon acknowledged.
#[actix_web::test]
async fn loadgen_pushes_signed_webhooks_and_reports_throughput() {
    let app = crate::helpers::spawn_app_with(TestDb::new().await, crate::helpers::tiktok_app).await;
    // The app runs on this test's thread: wait for the child off it.
    let mut command = cli_command(
        &app.db,
        &[
            "loadgen",
            "--url",
            &app.address,
            "--events",
            "300",
            "--orders",
            "60",
            "--concurrency",
            "8",
            "--json",
        ],
    );
    command.envs([
        ("CREATORFLOW__TIKTOK__APP_KEY", "abcdef"),
        ("CREATORFLOW__TIKTOK__APP_SECRET", "123"),
    ]);
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["acknowledged"], 300);
    assert_eq!(report["failed"], 0);
    assert!(report["events_per_second"].as_f64().unwrap() > 0.0);
    assert!(report["p99_ms"].as_f64().unwrap() >= report["p50_ms"].as_f64().unwrap());
    let orders: serde_json::Value = app
        .get("/api/v1/orders?limit=500", Some(&app.admin_key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(orders["orders"].as_array().unwrap().len(), 60);
    // Each order got 5 events: UNPAID, ON_HOLD, AWAITING_SHIPMENT, AWAITING_COLLECTION, IN_TRANSIT.
    assert!(
        orders["orders"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["status"] == "IN_TRANSIT")
    );

    // A loadgen with the wrong secret is refused, and says so.
    let mut command = cli_command(
        &app.db,
        &[
            "loadgen",
            "--url",
            &app.address,
            "--events",
            "5",
            "--orders",
            "5",
        ],
    );
    command
        .env("CREATORFLOW__TIKTOK__APP_KEY", "abcdef")
        .env("CREATORFLOW__TIKTOK__APP_SECRET", "wrong");
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("5 webhooks were not acknowledged"),
        "{}",
        stderr(&out)
    );
}

/// `check-config` validates workflow templates too, naming the file, the step and the reason.
#[actix_web::test]
async fn check_config_names_the_file_and_step_of_a_bad_workflow_template() {
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
        "name = \"quick\"\n[[steps]]\nname = \"pack\"\naction = \"ship\"\n[[steps]]\nname = \"tell\"\naction = \"notify\"\nchannel = \"log\"\n",
    );
    let out = cli_command(&db, &["check-config"])
        .env("CREATORFLOW__WORKFLOW__DIR", &dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("workflow.dir"), "{err}");
    assert!(
        err.contains("quick.toml, step `tell`: `notify` needs `template`"),
        "{err}"
    );

    write_file(
        &dir,
        "quick.toml",
        "name = \"quick\"\n[[steps]]\nname = \"pack\"\naction = \"ship\"\n",
    );
    let out = cli_command(&db, &["check-config"])
        .env("CREATORFLOW__WORKFLOW__DIR", &dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[actix_web::test]
async fn secrets_rotate_reseals_every_secret_and_the_daemon_reads_them_with_the_new_key() {
    use crate::helpers::{SHOP, authorise_command, sandbox, sandbox_env, spawn_against_db};
    let old_key = "a1".repeat(32);
    let new_key = "b2".repeat(32);
    let sandbox = sandbox();
    let code = sandbox.add_shop(SHOP, "Glow Labs");
    // Sealed with the old key: the seller's tokens (through the CLI) and a subscription's
    // signing secret (through the API).
    let app = spawn_against_db(&sandbox, TestDb::new().await, |s| {
        s.tiktok.token_key = old_key.clone().into();
    })
    .await;
    let mut authorise = authorise_command(&app.db, &sandbox, &code);
    authorise.env("CREATORFLOW__TIKTOK__TOKEN_KEY", &old_key);
    let out = tokio::task::spawn_blocking(move || authorise.output().unwrap())
        .await
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let subscription: serde_json::Value = app
        .post_json(
            "/api/v1/notifications/subscriptions",
            &app.admin_key,
            &serde_json::json!({ "shop_id": SHOP, "url": "http://127.0.0.1:9/hook", "events": ["order.transition.#"] }),
        )
        .await
        .json()
        .await
        .unwrap();
    let signing_secret = subscription["secret"].as_str().unwrap().to_owned();
    let admin = app.admin_key.clone();
    let db = app.stop().await;

    let mut logs = String::new();
    let rotate = |keys: &[(&str, &str)]| {
        let mut command = cli_command(&db, &["secrets", "rotate"]);
        command
            .envs(sandbox_env(&db, &sandbox))
            .env("CREATORFLOW__LOG__LEVEL", "trace");
        for (name, value) in keys {
            command.env(name, value);
        }
        command.output().unwrap()
    };
    // Without the old key, nothing can be re-sealed: it says which values, and changes none.
    let out = rotate(&[("CREATORFLOW__TIKTOK__TOKEN_KEY", &new_key)]);
    logs.push_str(&stderr(&out));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("3 value(s) could not be opened"),
        "{}",
        stderr(&out)
    );
    // With it: all three, once; running again finds nothing left to do.
    let keys = [
        ("CREATORFLOW__TIKTOK__TOKEN_KEY", new_key.as_str()),
        ("CREATORFLOW__TIKTOK__PREVIOUS_TOKEN_KEYS", old_key.as_str()),
    ];
    let out = rotate(&keys);
    logs.push_str(&stderr(&out));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("re-sealed 3 value(s)"),
        "{}",
        stderr(&out)
    );
    let out = rotate(&keys);
    logs.push_str(&stderr(&out));
    assert!(
        stderr(&out)
            .contains("re-sealed 0 value(s) with the current key; 3 were sealed with it already"),
        "{}",
        stderr(&out)
    );

    // The daemon on the new key alone calls TikTok with the re-sealed token.
    let app = spawn_against_db(&sandbox, db, |s| {
        s.tiktok.token_key = new_key.clone().into();
    })
    .await;
    let order = sandbox.create_order(SHOP, 1, true);
    crate::helpers::eventually("the order's detail, fetched with the token", || async {
        let response = app
            .get(&format!("/api/v1/orders/{order}"), Some(&admin))
            .await;
        let body: serde_json::Value = response.json().await.ok()?;
        (!body["total_amount"].is_null()).then_some(())
    })
    .await;
    // No key, token or signing secret reached any log of the CLI runs.
    for secret in [
        old_key.as_str(),
        new_key.as_str(),
        "TTP_",
        signing_secret.as_str(),
    ] {
        assert!(!logs.contains(secret), "a secret in the logs: {secret}");
    }
}

#[actix_web::test]
async fn a_full_run_at_debug_level_logs_no_secret_even_in_its_errors() {
    use crate::helpers::{Daemon, SHOP, sandbox_env};
    use tiktok_sandbox::{Fault, Options, Sandbox};
    let app_secret = "app-secret-never-logged-7f3a";
    let token_key = "c3".repeat(32);
    let sandbox = Sandbox::start(Options::new("abcdef", app_secret)).unwrap();
    let code = sandbox.add_shop(SHOP, "Glow Labs");
    let db = TestDb::new().await;
    // Let the sandbox's server start on this runtime before a blocking caller needs it.
    actix_rt::time::sleep(std::time::Duration::from_millis(100)).await;
    let mut env = sandbox_env(&db, &sandbox);
    env.insert("CREATORFLOW__TIKTOK__APP_SECRET".into(), app_secret.into());
    env.insert("CREATORFLOW__TIKTOK__TOKEN_KEY".into(), token_key.clone());
    env.insert("CREATORFLOW__LOG__LEVEL".into(), "debug".into());
    let mut logs = String::new();
    let out = cli_command(
        &db,
        &[
            "shop",
            "add",
            "--tiktok-shop-id",
            SHOP,
            "--name",
            "Glow",
            "--auth-code",
            &code,
        ],
    )
    .envs(&env)
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    logs.push_str(&stderr(&out));
    logs.push_str(&stdout(&out));

    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut daemon = Daemon::start_with(&db, &pairs);
    let base = format!("http://{}", daemon.addr);
    sandbox.set_webhook_url(&format!("{base}/webhooks/tiktok"));
    let client = reqwest::Client::new();
    let admin = daemon.admin_key.clone();
    // A second key (never shown in a log: only in this answer), a subscription whose deliveries
    // fail (its signing secret signs each attempt), TikTok failing, tokens expiring, a forged
    // webhook.
    let made: serde_json::Value = client
        .post(format!("{base}/api/v1/api-keys"))
        .bearer_auth(&admin)
        .json(&serde_json::json!({ "name": "ops", "scope": "operate" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let other_key = made["key"].as_str().unwrap().to_owned();
    let subscription: serde_json::Value = client
        .post(format!("{base}/api/v1/notifications/subscriptions"))
        .bearer_auth(&other_key)
        .json(&serde_json::json!({ "shop_id": SHOP, "url": "http://127.0.0.1:9/hook", "events": ["order.transition.#"] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let signing_secret = subscription["secret"].as_str().unwrap().to_owned();
    sandbox.inject(&[Fault::Unavailable, Fault::Throttled, Fault::Unavailable]);
    sandbox.expire_access_tokens();
    let order = sandbox.create_order(SHOP, 2, true);
    let forged = client
        .post(format!("{base}/webhooks/tiktok"))
        .header("authorization", "forged")
        .body(r#"{"type":1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    crate::helpers::eventually("the order's detail despite the failures", || async {
        let response = client
            .get(format!("{base}/api/v1/orders/{order}"))
            .bearer_auth(&other_key)
            .send()
            .await
            .ok()?;
        let body: serde_json::Value = response.json().await.ok()?;
        (!body["total_amount"].is_null()).then_some(())
    })
    .await;
    // A seller authorising through the callback while TikTok fails: the retry is logged inside
    // the request, whose single-use code (in its query string) must not be.
    let second_code = sandbox.add_shop("7494049642642441999", "Glow Outlet");
    let link: serde_json::Value = client
        .get(format!("{base}/api/v1/tiktok/authorize"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let state = link["state"].as_str().unwrap();
    sandbox.inject_on("/authorization/202309/shops", &[Fault::Unavailable]);
    let callback = client
        .get(format!(
            "{base}/oauth/tiktok/callback?code={second_code}&state={state}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(callback.status(), 200, "{}", callback.text().await.unwrap());
    // The earlier faults logged retries too: wait for the one inside the callback's request.
    while !daemon
        .wait_for_line("retrying TikTok call", std::time::Duration::from_secs(10))
        .contains("path=/oauth/tiktok/callback")
    {}
    daemon.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(
        daemon
            .wait_exit(std::time::Duration::from_secs(20))
            .success()
    );
    let daemon_log = daemon.log.join("\n");
    assert!(
        daemon_log.contains("503") || daemon_log.contains("retry"),
        "the run had errors to log: {daemon_log}"
    );
    // The admin key is printed once at first start, by design; nothing else is.
    logs.push_str(&daemon_log.replace(&admin, "<first admin key>"));
    for (what, secret) in [
        ("app secret", app_secret),
        ("token key", token_key.as_str()),
        ("seller token", "TTP_"),
        ("API key", other_key.as_str()),
        ("signing secret", signing_secret.as_str()),
        ("authorisation code", second_code.as_str()),
    ] {
        assert!(!logs.contains(secret), "the {what} is in the log");
    }
}

/// Migration 40 fills the buyers' requests from the log recorded before it: the newest report of
/// each request, so a withdrawn cancellation is not left open; `down` drops the table and the
/// log keeps every update.
#[actix_web::test]
async fn migrating_up_fills_the_requests_from_the_log() {
    use crate::helpers::{order_at, request_of};
    use sea_orm::{ConnectionTrait, Statement};
    const SHOP: &str = "7495540735365777507";
    let app = spawn_app_on(TestDb::new().await).await;
    for id in ["3300", "3301"] {
        order_at(
            &app,
            SHOP,
            id,
            creatorflow::domain::OrderStatus::AwaitingShipment,
        )
        .await;
    }
    for (id, request, status, t) in [
        ("3300", "c-9", "CANCELLATION_REQUEST_PENDING", 200),
        ("3300", "c-9", "CANCELLATION_REQUEST_CANCELLED", 300),
        ("3301", "r-9", "RETURN_OR_REFUND_REQUEST_PENDING", 250),
    ] {
        request_of(&app, SHOP, id, request, status, t).await;
    }
    let db = app.stop().await;
    let raw = sea_orm::Database::connect(&db.url).await.unwrap();
    let requests = |raw: sea_orm::DatabaseConnection| async move {
        let backend = raw.get_database_backend();
        raw.query_all_raw(Statement::from_string(
            backend,
            "SELECT order_id, kind, request_id, status, role, return_type, tiktok_time \
             FROM order_requests ORDER BY order_id",
        ))
        .await
        .map(|rows| {
            rows.iter()
                .map(|r| {
                    let text = |c: &str| r.try_get::<Option<String>>("", c).unwrap();
                    format!(
                        "{} {} {} {} {} {} {}",
                        text("order_id").unwrap(),
                        text("kind").unwrap(),
                        text("request_id").unwrap(),
                        text("status").unwrap(),
                        text("role").unwrap_or_default(),
                        text("return_type").unwrap_or_default(),
                        r.try_get::<i64>("", "tiktok_time").unwrap(),
                    )
                })
                .collect::<Vec<_>>()
        })
    };
    let written = requests(raw.clone()).await.unwrap();
    assert_eq!(
        written,
        [
            "3300 cancellation c-9 CANCELLATION_REQUEST_CANCELLED BUYER  300",
            "3301 return r-9 RETURN_OR_REFUND_REQUEST_PENDING BUYER REFUND 250",
        ]
    );

    let out = run_cli(&db, &["migrate", "down"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(requests(raw.clone()).await.is_err(), "the table is gone");
    let out = run_cli(&db, &["migrate", "up"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        requests(raw.clone()).await.unwrap(),
        written,
        "filled from the log as the journal wrote it"
    );
}
