use crate::helpers::{assert_problem, spawn_app};

#[actix_web::test]
async fn livez_says_alive() {
    let app = spawn_app().await;
    let response = app.get("/livez", None).await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "alive");
}

#[actix_web::test]
async fn readyz_is_ready_once_migrations_ran() {
    let app = spawn_app().await;
    let response = app.get("/readyz", None).await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ready");
}

#[actix_web::test]
async fn readyz_answers_503_with_a_reason_when_the_database_is_gone() {
    let app = spawn_app().await;
    app.db.destroy().await;
    let response = app.get("/readyz", None).await;
    assert!(response.headers().contains_key("retry-after"));
    let body = assert_problem(response, 503, "not_ready").await;
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("database"),
        "the reason names the database: {detail}"
    );
    // Liveness is about the process, not its dependencies.
    assert_eq!(app.get("/livez", None).await.status(), 200);
}

#[actix_web::test]
async fn readyz_answers_503_when_a_migration_is_pending() {
    let app = spawn_app().await;
    let out = crate::helpers::run_cli(&app.db, &["migrate", "down"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body = assert_problem(app.get("/readyz", None).await, 503, "not_ready").await;
    assert!(
        body["detail"].as_str().unwrap().contains("pending"),
        "{body}"
    );
}

#[actix_web::test]
async fn metrics_count_requests_by_route_pattern_and_status() {
    let app = spawn_app().await;
    app.get("/livez", None).await;
    app.get("/api/v1/shops/12345", Some(&app.admin_key)).await;
    let response = app.get("/metrics", None).await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    assert!(
        text.contains(
            r#"creatorflow_http_requests_total{method="GET",route="/livez",status="200"}"#
        ),
        "{text}"
    );
    // The pattern, never the id: label values stay bounded.
    assert!(
        text.contains(r#"route="/api/v1/shops/{shop_id}",status="404""#),
        "{text}"
    );
    // (Not a bare "12345": a duration sum may hold those digits.)
    assert!(!text.contains("shops/12345"), "{text}");
    assert!(text.contains("creatorflow_http_request_duration_seconds_bucket"));
    assert!(text.contains("creatorflow_build_info{version=\""));
}

#[actix_web::test]
async fn unknown_routes_are_problem_json_404_with_a_request_id() {
    let app = spawn_app().await;
    let response = app.get("/no/such/thing", None).await;
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(request_id.len(), 36, "a uuid: {request_id}");
    assert_problem(response, 404, "not_found").await;
}

#[actix_web::test]
async fn the_dashboard_page_is_served_at_the_root() {
    let app = spawn_app().await;
    let response = app.get("/", None).await;
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("CreatorFlow"));
}

/// The metric names a file of queries reads (recording rules' `a:b:c` names aside), with the
/// histogram suffixes taken off.
fn metrics_read_by(text: &str) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("creatorflow_") {
        let before = rest[..at].chars().last();
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[at + name.len()..];
        if before == Some(':') || name.ends_with('_') {
            continue;
        }
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(&name);
        names.insert(base.to_owned());
    }
    names
}

#[actix_web::test]
async fn every_metric_the_alert_rules_and_the_board_read_is_exported_by_a_fresh_daemon() {
    let db = crate::helpers::TestDb::new().await;
    let mut daemon = crate::helpers::Daemon::start_with(
        &db,
        &[
            ("CREATORFLOW__TIKTOK__APP_KEY", crate::webhooks::APP_KEY),
            (
                "CREATORFLOW__TIKTOK__APP_SECRET",
                crate::webhooks::APP_SECRET,
            ),
        ],
    );
    let base = format!("http://{}", daemon.addr);
    let client = reqwest::Client::new();
    // One webhook: an order is created, committed and announced.
    let now = chrono::Utc::now().timestamp();
    let body = format!(
        r#"{{"type":1,"tts_notification_id":"1","shop_id":"7494049642642441621","timestamp":{now},"data":{{"order_id":"576600000000000001","order_status":"AWAITING_SHIPMENT","update_time":{now}}}}}"#
    );
    let answer = crate::webhooks::signed(&client, &base, body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let rules = std::fs::read_to_string(root.join("deploy/prometheus/alerts.yml")).unwrap();
    let board = std::fs::read_to_string(root.join("deploy/grafana/creatorflow.json")).unwrap();
    let wanted: Vec<(String, &str)> = metrics_read_by(&rules)
        .into_iter()
        .map(|m| (m, "alerts.yml"))
        .chain(
            metrics_read_by(&board)
                .into_iter()
                .map(|m| (m, "creatorflow.json")),
        )
        .collect();
    assert!(wanted.len() >= 15, "{wanted:?}");
    let exported = crate::helpers::eventually("the sampled gauges", || async {
        let text = client
            .get(format!("{base}/metrics"))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.contains("creatorflow_log_lag_events").then_some(text)
    })
    .await;
    // The cluster's series come from a member only (a single node has no slots to hold, and
    // exporting 0 would raise the alert); `cluster::the_cluster_endpoint…` checks a member's.
    let missing: Vec<_> = wanted
        .iter()
        .filter(|(m, _)| !m.starts_with("creatorflow_cluster_"))
        .filter(|(m, _)| !exported.lines().any(|l| l.starts_with(m.as_str())))
        .collect();
    assert!(missing.is_empty(), "read but not exported: {missing:?}");
    // The series the webhook alerts count exist at 0 before the first refusal or quarantine:
    // a counter that first appears at 1 is no increase to Prometheus.
    for series in [
        r#"creatorflow_tiktok_webhooks_total{type="UNVERIFIED",outcome="invalid_signature"} 0"#,
        r#"creatorflow_tiktok_webhooks_total{type="ORDER_STATUS_CHANGE",outcome="malformed"} 0"#,
        r#"creatorflow_tiktok_webhooks_total{type="UNHANDLED",outcome="malformed"} 0"#,
        r#"creatorflow_tiktok_webhooks_total{type="UNPARSED",outcome="malformed"} 0"#,
    ] {
        assert!(
            exported.lines().any(|l| l == series),
            "{series} is not exported"
        );
    }
    // A webhook signed with another secret and a signed one that cannot be read count there.
    let forged = client
        .post(format!("{base}/webhooks/tiktok"))
        .header("content-type", "application/json")
        .header("authorization", "0".repeat(64))
        .body(r#"{"type":1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    let unreadable = crate::webhooks::signed(
        &client,
        &base,
        r#"{"type":1,"shop_id":"1","data":{"update_time":1}}"#.into(),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(unreadable.status(), 400);
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for series in [
        r#"creatorflow_tiktok_webhooks_total{type="UNVERIFIED",outcome="invalid_signature"} 1"#,
        r#"creatorflow_tiktok_webhooks_total{type="ORDER_STATUS_CHANGE",outcome="malformed"} 1"#,
    ] {
        assert!(
            text.lines().any(|l| l == series),
            "{series} is not exported"
        );
    }
    daemon.signal(nix::sys::signal::Signal::SIGTERM);
    daemon.wait_exit(std::time::Duration::from_secs(20));
}

#[test]
fn every_alert_has_a_severity_a_wait_and_a_runbook_section() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let rules = std::fs::read_to_string(root.join("deploy/prometheus/alerts.yml")).unwrap();
    let runbook = std::fs::read_to_string(root.join("docs/RUNBOOK.md")).unwrap();
    // GitHub's anchors: the heading in lower case, spaces as hyphens.
    let anchors: Vec<String> = runbook
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(|h| h.trim().to_lowercase().replace(' ', "-"))
        .collect();
    let alerts: Vec<&str> = rules.split("- alert: ").skip(1).collect();
    assert_eq!(
        alerts.len(),
        11,
        "one alert per seed threshold, slots without an owner (cluster mode), and webhooks \
         refused or kept in quarantine"
    );
    for alert in alerts {
        let name = alert.lines().next().unwrap();
        assert!(alert.contains("for: "), "{name} has no `for:`");
        assert!(
            alert.contains("severity: critical") || alert.contains("severity: warning"),
            "{name} has no severity"
        );
        assert!(alert.contains("summary: "), "{name} has no summary");
        let anchor = alert
            .split("docs/RUNBOOK.md#")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("{name} has no runbook link"));
        assert!(
            anchors.iter().any(|a| a == anchor),
            "{name}: no section #{anchor} in docs/RUNBOOK.md"
        );
    }
}
