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
