//! What row-level security costs a shop's order list, side by side in one run: the same page
//! of one shop's orders read on the engine's own connection (the query filters by shop), and
//! through `Database::reader` (a transaction as `creatorflow_shop`, policies on; PostgreSQL).
//!
//! ```sh
//! CREATORFLOW__DATABASE__URL=postgres://postgres@127.0.0.1:5432/rls_bench \
//!   cargo run --release --example rls_bench -- --orders 100000 --rounds 2000
//! ```
//!
//! The database must exist and be empty. Prints p50, p99 and the ratio of each.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use creatorflow::actors::Envelope;
use creatorflow::app::Application;
use creatorflow::config::Settings;
use creatorflow::domain::{Cause, Msg, OrderId, OrderStatus, Scope, ShopId};
use creatorflow::persistence::OrderFilter;
use futures_util::future::join_all;

mod common;
use common::arg;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SHOPS: [&str; 2] = ["7494049642642441621", "7494049642642441622"];

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p) as usize].as_secs_f64() * 1000.0
}

fn report(what: &str, plain: &mut [Duration], secured: &mut [Duration]) {
    plain.sort();
    secured.sort();
    for (name, p) in [("p50", 0.50), ("p99", 0.99)] {
        let (a, b) = (percentile(plain, p), percentile(secured, p));
        println!(
            "{what}, {name}: filtered {a:.3} ms, row-level security {b:.3} ms, ratio {:.3}",
            b / a
        );
    }
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let orders = arg("--orders", 100_000);
    let rounds = arg("--rounds", 2000);
    let mut env: HashMap<String, String> = std::env::vars()
        .filter(|(k, _)| k.starts_with("CREATORFLOW__"))
        .collect();
    env.insert("CREATORFLOW__HTTP__LISTEN".into(), "127.0.0.1:0".into());
    env.entry("CREATORFLOW__LOG__LEVEL".into())
        .or_insert("error".into());
    env.insert("CREATORFLOW__WORKFLOW__ENABLED".into(), "false".into());
    env.insert(
        "CREATORFLOW__HTTP__RATE_LIMIT__PER_SECOND".into(),
        "0".into(),
    );
    let settings = Settings::load_with_env(None, Some(env))?;
    creatorflow::telemetry::init_logs(&settings.log);
    let mut app = Application::build(&settings).await?;
    let admin = app
        .take_first_admin_key()
        .expect("a fresh database gets an admin key")
        .reveal()
        .to_owned();
    let base = format!("http://{}", app.addr());
    let registry = app.registry().clone();
    let db = app.db().clone();
    let (stop_app, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = actix_rt::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));

    let shops: Vec<ShopId> = SHOPS.iter().map(|s| ShopId::parse(s).unwrap()).collect();
    let started = Instant::now();
    for chunk in (0..orders).collect::<Vec<_>>().chunks(2000) {
        join_all(chunk.iter().map(|n| {
            let id = OrderId::parse(&format!("5{n:011}")).unwrap();
            let envelope = Envelope {
                msg: Msg::Status {
                    shop_id: shops[n % 2].clone(),
                    status: OrderStatus::AwaitingShipment,
                    update_time: 1_700_000_000 + *n as i64,
                },
                cause: Cause::Poll,
                inbox: None,
            };
            registry.submit(id, envelope)
        }))
        .await;
    }
    eprintln!(
        "{orders} orders in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let page = OrderFilter {
        shop: Some(shops[0].clone()),
        limit: 50,
        ..OrderFilter::default()
    };
    let as_shop = Scope::Shop(shops[0].clone());
    let (mut plain, mut secured) = (Vec::new(), Vec::new());
    for round in 0..rounds + 100 {
        let t = Instant::now();
        let a = db.orders().list(&Scope::Admin, &page).await?;
        let plain_took = t.elapsed();
        let t = Instant::now();
        let b = db.orders().list(&as_shop, &page).await?;
        let secured_took = t.elapsed();
        assert_eq!(a.len(), 50);
        assert_eq!(a.len(), b.len());
        if round >= 100 {
            plain.push(plain_took);
            secured.push(secured_took);
        }
    }
    report("store, page of 50", &mut plain, &mut secured);

    // The same through HTTP: an admin key asking for the shop, and the shop's own key.
    let client = reqwest::Client::new();
    let post = |path: &str| client.post(format!("{base}{path}")).bearer_auth(&admin);
    post("/api/v1/shops")
        .json(&serde_json::json!({ "tiktok_shop_id": SHOPS[0], "name": "Bench" }))
        .send()
        .await?;
    let shop_key: serde_json::Value = post("/api/v1/api-keys")
        .json(&serde_json::json!({ "name": "bench", "shop_id": SHOPS[0], "scope": "read" }))
        .send()
        .await?
        .json()
        .await?;
    let shop_key = shop_key["key"].as_str().unwrap().to_owned();
    let (mut plain, mut secured) = (Vec::new(), Vec::new());
    for round in 0..rounds + 100 {
        let t = Instant::now();
        let a = client
            .get(format!("{base}/api/v1/orders?shop={}&first=50", SHOPS[0]))
            .bearer_auth(&admin)
            .send()
            .await?;
        assert!(a.status().is_success());
        a.bytes().await?;
        let plain_took = t.elapsed();
        let t = Instant::now();
        let b = client
            .get(format!("{base}/api/v1/orders?first=50"))
            .bearer_auth(&shop_key)
            .send()
            .await?;
        assert!(b.status().is_success());
        b.bytes().await?;
        let secured_took = t.elapsed();
        if round >= 100 {
            plain.push(plain_took);
            secured.push(secured_took);
        }
    }
    report("GET /api/v1/orders, page of 50", &mut plain, &mut secured);
    let _ = stop_app.send(());
    running.await??;
    Ok(())
}
