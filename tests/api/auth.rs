use serde_json::json;

use crate::helpers::{assert_problem, spawn_app, spawn_app_on};

#[actix_web::test]
async fn a_request_without_a_key_is_401_problem_json() {
    let app = spawn_app().await;
    let response = app.get("/api/v1/shops", None).await;
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert_problem(response, 401, "missing_credentials").await;

    let response = app
        .client
        .get(app.url("/api/v1/shops"))
        .header("Authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    assert_problem(response, 401, "missing_credentials").await;
}

#[actix_web::test]
async fn an_unknown_key_is_401_problem_json() {
    let app = spawn_app().await;
    let forged = format!("cf_{}", "0".repeat(64));
    assert_problem(
        app.get("/api/v1/shops", Some(&forged)).await,
        401,
        "invalid_credentials",
    )
    .await;
}

#[actix_web::test]
async fn the_admin_key_sees_every_shop() {
    let app = spawn_app().await;
    app.shop_with_key("1001").await;
    app.shop_with_key("1002").await;
    let shops: serde_json::Value = app
        .get("/api/v1/shops", Some(&app.admin_key))
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<_> = shops
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].clone())
        .collect();
    assert_eq!(ids, vec![json!("1001"), json!("1002")]);
}

#[actix_web::test]
async fn a_shop_key_sees_only_its_own_shop() {
    let app = spawn_app().await;
    let key_a = app.shop_with_key("7494049642642441621").await;
    app.shop_with_key("7494049642642441622").await;

    let shops: serde_json::Value = app
        .get("/api/v1/shops", Some(&key_a))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shops.as_array().unwrap().len(), 1);
    assert_eq!(
        shops[0]["id"], "7494049642642441621",
        "ids beyond 2^53 kept exactly"
    );

    let own = app
        .get("/api/v1/shops/7494049642642441621", Some(&key_a))
        .await;
    assert_eq!(own.status(), 200);
    let other = app
        .get("/api/v1/shops/7494049642642441622", Some(&key_a))
        .await;
    assert_problem(other, 403, "forbidden").await;
}

#[actix_web::test]
async fn only_admin_keys_add_shops_and_a_duplicate_is_409() {
    let app = spawn_app().await;
    let shop_key = app.shop_with_key("2001").await;
    let body = json!({ "tiktok_shop_id": "2002", "name": "Other" });
    assert_problem(
        app.post_json("/api/v1/shops", &shop_key, &body).await,
        403,
        "forbidden",
    )
    .await;
    assert_eq!(
        app.post_json("/api/v1/shops", &app.admin_key, &body)
            .await
            .status(),
        201
    );
    assert_problem(
        app.post_json("/api/v1/shops", &app.admin_key, &body).await,
        409,
        "already_exists",
    )
    .await;
}

#[actix_web::test]
async fn malformed_bodies_and_ids_are_400_problem_json() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/api/v1/shops"))
        .bearer_auth(&app.admin_key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_problem(response, 400, "bad_request").await;
    let body = json!({ "tiktok_shop_id": "has spaces", "name": "X" });
    let problem = assert_problem(
        app.post_json("/api/v1/shops", &app.admin_key, &body).await,
        400,
        "bad_request",
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("shop_id"),
        "{problem}"
    );
    // Ids in the path are parsed by the route: a malformed one is a 400 that names it.
    for path in [
        "/api/v1/orders/not%20an%20id",
        "/api/v1/orders/a%2Fb/history",
    ] {
        let problem = assert_problem(
            app.get(path, Some(&app.admin_key)).await,
            400,
            "bad_request",
        )
        .await;
        assert!(
            problem["detail"].as_str().unwrap().contains("order_id"),
            "{path}: {problem}"
        );
    }
    let problem = assert_problem(
        app.get("/api/v1/shops/not%20a%20shop", Some(&app.admin_key))
            .await,
        400,
        "bad_request",
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("shop_id"),
        "{problem}"
    );
}

#[actix_web::test]
async fn the_first_admin_key_is_made_once_and_survives_a_restart() {
    let app = spawn_app().await;
    let key = app.admin_key.clone();
    let db = app.stop().await;
    let app = spawn_app_on(db).await;
    assert!(app.admin_key.is_empty(), "no second admin key on restart");
    assert_eq!(app.get("/api/v1/shops", Some(&key)).await.status(), 200);
}
