//! Bulk job benchmark: `--orders` orders, then one bulk `hold` over all of them, while a trickle
//! of webhook-like status changes (`--trickle` per second) measures what the job costs ingest.
//!
//! ```sh
//! cargo run --release --example bulk_bench -- --orders 100000 --trickle 200
//! ```
//!
//! Prints the job's wall time and items per second, and the trickle's commit latency (p50,
//! p99) before the job and while it runs, side by side.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use creatorflow::actors::{Envelope, RegistryHandle};
use creatorflow::app::Application;
use creatorflow::config::Settings;
use creatorflow::domain::{Cause, Msg, OrderId, OrderStatus, ShopId};
use futures_util::future::join_all;

mod common;
use common::arg;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SHOP: &str = "7494049642642441621";

fn status(shop: &ShopId, status: OrderStatus, t: i64) -> Envelope {
    Envelope {
        msg: Msg::Status {
            shop_id: shop.clone(),
            status,
            update_time: t,
        },
        cause: Cause::Poll,
        inbox: None,
    }
}

/// Submits a status change to a trickle order every 1/`rate` s until `stop`; records latencies.
async fn trickle(
    registry: RegistryHandle,
    rate: usize,
    latencies: Arc<Mutex<Vec<Duration>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    let shop = ShopId::parse(SHOP).unwrap();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    let mut n = 0_i64;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        tick.tick().await;
        n += 1;
        let registry = registry.clone();
        let latencies = latencies.clone();
        let shop = shop.clone();
        tokio::spawn(async move {
            let id = OrderId::parse(&format!("7{n:011}")).unwrap();
            let started = Instant::now();
            if registry
                .submit(id, status(&shop, OrderStatus::Unpaid, 1_700_000_000))
                .await
                .is_ok()
            {
                latencies.lock().unwrap().push(started.elapsed());
            }
        });
    }
}

fn percentiles(mut samples: Vec<Duration>) -> String {
    if samples.is_empty() {
        return "no samples".into();
    }
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    format!(
        "p50 {:.1} ms, p99 {:.1} ms ({} samples)",
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        samples.len()
    )
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let orders = arg("--orders", 100_000);
    let rate = arg("--trickle", 200);
    let dir = tempfile::tempdir()?;
    let mut env: HashMap<String, String> = std::env::vars()
        .filter(|(k, _)| k.starts_with("CREATORFLOW__"))
        .collect();
    env.entry("CREATORFLOW__DATABASE__URL".into())
        .or_insert_with(|| format!("sqlite://{}/bench.db?mode=rwc", dir.path().display()));
    env.insert("CREATORFLOW__HTTP__LISTEN".into(), "127.0.0.1:0".into());
    env.entry("CREATORFLOW__LOG__LEVEL".into())
        .or_insert("error".into());
    let settings = Settings::load_with_env(None, Some(env))?;
    creatorflow::telemetry::init_logs(&settings.log);
    let mut app = Application::build(&settings).await?;
    let key = app
        .take_first_admin_key()
        .expect("a fresh database gets an admin key")
        .reveal()
        .to_owned();
    let base = format!("http://{}", app.addr());
    let registry = app.registry().clone();
    let (stop_app, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = actix_rt::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));

    let shop = ShopId::parse(SHOP)?;
    let started = Instant::now();
    for chunk in (0..orders).collect::<Vec<_>>().chunks(2000) {
        join_all(chunk.iter().map(|n| {
            let id = OrderId::parse(&format!("5{n:011}")).unwrap();
            registry.submit(
                id,
                status(&shop, OrderStatus::AwaitingShipment, 1_700_000_000),
            )
        }))
        .await;
    }
    eprintln!(
        "{orders} orders in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let before = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let quiet = tokio::spawn(trickle(
        registry.clone(),
        rate,
        before.clone(),
        stop.clone(),
    ));
    tokio::time::sleep(Duration::from_secs(5)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    quiet.await?;

    let during = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let busy = tokio::spawn(trickle(
        registry.clone(),
        rate,
        during.clone(),
        stop.clone(),
    ));
    let client = reqwest::Client::new();
    let created = Instant::now();
    let job: serde_json::Value = client
        .post(format!("{base}/api/v1/bulk-jobs"))
        .bearer_auth(&key)
        .json(&serde_json::json!({
            "action": "hold", "query": "status:AWAITING_SHIPMENT", "params": { "reason": "bench" }
        }))
        .send()
        .await?
        .json()
        .await?;
    let id = job["id"].as_i64().expect("a job id");
    let accepted = created.elapsed();
    let job = loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let job: serde_json::Value = client
            .get(format!("{base}/api/v1/bulk-jobs/{id}"))
            .bearer_auth(&key)
            .send()
            .await?
            .json()
            .await?;
        if job["state"] == "completed" || job["state"] == "failed" {
            break job;
        }
    };
    let took = created.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    busy.await?;
    let _ = stop_app.send(());
    running.await??;

    println!(
        "bulk hold of {} orders: {} succeeded, {} failed, in {:.1} s ({:.0} items/s; the \
         202 with the fixed target set took {:.1} s)",
        job["total"],
        job["succeeded"],
        job["failed"],
        took.as_secs_f64(),
        job["total"].as_f64().unwrap_or(0.0) / took.as_secs_f64(),
        accepted.as_secs_f64()
    );
    println!(
        "ingest trickle at {rate}/s, commit latency: before {}; during the job {}",
        percentiles(before.lock().unwrap().clone()),
        percentiles(during.lock().unwrap().clone())
    );
    Ok(())
}
