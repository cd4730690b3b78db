//! Live stream benchmark: `--subscribers` clients on `GET /api/v1/events` while orders change
//! at `--rate` per second for `--seconds`; every client must see every change.
//!
//! ```sh
//! cargo run --release --example live_bench -- --subscribers 100 --rate 1000 --seconds 10
//! ```
//!
//! Prints the commit-to-delivery latency (from the log row's commit time to the moment a client
//! has parsed the event) over every (client, event) pair, and the daemon's CPU per change.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use creatorflow::actors::Envelope;
use creatorflow::app::Application;
use creatorflow::config::Settings;
use creatorflow::domain::{Cause, Msg, OrderId, OrderStatus, ShopId};

mod common;
use common::{arg, cpu};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SHOP: &str = "7494049642642441621";

/// Reads one client's stream until it has seen `expected` order events; returns each event's
/// commit-to-delivery latency.
async fn subscriber(url: String, key: String, expected: usize) -> Vec<Duration> {
    let client = reqwest::Client::new();
    let mut response = client
        .get(url)
        .bearer_auth(key)
        .send()
        .await
        .expect("the stream opens");
    let mut buffer = String::new();
    let mut latencies = Vec::with_capacity(expected);
    let mut heard = Instant::now();
    let mut last_id = 0_i64;
    while latencies.len() < expected {
        if heard.elapsed() > Duration::from_secs(10) {
            eprintln!(
                "a client heard nothing for 10 s after {} events (last id {last_id})",
                latencies.len()
            );
            break;
        }
        let chunk = match tokio::time::timeout(Duration::from_secs(1), response.chunk()).await {
            Err(_) => continue,
            Ok(Ok(Some(chunk))) => chunk,
            Ok(_) => break,
        };
        let received = chrono::Utc::now();
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            if block.contains("event: dropped") {
                eprintln!("a client was dropped after {} events", latencies.len());
            }
            if !block.contains("event: order") {
                continue;
            }
            let Some(data) = block.lines().find_map(|l| l.strip_prefix("data: ")) else {
                continue;
            };
            let value: serde_json::Value = serde_json::from_str(data).expect("JSON data");
            heard = Instant::now();
            let id = value["position"].as_i64().unwrap_or_default();
            if id != last_id + 1 {
                eprintln!("a gap: {last_id} then {id}");
            }
            last_id = id;
            let at: chrono::DateTime<chrono::Utc> = value["at"]
                .as_str()
                .unwrap()
                .parse()
                .expect("an RFC 3339 time");
            latencies.push((received - at).to_std().unwrap_or_default());
        }
    }
    latencies
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let subscribers = arg("--subscribers", 100);
    let rate = arg("--rate", 1000);
    let seconds = arg("--seconds", 10);
    let dir = tempfile::tempdir()?;
    let mut env: HashMap<String, String> = std::env::vars()
        .filter(|(k, _)| k.starts_with("CREATORFLOW__DATABASE__"))
        .collect();
    env.entry("CREATORFLOW__DATABASE__URL".into())
        .or_insert_with(|| format!("sqlite://{}/bench.db?mode=rwc", dir.path().display()));
    env.insert("CREATORFLOW__HTTP__LISTEN".into(), "127.0.0.1:0".into());
    env.insert("CREATORFLOW__LOG__LEVEL".into(), "error".into());
    let settings = Settings::load_with_env(None, Some(env))?;
    creatorflow::telemetry::init_logs(&settings.log);
    let mut app = Application::build(&settings).await?;
    let key = app
        .take_first_admin_key()
        .expect("a fresh database gets an admin key")
        .reveal()
        .to_owned();
    let url = format!("http://{}/api/v1/events?types=order", app.addr());
    let registry = app.registry().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = actix_rt::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));

    let changes = rate * seconds;
    let clients: Vec<_> = (0..subscribers)
        .map(|_| tokio::spawn(subscriber(url.clone(), key.clone(), changes)))
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;

    // `rate` new orders a second, in ticks of 10 ms: one audit event each.
    let cpu_before = cpu();
    let started = Instant::now();
    let per_tick = (rate / 100).max(1);
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let shop = ShopId::parse(SHOP)?;
    let mut sent = 0;
    let failures = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    while sent < changes {
        tick.tick().await;
        for _ in 0..per_tick.min(changes - sent) {
            let id = OrderId::parse(&format!("9{sent:011}"))?;
            let envelope = Envelope {
                msg: Msg::Status {
                    shop_id: shop.clone(),
                    status: OrderStatus::Unpaid,
                    update_time: 1_700_000_000,
                },
                cause: Cause::Poll,
                inbox: None,
            };
            let registry = registry.clone();
            let failures = failures.clone();
            tokio::spawn(async move {
                if registry.submit(id, envelope).await.is_err() {
                    failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            });
            sent += 1;
        }
    }
    let driven = started.elapsed();
    let mut latencies = Vec::with_capacity(subscribers * changes);
    let mut short = 0;
    for client in clients {
        let got = tokio::time::timeout(Duration::from_secs(30), client).await??;
        if got.len() < changes {
            short += 1;
        }
        latencies.extend(got);
    }
    let cpu_used = cpu() - cpu_before;
    let _ = stop.send(());
    running.await??;

    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!(
        "{subscribers} subscribers, {changes} changes at {:.0}/s ({} failed to commit): \
         {} deliveries, {short} clients short",
        changes as f64 / driven.as_secs_f64(),
        failures.load(std::sync::atomic::Ordering::Relaxed),
        latencies.len(),
    );
    println!(
        "commit-to-delivery: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3
    );
    println!(
        "CPU (daemon and clients, one process): {:.0} µs per change, {:.1} µs per delivery",
        cpu_used.as_secs_f64() * 1e6 / changes as f64,
        cpu_used.as_secs_f64() * 1e6 / latencies.len().max(1) as f64
    );
    Ok(())
}
