//! Backups under load: webhooks keep arriving while `creatorflow backup` (SQLite) or the
//! runbook's pg_dump (PostgreSQL) copies the database; a fresh daemon restored from the copy has
//! every webhook acknowledged before the backup began.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::json;

use crate::helpers::{Daemon, TestDb, cli_command, eventually, spawn_app_with, tiktok_app};
use crate::webhooks::{APP_KEY, APP_SECRET, signed};

/// Runs a command off the runtime's threads; its exit code and stderr.
async fn run(mut command: std::process::Command) -> (Option<i32>, String) {
    let out = tokio::task::spawn_blocking(move || command.output().expect("the command runs"))
        .await
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[actix_web::test]
async fn a_backup_taken_under_webhook_load_restores_every_webhook_acknowledged_before_it() {
    let db = TestDb::new().await;
    let daemon = Daemon::start_with(
        &db,
        &[
            ("CREATORFLOW__TIKTOK__APP_KEY", APP_KEY),
            ("CREATORFLOW__TIKTOK__APP_SECRET", APP_SECRET),
        ],
    );
    let base = format!("http://{}", daemon.addr);
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut senders = Vec::new();
    for sender in 0..4 {
        let (acked, stop, base) = (acked.clone(), stop.clone(), base.clone());
        senders.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let order = format!("77{sender}{i:06}");
                let body = json!({
                    "type": 1, "tts_notification_id": format!("backup-{order}"), "shop_id": "7494049642642441621",
                    "timestamp": 100, "data": { "order_id": order, "order_status": "AWAITING_SHIPMENT", "update_time": 100 }
                })
                .to_string();
                let response = signed(&client, &base, body).send().await;
                if response.is_ok_and(|r| r.status() == 200) {
                    acked.lock().unwrap().push(order);
                }
                i += 1;
            }
        }));
    }
    eventually("webhooks to flow", || async {
        (acked.lock().unwrap().len() >= 200).then_some(())
    })
    .await;

    // Everything acknowledged up to here must be in the copy; the load goes on meanwhile.
    let before: Vec<String> = acked.lock().unwrap().clone();
    let copy = db.dir.path().join("backup.db");
    let restored = TestDb::empty().await;
    match &db.postgres {
        None => {
            let (code, stderr) = run(cli_command(
                &db,
                &["backup", "--to", copy.to_str().unwrap()],
            ))
            .await;
            assert_eq!(code, Some(0), "{stderr}");
            assert!(stderr.contains("backed up to"), "{stderr}");
            // Never over an existing file.
            let (code, stderr) = run(cli_command(
                &db,
                &["backup", "--to", copy.to_str().unwrap()],
            ))
            .await;
            assert_eq!(code, Some(1));
            assert!(stderr.contains("already exists"), "{stderr}");
        }
        Some(_) => {
            // The runbook's procedure: pg_dump's custom format is one consistent snapshot.
            let (code, stderr) = run(cli_command(
                &db,
                &["backup", "--to", copy.to_str().unwrap()],
            ))
            .await;
            assert_eq!(code, Some(1));
            assert!(stderr.contains("pg_dump"), "{stderr}");
            let mut dump = std::process::Command::new("pg_dump");
            dump.args([
                "--format=custom",
                "--file",
                copy.to_str().unwrap(),
                "--dbname",
                &db.url,
            ]);
            let (code, stderr) = run(dump).await;
            assert_eq!(code, Some(0), "{stderr}");
        }
    }
    let after = acked.lock().unwrap().len();
    stop.store(true, Ordering::Relaxed);
    for sender in senders {
        sender.await.unwrap();
    }
    assert!(
        acked.lock().unwrap().len() > before.len(),
        "the load went on during the backup ({after})"
    );
    let key = daemon.admin_key.clone();
    drop(daemon);

    match &restored.postgres {
        None => {
            std::fs::copy(&copy, restored.dir.path().join("creatorflow.db")).unwrap();
        }
        Some(_) => {
            let mut restore = std::process::Command::new("pg_restore");
            restore.args([
                "--exit-on-error",
                "--dbname",
                &restored.url,
                copy.to_str().unwrap(),
            ]);
            let (code, stderr) = run(restore).await;
            assert_eq!(code, Some(0), "{stderr}");
        }
    }
    // The check reads every order acknowledged before the backup, hundreds in a row: the API's
    // rate limit (which a release build reaches) is not what this test is about.
    let mut app = spawn_app_with(restored, |s| {
        s.http.rate_limit.per_second = 0;
        tiktok_app(s);
    })
    .await;
    app.admin_key = key;
    let mut missing = Vec::new();
    for order in &before {
        let response = app
            .get(&format!("/api/v1/orders/{order}"), Some(&app.admin_key))
            .await;
        if response.status() != 200 {
            missing.push(format!("{order} ({})", response.status()));
        }
    }
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged webhooks missing: {missing:?}",
        missing.len(),
        before.len()
    );
}
