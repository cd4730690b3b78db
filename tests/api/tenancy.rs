//! Every REST route, aimed by one shop's key at another shop's data: 403 or 404 for what names
//! it, lists without it, and no change to it. The routes come from the OpenAPI document, so a
//! new route fails this test until it says how it keeps shops apart.

use serde_json::{Value, json};

use crate::helpers::{TestApp, order_at, request_of, spawn_app};
use creatorflow::domain::OrderStatus;

const SHOP_A: &str = "7200000000000000001";
const SHOP_B: &str = "7200000000000000002";
const ORDER_A: &str = "8800000000000000001";

/// What one route must do when shop B's key aims it at shop A.
enum Expect {
    /// 403 or 404: it names shop A's data.
    Refused,
    /// 200 (or 202), and the answer mentions nothing of shop A; or 403 for asking for it.
    Without,
    /// Not a shop's data: anyone with a key (templates), or not under a key at all.
    Untenanted,
    /// Covered by its own tests (the event stream: `events.rs`; GraphQL: `graphql.rs`).
    Elsewhere,
}

fn expectation(method: &str, path: &str) -> Expect {
    use Expect::*;
    match (method, path) {
        ("GET", "/livez" | "/readyz" | "/metrics" | "/" | "/api/v1/openapi.json") => Untenanted,
        ("POST", "/webhooks/tiktok") | ("GET", "/oauth/tiktok/callback") => Untenanted,
        ("GET", "/api/v1/workflows" | "/api/v1/workflows/{name}") => Untenanted,
        ("GET", "/api/v1/events") | ("POST" | "GET", "/graphql") => Elsewhere,
        // The dashboard takes a session, not a key: `dashboard.rs` and `e2e/`.
        (_, path) if path.starts_with("/ui/") => Elsewhere,
        (
            "GET",
            "/api/v1/orders"
            | "/api/v1/shops"
            | "/api/v1/inventory"
            | "/api/v1/bulk-jobs"
            | "/api/v1/dead-letters"
            | "/api/v1/analytics/summary"
            | "/api/v1/pick-list"
            | "/api/v1/notifications/subscriptions"
            | "/api/v1/notifications/deliveries",
        ) => Without,
        ("POST", "/api/v1/workflows/{name}/simulate" | "/api/v1/bulk-jobs") => Without,
        _ => Refused,
    }
}

/// The request for a route, with shop A's ids in its path and a body that is valid but for
/// whose data it names.
fn request(path: &str, ids: &Value) -> (String, Value) {
    let filled = path
        .replace("{order_id}", ORDER_A)
        .replace("{shop_id}", SHOP_A)
        .replace("{sku_id}", "SKU-A")
        .replace("{request_id}", "CX1")
        .replace("{name}", "standard");
    let id = |what: &str| ids[what].to_string();
    let filled = if filled.starts_with("/api/v1/bulk-jobs/") {
        filled.replace("{id}", &id("job"))
    } else if filled.starts_with("/api/v1/notifications/subscriptions/") {
        filled.replace("{id}", &id("subscription"))
    } else {
        filled.replace("{id}", "1")
    };
    let body = match path {
        "/api/v1/orders/{order_id}/hold" | "/api/v1/orders/{order_id}/cancel" => {
            json!({ "reason": "x", "expected_version": 1 })
        }
        "/api/v1/orders/{order_id}/tags" => json!({ "add": ["x"], "expected_version": 1 }),
        // The order is at version 2 once its buyer's request is recorded.
        "/api/v1/orders/{order_id}/requests/{request_id}/approve" => {
            json!({ "expected_version": 2 })
        }
        "/api/v1/orders/{order_id}/requests/{request_id}/reject" => {
            json!({ "reason": "x", "expected_version": 2 })
        }
        "/api/v1/orders/{order_id}/priority" => json!({ "priority": 5, "expected_version": 1 }),
        "/api/v1/inventory/{shop_id}/{sku_id}" => json!({ "on_hand": 1 }),
        "/api/v1/inventory/{shop_id}/{sku_id}/adjust" => json!({ "delta": -1 }),
        "/api/v1/notifications/subscriptions" => json!({
            "shop_id": SHOP_A, "url": "http://127.0.0.1:9/hook", "events": ["order.transition.#"]
        }),
        "/api/v1/shops" => json!({ "tiktok_shop_id": "7200000000000000003", "name": "x" }),
        "/api/v1/api-keys" => json!({ "name": "x", "shop_id": SHOP_A, "scope": "operate" }),
        "/api/v1/flags/{name}" => json!({ "enabled": true, "percent": 100 }),
        "/api/v1/bulk-jobs" => {
            json!({ "action": "hold", "ids": [ORDER_A], "params": { "reason": "x" } })
        }
        "/api/v1/workflows/{name}/simulate" => {
            json!({ "from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z" })
        }
        _ => json!({ "expected_version": 1 }),
    };
    let query = match path {
        "/api/v1/analytics/summary" | "/api/v1/inventory" => format!("?shop_id={SHOP_A}"),
        "/api/v1/orders" => format!("?shop={SHOP_A}"),
        "/api/v1/pick-list" => format!("?query=shop%3A{SHOP_A}"),
        _ => String::new(),
    };
    (format!("{filled}{query}"), body)
}

async fn call(app: &TestApp, key: &str, method: &str, path: &str, body: &Value) -> (u16, String) {
    let url = app.url(path);
    let request = match method {
        "GET" => app.client.get(url),
        "POST" => app.client.post(url).json(body),
        "PUT" => app.client.put(url).json(body),
        "DELETE" => app.client.delete(url),
        other => panic!("no test for {other}"),
    };
    let response = request.bearer_auth(key).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[actix_web::test]
async fn no_rest_route_lets_one_shops_key_see_or_change_another_shops_data() {
    let app = spawn_app().await;
    let key_a = app.shop_with_key(SHOP_A).await;
    let key_b = app.shop_with_key(SHOP_B).await;
    order_at(&app, SHOP_A, ORDER_A, OrderStatus::AwaitingShipment).await;
    request_of(
        &app,
        SHOP_A,
        ORDER_A,
        "CX1",
        "CANCELLATION_REQUEST_PENDING",
        1_700_000_100,
    )
    .await;
    let (status, _) = call(
        &app,
        &key_a,
        "PUT",
        &format!("/api/v1/inventory/{SHOP_A}/SKU-A"),
        &json!({ "on_hand": 7 }),
    )
    .await;
    assert_eq!(status, 200);
    let (status, job) = call(
        &app,
        &key_a,
        "POST",
        "/api/v1/bulk-jobs",
        &json!({ "action": "export", "query": "" }),
    )
    .await;
    assert_eq!(status, 202, "{job}");
    let (status, subscription) = call(
        &app,
        &key_a,
        "POST",
        "/api/v1/notifications/subscriptions",
        &json!({ "shop_id": SHOP_A, "url": "http://127.0.0.1:9/hook", "events": ["inventory.low_stock"] }),
    )
    .await;
    assert_eq!(status, 201, "{subscription}");
    let ids = json!({
        "job": serde_json::from_str::<Value>(&job).unwrap()["id"],
        "subscription": serde_json::from_str::<Value>(&subscription).unwrap()["id"],
    });

    let spec: Value = app
        .get("/api/v1/openapi.json", None)
        .await
        .json()
        .await
        .unwrap();
    let mut checked = 0;
    for (path, operations) in spec["paths"].as_object().unwrap() {
        for method in operations.as_object().unwrap().keys() {
            let method = method.to_uppercase();
            if !["GET", "POST", "PUT", "DELETE"].contains(&method.as_str()) {
                continue;
            }
            let expect = expectation(&method, path);
            if matches!(expect, Expect::Untenanted | Expect::Elsewhere) {
                continue;
            }
            let (url, body) = request(path, &ids);
            let (status, answer) = call(&app, &key_b, &method, &url, &body).await;
            match expect {
                Expect::Refused => assert!(
                    [403, 404].contains(&status),
                    "{method} {url}: {status} {answer}"
                ),
                _ if status == 403 => {}
                _ => {
                    assert!(
                        [200, 202].contains(&status),
                        "{method} {url}: {status} {answer}"
                    );
                    for theirs in [SHOP_A, ORDER_A] {
                        assert!(
                            !answer.contains(theirs),
                            "{method} {url} shows {theirs}: {answer}"
                        );
                    }
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 30, "{checked} routes checked");

    // Nothing of shop A changed: the order, its stock, its job, its subscription.
    let order: Value = app
        .get(&format!("/api/v1/orders/{ORDER_A}"), Some(&key_a))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(order["version"], 2, "{order}");
    assert_eq!(order["tags"], json!([]));
    let stock: Value = app
        .get(&format!("/api/v1/inventory/{SHOP_A}/SKU-A"), Some(&key_a))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stock["on_hand"], 7, "{stock}");
    let subscriptions: Value = app
        .get("/api/v1/notifications/subscriptions", Some(&key_a))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(subscriptions["subscriptions"].as_array().unwrap().len(), 1);
    let job: Value = app
        .get(&format!("/api/v1/bulk-jobs/{}", ids["job"]), Some(&key_a))
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(job["state"], "canceled", "{job}");
}

/// The rows an unfiltered `SELECT <column> FROM <table>` returns through `txn`.
async fn unfiltered(txn: &impl sea_orm::ConnectionTrait, table: &str, column: &str) -> Vec<String> {
    use sea_orm::Statement;
    let sql = format!("SELECT {column} FROM {table} ORDER BY 1");
    txn.query_all_raw(Statement::from_string(txn.get_database_backend(), sql))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get_by_index::<String>(0).unwrap())
        .collect()
}

#[actix_web::test]
async fn a_shops_reads_see_only_its_rows_even_when_a_query_forgets_to_filter() {
    use creatorflow::config::Backend;
    use creatorflow::domain::{Scope, ShopId};
    use creatorflow::persistence::{Database, OrderFilter};

    let app = spawn_app().await;
    app.shop_with_key(SHOP_A).await;
    app.shop_with_key(SHOP_B).await;
    order_at(&app, SHOP_A, ORDER_A, OrderStatus::AwaitingShipment).await;
    order_at(
        &app,
        SHOP_B,
        "8800000000000000002",
        OrderStatus::AwaitingShipment,
    )
    .await;
    for shop in [SHOP_A, SHOP_B] {
        let set = app
            .client
            .put(app.url(&format!("/api/v1/inventory/{shop}/SKU-{shop}")))
            .bearer_auth(&app.admin_key)
            .json(&json!({ "on_hand": 3 }))
            .send()
            .await
            .unwrap();
        assert_eq!(set.status(), 200);
    }
    for (shop, order) in [(SHOP_A, ORDER_A), (SHOP_B, "8800000000000000002")] {
        use creatorflow::actors::{Envelope, Reply};
        use creatorflow::domain::{Cause, Msg, OrderId};
        let envelope = Envelope {
            msg: Msg::Detail {
                shop_id: ShopId::parse(shop).unwrap(),
                detail: Box::new(crate::helpers::sample_detail("25.60", 1_700_000_100)),
            },
            cause: Cause::Integration("tiktok".into()),
            inbox: None,
        };
        let reply = app
            .registry
            .submit(OrderId::parse(order).unwrap(), envelope);
        assert!(matches!(reply.await.unwrap(), Reply::Applied { .. }));
    }
    let db = Database::connect(&app.db.settings().database)
        .await
        .unwrap();
    let a = ShopId::parse(SHOP_A).unwrap();

    // The query layer (both backends): a shop's scope lists its orders only, whatever the
    // filter asks for.
    let everything = OrderFilter {
        limit: 50,
        ..OrderFilter::default()
    };
    let asks_for_b = OrderFilter {
        shop: Some(ShopId::parse(SHOP_B).unwrap()),
        ..everything.clone()
    };
    let scope = Scope::Shop(a.clone());
    assert!(
        db.orders()
            .list(&scope, &asks_for_b)
            .await
            .unwrap()
            .is_empty()
    );
    let listed = db.orders().list(&scope, &everything).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id.as_str(), ORDER_A);
    let viewed = db.orders().list_views(&scope, &everything).await.unwrap();
    assert_eq!(viewed.len(), 1);
    let recipient = viewed[0].detail.as_ref().and_then(|d| d.recipient.clone());
    assert_eq!(
        recipient.expect("the detail comes with its order")["name"],
        "A. Buyer"
    );

    // PostgreSQL: row-level security holds even for SQL that names no shop at all.
    if db.backend() != Backend::Postgres {
        return;
    }
    let shop_a = Scope::Shop(a.clone());
    let txn = db.reader(&shop_a).await.unwrap();
    assert_eq!(unfiltered(&txn, "orders", "shop_id").await, [SHOP_A]);
    assert_eq!(unfiltered(&txn, "shops", "id").await, [SHOP_A]);
    assert_eq!(unfiltered(&txn, "stock_levels", "shop_id").await, [SHOP_A]);
    assert_eq!(
        unfiltered(&txn, "order_events", "DISTINCT order_id").await,
        [ORDER_A],
        "events follow their order"
    );
    assert_eq!(
        unfiltered(&txn, "order_details", "order_id").await,
        [ORDER_A],
        "details follow their order"
    );
    let keys = unfiltered(&txn, "api_keys", "COALESCE(shop_id, 'admin')").await;
    assert!(keys.iter().all(|k| k == SHOP_A), "{keys:?}");
    txn.done();
    // …and it may not write, even its own shop's rows.
    let txn = db.reader(&shop_a).await.unwrap();
    let write =
        sea_orm::ConnectionTrait::execute_unprepared(&txn, "UPDATE stock_levels SET on_hand = 99")
            .await;
    let error = write.expect_err("a shop's reader cannot write").to_string();
    assert!(error.contains("permission denied"), "{error}");
    txn.done();
    // The engine's own connection still sees every shop.
    let all = db.orders().list(&Scope::Admin, &everything).await.unwrap();
    assert_eq!(all.len(), 2);
}

#[actix_web::test]
async fn a_shops_reads_carry_on_when_the_database_ends_their_connections() {
    use sea_orm::ConnectionTrait;
    let app = spawn_app().await;
    let Some((base, name)) = app.db.postgres.clone() else {
        return; // PostgreSQL only: SQLite reads through the engine's own pool.
    };
    let key = app.shop_with_key(SHOP_A).await;
    order_at(&app, SHOP_A, ORDER_A, OrderStatus::AwaitingShipment).await;
    let list = || async {
        let response = app.get("/api/v1/orders?first=50", Some(&key)).await;
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    };
    // A few reads at once: several of the shop's connections open.
    for (status, body) in futures_util::future::join_all((0..4).map(|_| list())).await {
        assert_eq!(status, 200, "{body}");
    }
    // The database ends every one of them (as a restart or an operator would).
    let admin = sea_orm::Database::connect(&base).await.unwrap();
    let ended = admin
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE datname = '{name}' \
                 AND (query LIKE '/* shop */%' OR query LIKE '%creatorflow.shop_id%')"
            ),
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap();
    assert!(ended >= 1, "the shop's connections were found");
    // The next reads still answer: the dead connections are dropped, not handed out.
    for _ in 0..4 {
        let (status, body) = list().await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains(ORDER_A), "{body}");
    }
}
