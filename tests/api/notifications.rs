//! Creators' outgoing webhooks: signed, retried with backoff, dead-lettered after the last
//! attempt, replayable, and visible in the delivery log.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use creatorflow::actors::Envelope;
use creatorflow::domain::{Cause, Msg, OrderId, OrderStatus, ShopId};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestDb, assert_problem, eventually, ms, spawn_app_with};

const SHOP: &str = "7495860010010010001";

/// What the endpoint received: parsed body, signature header, delivery header, raw body.
type Received = (Value, String, String, String);

/// A creator's endpoint: answers 500 to the first `failures` requests (all of them when
/// `usize::MAX`), then 200, and keeps what it received.
#[derive(Clone, Default)]
struct Receiver {
    failures: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start(failures: usize) -> (Self, String) {
        let receiver = Self::default();
        receiver.failures.store(failures, Ordering::SeqCst);
        let state = receiver.clone();
        let server = HttpServer::new(move || {
            let state = state.clone();
            App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                let state = state.clone();
                async move {
                    let header = |name: &str| {
                        req.headers()
                            .get(name)
                            .map(|v| v.to_str().unwrap().to_owned())
                            .unwrap_or_default()
                    };
                    state.seen.lock().unwrap().push((
                        serde_json::from_slice(&body).unwrap_or(Value::Null),
                        header("x-creatorflow-signature"),
                        header("x-creatorflow-delivery"),
                        String::from_utf8_lossy(&body).into_owned(),
                    ));
                    let left = state.failures.load(Ordering::SeqCst);
                    if left > 0 {
                        if left != usize::MAX {
                            state.failures.fetch_sub(1, Ordering::SeqCst);
                        }
                        HttpResponse::InternalServerError().finish()
                    } else {
                        HttpResponse::Ok().finish()
                    }
                }
            }))
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .unwrap();
        let url = format!("http://{}/hooks", server.addrs()[0]);
        actix_rt::spawn(server.run());
        (receiver, url)
    }

    fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

async fn app(max_attempts: u32) -> TestApp {
    spawn_app_with(TestDb::new().await, |s| {
        s.notify.retry_base = ms(50);
        s.notify.max_attempts = max_attempts;
    })
    .await
}

async fn new_order(app: &TestApp, order: &str) {
    app.registry
        .submit(
            OrderId::parse(order).unwrap(),
            Envelope {
                msg: Msg::Status {
                    shop_id: ShopId::parse(SHOP).unwrap(),
                    status: OrderStatus::Unpaid,
                    update_time: chrono::Utc::now().timestamp(),
                },
                cause: Cause::Integration("test".into()),
                inbox: None,
            },
        )
        .await
        .unwrap();
}

async fn subscribe(app: &TestApp, key: &str, url: &str, events: Value) -> Value {
    let response = app
        .post_json(
            "/api/v1/notifications/subscriptions",
            key,
            &json!({ "shop_id": SHOP, "url": url, "events": events }),
        )
        .await;
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

async fn log(app: &TestApp, key: &str) -> Vec<Value> {
    let body: Value = app
        .get("/api/v1/notifications/deliveries", Some(key))
        .await
        .json()
        .await
        .unwrap();
    body["deliveries"].as_array().unwrap().clone()
}

#[actix_rt::test]
async fn a_creator_webhook_is_signed_retried_with_backoff_then_delivered() {
    let app = app(5).await;
    let key = app.shop_with_key(SHOP).await;
    let (receiver, url) = Receiver::start(2).await;
    let sub = subscribe(&app, &key, &url, json!(["order.transition.#"])).await;
    let secret = sub["secret"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 32, "a generated secret is shown once");
    let listed: Value = app
        .get("/api/v1/notifications/subscriptions", Some(&key))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        listed.to_string().find(&secret).is_none(),
        "never shown again"
    );

    new_order(&app, "5720000000000001").await;
    eventually("a delivery after two failures", || async {
        receiver.count() == 3
    })
    .await;
    eventually("the log to say delivered", || async {
        log(&app, &key)
            .await
            .first()
            .is_some_and(|d| d["state"] == "delivered")
    })
    .await;
    let entry = &log(&app, &key).await[0];
    assert_eq!(entry["attempts"], 3);
    assert_eq!(entry["last_status"], 200);
    assert_eq!(entry["event_kind"], "order.transition.received");

    let seen = receiver.seen.lock().unwrap().clone();
    let (body, signature, delivery, raw) = &seen[2];
    assert_eq!(body["order_id"], "5720000000000001");
    assert_eq!(body["schema"], "order.transition.v1");
    assert_eq!(delivery, &entry["id"].to_string());
    // The receiver can check it: HMAC-SHA256(secret, "<t>." + body).
    let t: i64 = signature
        .split(',')
        .next()
        .and_then(|p| p.strip_prefix("t="))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        signature,
        &creatorflow::notifications::signature(&secret, t, raw.as_bytes())
    );
    // Every attempt carried the same delivery.
    assert!(seen.iter().all(|(_, _, d, _)| d == delivery));
}

#[actix_rt::test]
async fn a_delivery_that_keeps_failing_is_dead_lettered_and_can_be_replayed() {
    let app = app(3).await;
    let key = app.shop_with_key(SHOP).await;
    let (receiver, url) = Receiver::start(usize::MAX).await;
    subscribe(&app, &key, &url, json!(["order.transition.*"])).await;
    // Only for what it subscribed to: low stock is not sent here.
    new_order(&app, "5720000000000002").await;
    eventually("a dead delivery", || async {
        log(&app, &key)
            .await
            .first()
            .is_some_and(|d| d["state"] == "dead")
    })
    .await;
    let dead = log(&app, &key).await[0].clone();
    assert_eq!(dead["attempts"], 3);
    assert_eq!(dead["last_status"], 500);
    assert_eq!(receiver.count(), 3, "no attempt after the last");
    let only_dead: Value = app
        .get("/api/v1/notifications/deliveries?state=dead", Some(&key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(only_dead["deliveries"].as_array().unwrap().len(), 1);

    receiver.failures.store(0, Ordering::SeqCst);
    let replay = app
        .post_json(
            &format!("/api/v1/notifications/deliveries/{}/redeliver", dead["id"]),
            &key,
            &json!({}),
        )
        .await;
    assert_eq!(replay.status(), 200);
    eventually("the replayed delivery", || async {
        log(&app, &key).await[0]["state"] == "delivered"
    })
    .await;
    assert_eq!(receiver.count(), 4);
}

#[actix_rt::test]
async fn subscriptions_are_validated_scoped_and_matched_by_event_kind() {
    let app = app(3).await;
    let key = app.shop_with_key(SHOP).await;
    let (receiver, url) = Receiver::start(0).await;
    let path = "/api/v1/notifications/subscriptions";
    let bad_url = app
        .post_json(
            path,
            &key,
            &json!({ "shop_id": SHOP, "url": "ftp://x", "events": ["order.transition.#"] }),
        )
        .await;
    assert_problem(bad_url, 400, "bad_request").await;
    let bad_event = app
        .post_json(
            path,
            &key,
            &json!({ "shop_id": SHOP, "url": url, "events": ["orders.everything"] }),
        )
        .await;
    assert_problem(bad_event, 400, "bad_request").await;
    let other = app.shop_with_key("7495860010010010999").await;
    let forbidden = app
        .post_json(
            path,
            &other,
            &json!({ "shop_id": SHOP, "url": url, "events": ["order.transition.#"] }),
        )
        .await;
    assert_eq!(forbidden.status(), 403);

    let shipped_only = subscribe(&app, &key, &url, json!(["order.transition.shipped"])).await;
    // A second subscription takes every transition: once it has the new order's, the same
    // message was matched against the shipped-only one too.
    let (watcher, watcher_url) = Receiver::start(0).await;
    let everything = subscribe(&app, &key, &watcher_url, json!(["order.transition.#"])).await;
    new_order(&app, "5720000000000003").await;
    eventually(
        "the catch-all subscription to get the new order",
        || async { watcher.count() == 1 },
    )
    .await;
    assert_eq!(receiver.count(), 0, "a received order is not a shipped one");
    let deliveries = log(&app, &key).await;
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    assert_eq!(deliveries[0]["subscription_id"], everything["id"]);

    let removed = app
        .client
        .delete(app.url(&format!("{path}/{}", shipped_only["id"])))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 403, "another shop cannot remove it");
    let removed = app
        .client
        .delete(app.url(&format!("{path}/{}", shipped_only["id"])))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 204);
}

/// The notify consumer uses the subscriptions it read for up to a second unless this process
/// changed them: one written by another node of a cluster (here straight into the database,
/// behind this process's back) is used within that second.
#[actix_rt::test]
async fn a_subscription_another_node_wrote_is_used_within_a_second() {
    use sea_orm::ConnectionTrait;
    let app = app(3).await;
    let key = app.shop_with_key(SHOP).await;
    let (first, url) = Receiver::start(0).await;
    let made = subscribe(&app, &key, &url, json!(["order.transition.#"])).await;
    new_order(&app, "5720000000000010").await;
    eventually("the subscription made here to get the order", || async {
        first.count() == 1
    })
    .await;
    let (second, second_url) = Receiver::start(0).await;
    let raw = sea_orm::Database::connect(&app.db.url).await.unwrap();
    raw.execute_unprepared(&format!(
        "INSERT INTO webhook_subscriptions (shop_id, url, events, secret_enc, created_at) \
         SELECT shop_id, '{second_url}', events, secret_enc, created_at \
         FROM webhook_subscriptions WHERE id = {}",
        made["id"]
    ))
    .await
    .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    new_order(&app, "5720000000000011").await;
    eventually(
        "the other node's subscription to get the next order",
        || async { second.count() == 1 },
    )
    .await;
    eventually("the first subscription to get it too", || async {
        first.count() == 2
    })
    .await;
}
