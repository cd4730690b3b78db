//! `GET /api/v1/events`: order changes as they commit, scoped to the key, resumable from the
//! last event id a client saw.

use std::time::Duration;

use creatorflow::config::Backend;
use creatorflow::domain::OrderStatus;
use creatorflow::persistence::Database;
use sea_orm::ConnectionTrait;
use serde_json::Value;

use crate::helpers::{SHOP, TestApp, TestDb, assert_problem, order_at, spawn_app, spawn_app_on};

/// One server-sent event: its id, type and JSON data.
#[derive(Debug, Clone, PartialEq)]
struct Sent {
    id: Option<i64>,
    event: String,
    data: Value,
}

/// A client of the stream, reading events as they arrive.
struct Client {
    response: reqwest::Response,
    buffer: String,
}

impl Client {
    async fn open(app: &TestApp, key: &str, query: &str, last: Option<i64>) -> Self {
        let mut request = app
            .client
            .get(app.url(&format!("/api/v1/events{query}")))
            .bearer_auth(key);
        if let Some(last) = last {
            request = request.header("Last-Event-ID", last.to_string());
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// The next event (keep-alive comments and the retry hint skipped), within 10 s.
    async fn next(&mut self) -> Sent {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let Some(end) = self.buffer.find("\n\n") {
                    let block: String = self.buffer.drain(..end + 2).collect();
                    let mut sent = Sent {
                        id: None,
                        event: "message".into(),
                        data: Value::Null,
                    };
                    let mut data = None;
                    for line in block.lines() {
                        if let Some(v) = line.strip_prefix("id: ") {
                            sent.id = Some(v.parse().unwrap());
                        } else if let Some(v) = line.strip_prefix("event: ") {
                            sent.event = v.to_owned();
                        } else if let Some(v) = line.strip_prefix("data: ") {
                            data = Some(serde_json::from_str(v).unwrap());
                        }
                    }
                    if let Some(data) = data {
                        sent.data = data;
                        return sent;
                    }
                    continue;
                }
                let chunk = self
                    .response
                    .chunk()
                    .await
                    .unwrap()
                    .expect("the stream stays open");
                self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
            }
        })
        .await
        .expect("an event within 10 s")
    }

    async fn next_n(&mut self, n: usize) -> Vec<Sent> {
        let mut all = Vec::new();
        for _ in 0..n {
            all.push(self.next().await);
        }
        all
    }
}

#[actix_web::test]
async fn order_changes_stream_as_they_commit_and_a_shop_key_sees_only_its_shop() {
    let app = spawn_app().await;
    let mine = app.shop_with_key(SHOP).await;
    app.shop_with_key("999").await;
    let mut admin = Client::open(&app, &app.admin_key, "", None).await;
    let mut shop = Client::open(&app, &mine, "", None).await;

    order_at(&app, "999", "8001", OrderStatus::Unpaid).await;
    order_at(&app, SHOP, "8002", OrderStatus::AwaitingShipment).await;
    order_at(&app, SHOP, "8002", OrderStatus::InTransit).await;

    // IN_TRANSIT is two audit events: the status, then the stage that follows it.
    let seen = admin.next_n(4).await;
    let ids: Vec<&str> = seen
        .iter()
        .map(|e| e.data["order_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["8001", "8002", "8002", "8002"]);
    assert!(seen.windows(2).all(|w| w[0].id < w[1].id), "{seen:?}");
    assert!(seen.iter().all(|e| e.event == "order"));

    let theirs = shop.next_n(3).await;
    assert_eq!(theirs[0].data["order_id"], "8002");
    assert_eq!(theirs[0].data["status"], "AWAITING_SHIPMENT");
    assert_eq!(theirs[1].data["event"], "status_changed");
    assert_eq!(theirs[2].data["event"], "stage_changed");
    assert_eq!(theirs[2].data["status"], "IN_TRANSIT");
    assert_eq!(theirs[2].data["stage"], "in_transit");
    assert_eq!(theirs[2].data["shop_id"], SHOP);
    let versions: Vec<i64> = theirs
        .iter()
        .map(|e| e.data["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, [1, 2, 3]);
    assert_eq!(
        theirs[2].id, seen[3].id,
        "ids are log positions, the same for every client"
    );

    // Another shop's stream, or a type that does not exist: refused before streaming.
    let other = app
        .client
        .get(app.url("/api/v1/events?shop=999"))
        .bearer_auth(&mine)
        .send()
        .await
        .unwrap();
    assert_problem(other, 403, "forbidden").await;
    let bad = app
        .client
        .get(app.url("/api/v1/events?types=order,gossip"))
        .bearer_auth(&mine)
        .send()
        .await
        .unwrap();
    let problem = assert_problem(bad, 400, "bad_request").await;
    assert!(
        problem["detail"].as_str().unwrap().contains("gossip"),
        "{problem}"
    );
}

#[actix_web::test]
async fn a_client_that_reconnects_with_the_last_event_id_gets_what_it_missed_once() {
    let app = spawn_app().await;
    let mut first = Client::open(&app, &app.admin_key, "", None).await;
    order_at(&app, SHOP, "8101", OrderStatus::Unpaid).await;
    let last = first.next().await.id.unwrap();
    drop(first);

    // Missed while away.
    order_at(&app, SHOP, "8102", OrderStatus::Unpaid).await;
    order_at(&app, SHOP, "8103", OrderStatus::Unpaid).await;
    let mut again = Client::open(&app, &app.admin_key, "", Some(last)).await;
    order_at(&app, SHOP, "8104", OrderStatus::Unpaid).await;
    let resumed = again.next_n(3).await;
    let ids: Vec<&str> = resumed
        .iter()
        .map(|e| e.data["order_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["8102", "8103", "8104"],
        "missed ones first, then live, none twice"
    );

    // Browsers' EventSource cannot set the header: the query parameter does the same.
    let mut by_query = Client::open(
        &app,
        &app.admin_key,
        &format!("?last_event_id={last}"),
        None,
    )
    .await;
    assert_eq!(by_query.next().await.data["order_id"], "8102");

    // From before the log's start: the whole log (it is within the window), then live events.
    let mut from_start = Client::open(&app, &app.admin_key, "", Some(-1_000_000)).await;
    order_at(&app, SHOP, "8105", OrderStatus::Unpaid).await;
    let all = from_start.next_n(5).await;
    let ids: Vec<&str> = all
        .iter()
        .map(|e| e.data["order_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["8101", "8102", "8103", "8104", "8105"]);
}

/// Audit rows written straight into the log before the daemon starts: `events` of them from
/// position `first` on, `apart` positions apart (a cluster's nodes leave gaps: they draw
/// positions in blocks of 4,096 and give up what they did not use).
async fn seed_log(db: &TestDb, first: i64, events: i64, apart: i64) {
    let database = Database::connect(&db.settings().database).await.unwrap();
    database.migrate_up().await.unwrap();
    let raw = sea_orm::Database::connect(&db.url).await.unwrap();
    let at = match database.backend() {
        Backend::Postgres => "now()",
        Backend::Sqlite => "'2026-12-01T00:00:00+00:00'",
    };
    raw.execute_unprepared(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < {events}) \
         INSERT INTO order_events (position, slot, order_id, seq, kind, cause, payload, created_at) \
         SELECT {first} + i * {apart}, 0, '99{first}', i + 1, 'created', 'seeded', '{{}}', {at} FROM n"
    ))
    .await
    .unwrap();
}

/// The replay window counts events, not positions: a client far behind in positions but a few
/// events behind (as on a cluster, whose positions have gaps) gets what it missed; one more than
/// 10,000 events behind gets a reset.
#[actix_web::test]
async fn the_replay_window_counts_events_not_positions() {
    let db = TestDb::new().await;
    seed_log(&db, 1, 10_001, 1).await;
    seed_log(&db, 20_001, 3, 20_000).await;
    let app = spawn_app_on(db).await;
    order_at(&app, SHOP, "8301", OrderStatus::Unpaid).await;
    order_at(&app, SHOP, "8302", OrderStatus::Unpaid).await;

    // 50,000 positions behind, five events behind (three of them of no shop).
    let mut near = Client::open(&app, &app.admin_key, "", Some(10_001)).await;
    let missed = near.next_n(2).await;
    assert_eq!(missed[0].event, "order", "{missed:?}");
    let ids: Vec<&str> = missed
        .iter()
        .map(|e| e.data["order_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["8301", "8302"]);

    // 10,006 events behind: a reset, then live events.
    let mut far = Client::open(&app, &app.admin_key, "", Some(0)).await;
    assert_eq!(far.next().await.event, "reset");
    order_at(&app, SHOP, "8303", OrderStatus::Unpaid).await;
    assert_eq!(far.next().await.data["order_id"], "8303");
}

#[actix_web::test]
async fn a_bulk_jobs_progress_streams_to_its_shop_only() {
    let app = spawn_app().await;
    let mine = app.shop_with_key(SHOP).await;
    let theirs = app.shop_with_key("999").await;
    for n in 0..5 {
        order_at(
            &app,
            SHOP,
            &format!("83{n:02}"),
            OrderStatus::AwaitingShipment,
        )
        .await;
    }
    let mut watching = Client::open(&app, &mine, "?types=bulk_job", None).await;
    let mut other = Client::open(&app, &theirs, "?types=bulk_job,order", None).await;
    let job: Value = app
        .post_json(
            "/api/v1/bulk-jobs",
            &mine,
            &serde_json::json!({ "action": "tags_add", "query": "status:AWAITING_SHIPMENT", "params": { "tags": ["seen"] } }),
        )
        .await
        .json()
        .await
        .unwrap();
    let mut last = watching.next().await;
    while last.data["state"] != "completed" {
        assert_eq!(last.event, "bulk_job");
        assert_eq!(last.id, None, "progress is not in the log");
        last = watching.next().await;
    }
    assert_eq!(last.data["job_id"], job["id"]);
    assert_eq!(last.data["succeeded"], 5);
    // The other shop's key saw neither the job nor its orders change: its next event is its own.
    order_at(&app, "999", "8399", OrderStatus::Unpaid).await;
    assert_eq!(other.next().await.data["order_id"], "8399");
}
