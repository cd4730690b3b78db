//! Workflow benchmark: orders through the `standard` template end to end against the in-process
//! TikTok sandbox (signed webhooks in, signed Ship Package calls out), every run durable.
//! All orders become ready at once, so every one of them has a workflow in flight together.
//!
//! ```sh
//! cargo run --release --example workflow_bench -- --orders 10000
//! ```
//!
//! Prints orders shipped per second, the p99 time from ready-to-ship to shipped, and the p99 of
//! the engine's own time per step (everything but the action), as Prometheus histogram bucket
//! bounds.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use creatorflow::app::Application;
use creatorflow::config::Settings;
use creatorflow::domain::ShopId;
use creatorflow::integrations::tiktok::client::Client;
use tiktok_sandbox::{Options, Sandbox};

mod common;
use common::{arg, counter};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SHOP: &str = "7494049642642441621";

/// The smallest bucket bound under which `q` of the samples of `name` fall (summed over labels).
fn quantile(metrics: &str, name: &str, q: f64) -> Option<f64> {
    let mut buckets: HashMap<String, f64> = HashMap::new();
    let mut count = 0.0;
    for line in metrics.lines() {
        if let Some(rest) = line.strip_prefix(&format!("{name}_bucket{{")) {
            let le = rest.split("le=\"").nth(1)?.split('"').next()?.to_owned();
            let value: f64 = rest.rsplit(' ').next()?.parse().ok()?;
            *buckets.entry(le).or_default() += value;
        } else if line.starts_with(&format!("{name}_count")) {
            count += line.rsplit(' ').next()?.parse::<f64>().ok()?;
        }
    }
    let mut bounds: Vec<(f64, f64)> = buckets
        .into_iter()
        .filter_map(|(le, n)| {
            Some((
                if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().ok()?
                },
                n,
            ))
        })
        .collect();
    bounds.sort_by(|a, b| a.0.total_cmp(&b.0));
    bounds
        .into_iter()
        .find(|(_, n)| *n >= q * count)
        .map(|(le, _)| le)
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    creatorflow::integrations::install_tls();
    let orders = arg("--orders", 10_000);
    let concurrency = arg("--concurrency", 64);
    let sandbox = Sandbox::start(Options {
        requests_per_second: 1_000_000,
        ..Options::new("bench_key", "bench_secret")
    })?;
    let dir = tempfile::tempdir()?;
    let mut env: HashMap<String, String> = std::env::vars()
        .filter(|(k, _)| k.starts_with("CREATORFLOW__DATABASE__"))
        .collect();
    env.entry("CREATORFLOW__DATABASE__URL".into())
        .or_insert_with(|| format!("sqlite://{}/bench.db?mode=rwc", dir.path().display()));
    for (k, v) in [
        ("CREATORFLOW__HTTP__LISTEN", "127.0.0.1:0".to_owned()),
        ("CREATORFLOW__LOG__LEVEL", "error".to_owned()),
        ("CREATORFLOW__TIKTOK__APP_KEY", "bench_key".to_owned()),
        ("CREATORFLOW__TIKTOK__APP_SECRET", "bench_secret".to_owned()),
        ("CREATORFLOW__TIKTOK__API_BASE_URL", sandbox.url()),
        ("CREATORFLOW__TIKTOK__AUTH_BASE_URL", sandbox.url()),
        (
            "CREATORFLOW__TIKTOK__REQUESTS_PER_SECOND",
            "1000000".to_owned(),
        ),
        ("CREATORFLOW__TIKTOK__POLL_INTERVAL", "1h".to_owned()),
        ("CREATORFLOW__WORKFLOW__ENABLED", "true".to_owned()),
        (
            "CREATORFLOW__WORKFLOW__CONCURRENCY",
            concurrency.to_string(),
        ),
    ] {
        env.insert(k.to_owned(), v);
    }
    let settings = Settings::load_with_env(None, Some(env))?;
    creatorflow::telemetry::init_logs(&settings.log);
    let app = Application::build(&settings).await?;
    sandbox.set_webhook_url(&format!("http://{}/webhooks/tiktok", app.addr()));
    let client = Client::new(&settings.tiktok, app.db().clone())?;
    let code = sandbox.add_shop(SHOP, "Bench shop");
    client
        .authorize(&code, Some(&ShopId::parse(SHOP)?), None)
        .await?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = actix_rt::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));

    let started = Instant::now();
    for _ in 0..orders {
        let id = sandbox.create_order(SHOP, 2, true);
        sandbox.set_status(&id, "ON_HOLD", true);
        sandbox.set_status(&id, "AWAITING_SHIPMENT", true);
    }
    eprintln!("{orders} orders created in the sandbox; waiting until every one has shipped");
    let handle = creatorflow::telemetry::metrics::handle();
    let mut peak_in_flight = 0.0_f64;
    let mut last_report = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let metrics = handle.render();
        let started_runs = counter(
            &metrics,
            "creatorflow_workflow_runs_total{outcome=\"started\"}",
        );
        let shipped = counter(&metrics, "creatorflow_workflow_time_to_ship_seconds_count");
        peak_in_flight = peak_in_flight.max(started_runs - shipped);
        if last_report.elapsed() >= Duration::from_secs(30) {
            last_report = Instant::now();
            eprintln!(
                "{:>5.0} s: {shipped} shipped, {:.0} in flight",
                started.elapsed().as_secs_f64(),
                started_runs - shipped
            );
        }
        if shipped as usize >= orders {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(1800),
            "not all shipped in 30 min ({shipped})"
        );
    }
    let seconds = started.elapsed().as_secs_f64();
    let metrics = handle.render();
    let ship_p99 =
        quantile(&metrics, "creatorflow_workflow_time_to_ship_seconds", 0.99).unwrap_or(f64::NAN);
    let overhead_p99 =
        quantile(&metrics, "creatorflow_workflow_step_overhead_seconds", 0.99).unwrap_or(f64::NAN);
    let dead = counter(&metrics, "creatorflow_workflow_dead_letters_total");
    println!(
        "{orders} orders through `standard` in {seconds:.1} s: {:.0} orders/s; peak {peak_in_flight:.0} workflows in flight; \
         ready-to-shipped p99 <= {ship_p99} s; engine overhead per step p99 <= {:.2} ms; {} dead letters; \
         Ship Package calls {}, Batch Ship Packages calls {}",
        orders as f64 / seconds,
        overhead_p99 * 1000.0,
        dead as u64,
        sandbox.calls("/fulfillment/202309/packages/{id}/ship"),
        sandbox.calls("/fulfillment/202309/packages/ship"),
    );
    // Where a step's time goes, by action: the action itself and the engine around it.
    for line in metrics.lines().filter(|l| {
        l.starts_with("creatorflow_workflow_step_seconds_sum")
            || l.starts_with("creatorflow_workflow_step_seconds_count")
            || l.starts_with("creatorflow_workflow_step_overhead_seconds_sum")
    }) {
        eprintln!("{line}");
    }
    let _ = stop.send(());
    running.await??;
    sandbox.stop().await;
    Ok(())
}
