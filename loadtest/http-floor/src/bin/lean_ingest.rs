//! The least a verified, durable, deduplicated webhook ingest costs on this machine: the
//! reference issue 20 measures the daemon against ("a lean group-commit design of the same
//! verified, durable, deduplicated ingest"), built here so that both run in one session.
//!
//! actix-web with two workers and no middleware; each `POST /webhooks/tiktok` has its
//! signature checked (the daemon's own `tiktok-wire` verifier) and its notification parsed,
//! then waits for a group commit: four writers, each taking every delivery queued when it is
//! free, write a batch in one statement (the log row with its unique dedupe key, and the
//! order's state row, upserted from the newest of the batch) and answer each delivery once
//! PostgreSQL has committed it. A redelivery is answered 200 and writes nothing. What it leaves
//! out, by design: an actor per order, transitions checked against the order's state, history
//! sequence numbers, log positions and subscriptions, list indexes, metrics, request ids,
//! live events and effects.
//!
//! Usage: lean_ingest PORT POSTGRES_URL APP_KEY APP_SECRET (creates its two tables, `lean_events`
//! and `lean_orders`, if missing; with `LEAN_INDEXES=daemon` in the environment, also the
//! daemon's history and list indexes).

#[global_allocator]
static A: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, get, post, web};
use serde::Deserialize;
use sqlx::postgres::{PgPool, PgPoolOptions};
use tiktok_wire::signature::WebhookVerifier;
use tokio::sync::{Mutex, mpsc, oneshot};

const WRITERS: usize = 4;
const MAX_BATCH: usize = 2_000;

const SCHEMA: &str = "\
CREATE TABLE IF NOT EXISTS lean_events (\
  position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, \
  dedupe_key text COLLATE \"C\" NOT NULL UNIQUE, \
  order_id text COLLATE \"C\" NOT NULL, \
  status text NOT NULL, \
  payload jsonb NOT NULL, \
  created_at timestamptz NOT NULL); \
CREATE TABLE IF NOT EXISTS lean_orders (\
  id text COLLATE \"C\" PRIMARY KEY, \
  shop_id text NOT NULL, \
  status text NOT NULL, \
  stage text NOT NULL DEFAULT 'received', \
  update_time bigint NOT NULL, \
  updated_at timestamptz NOT NULL)";

/// With `LEAN_INDEXES=daemon`: the indexes the daemon's hot path maintains besides these keys
/// (an order's history in order, and the order lists by shop, status and stage, each by update
/// time), to measure what they cost on their own.
const DAEMON_INDEXES: &str = "\
CREATE INDEX IF NOT EXISTS lean_events_history ON lean_events (order_id, position); \
CREATE INDEX IF NOT EXISTS lean_orders_shop ON lean_orders (shop_id, updated_at, id); \
CREATE INDEX IF NOT EXISTS lean_orders_status ON lean_orders (shop_id, status, updated_at, id); \
CREATE INDEX IF NOT EXISTS lean_orders_stage ON lean_orders (shop_id, stage, updated_at, id)";

/// One statement per batch: the log rows whose key is new, then each order's newest state
/// among them (an older notification arriving late does not move an order back).
const BATCH: &str = "\
WITH log AS ( \
  INSERT INTO lean_events (dedupe_key, order_id, status, payload, created_at) \
  SELECT k, o, st, p::jsonb, now() FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[]) AS u(k, o, st, p) \
  ON CONFLICT (dedupe_key) DO NOTHING RETURNING dedupe_key \
), newest AS ( \
  SELECT DISTINCT ON (o) o, sh, st, ut FROM UNNEST($1::text[], $2::text[], $3::text[], $5::text[], $6::int8[]) AS u(k, o, st, sh, ut) \
  WHERE k IN (SELECT dedupe_key FROM log) ORDER BY o, ut DESC \
) \
INSERT INTO lean_orders (id, shop_id, status, update_time, updated_at) \
SELECT o, sh, st, ut, now() FROM newest \
ON CONFLICT (id) DO UPDATE SET status = excluded.status, update_time = excluded.update_time, \
updated_at = excluded.updated_at WHERE lean_orders.update_time <= excluded.update_time";

#[derive(Deserialize)]
struct Notification<'a> {
    #[serde(borrow)]
    tts_notification_id: &'a str,
    #[serde(borrow)]
    shop_id: &'a str,
    #[serde(borrow)]
    data: Data<'a>,
}

#[derive(Deserialize)]
struct Data<'a> {
    #[serde(borrow)]
    order_id: &'a str,
    #[serde(borrow)]
    order_status: &'a str,
    update_time: i64,
}

struct Delivery {
    key: String,
    order: String,
    status: String,
    shop: String,
    update_time: i64,
    payload: String,
    done: oneshot::Sender<bool>,
}

type Queue = mpsc::UnboundedSender<Delivery>;

#[get("/{probe:livez|readyz}")]
async fn livez() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(r#"{"status":"ok"}"#)
}

#[post("/webhooks/tiktok")]
async fn hook(
    req: HttpRequest,
    body: web::Bytes,
    verifier: web::Data<WebhookVerifier>,
    queue: web::Data<Queue>,
) -> HttpResponse {
    let signature = req
        .headers()
        .get("authorization")
        .map_or(&b""[..], |v| v.as_bytes());
    if !verifier.verify(&body, signature) {
        return HttpResponse::Unauthorized().finish();
    }
    let Ok(n) = serde_json::from_slice::<Notification>(&body) else {
        return HttpResponse::BadRequest().finish();
    };
    let (done, committed) = oneshot::channel();
    let delivery = Delivery {
        key: format!("tts:{}", n.tts_notification_id),
        order: n.data.order_id.to_owned(),
        status: n.data.order_status.to_owned(),
        shop: n.shop_id.to_owned(),
        update_time: n.data.update_time,
        // The body is valid JSON (it parsed), so PostgreSQL's jsonb takes it as it is.
        payload: String::from_utf8_lossy(&body).into_owned(),
        done,
    };
    if queue.send(delivery).is_err() {
        return HttpResponse::ServiceUnavailable().finish();
    }
    match committed.await {
        Ok(true) => HttpResponse::Ok()
            .content_type("application/json")
            .body(r#"{"received":true}"#),
        _ => HttpResponse::ServiceUnavailable().finish(),
    }
}

/// Takes every queued delivery when free, writes them in one statement, answers each.
async fn writer(pool: PgPool, queue: Arc<Mutex<mpsc::UnboundedReceiver<Delivery>>>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        if queue.lock().await.recv_many(&mut batch, MAX_BATCH).await == 0 {
            return;
        }
        let column = |f: fn(&Delivery) -> &str| batch.iter().map(f).collect::<Vec<_>>();
        let written = sqlx::query(BATCH)
            .bind(column(|d| &d.key))
            .bind(column(|d| &d.order))
            .bind(column(|d| &d.status))
            .bind(column(|d| &d.payload))
            .bind(column(|d| &d.shop))
            .bind(batch.iter().map(|d| d.update_time).collect::<Vec<_>>())
            .execute(&pool)
            .await;
        if let Err(e) = &written {
            eprintln!("batch of {} failed: {e}", batch.len());
        }
        for d in batch.drain(..) {
            let _ = d.done.send(written.is_ok());
        }
    }
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, port, url, app_key, app_secret] = &args[..] else {
        panic!("usage: lean_ingest PORT POSTGRES_URL APP_KEY APP_SECRET");
    };
    let verifier = WebhookVerifier::new(app_key, app_secret.as_bytes());
    let (queue, receiver) = mpsc::unbounded_channel::<Delivery>();
    let receiver = Arc::new(Mutex::new(receiver));
    // The writers on a runtime thread of their own, like the daemon's engine thread.
    let url = url.clone();
    let (ready, schema) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("lean-engine".into())
        .spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime")
                .block_on(async move {
                    let pool = PgPoolOptions::new()
                        .max_connections(WRITERS as u32)
                        .connect(&url)
                        .await
                        .expect("PostgreSQL");
                    sqlx::raw_sql(SCHEMA).execute(&pool).await.expect("schema");
                    if std::env::var("LEAN_INDEXES").is_ok_and(|v| v == "daemon") {
                        sqlx::raw_sql(DAEMON_INDEXES)
                            .execute(&pool)
                            .await
                            .expect("indexes");
                    }
                    ready.send(()).expect("main waits for the schema");
                    let writers: Vec<_> = (0..WRITERS)
                        .map(|_| tokio::spawn(writer(pool.clone(), receiver.clone())))
                        .collect();
                    for w in writers {
                        let _ = w.await;
                    }
                });
        })?;
    // Served only once the tables exist: the load script starts sending at the first answer.
    schema.recv().expect("the writers' thread started");
    let address = format!("127.0.0.1:{port}");
    actix_web::rt::System::new().block_on(async move {
        HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(verifier.clone()))
                .app_data(web::Data::new(queue.clone()))
                .service(livez)
                .service(hook)
        })
        .workers(2)
        .bind(address)?
        .run()
        .await
    })
}
