//! `creatorflow loadgen`: pushes TikTok webhooks at a daemon, signed exactly as TikTok signs
//! them (the signed bytes are the sent bytes), from many connections at once, and reports what
//! came back: durable events per second and the latency distribution.
//!
//! Events walk orders through TikTok's statuses: event `k` moves order `k % orders` to the
//! next status, with an `update_time` one second later than the order's previous one.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use tiktok_wire::signature::webhook_signature;

const STATUSES: [&str; 6] = [
    "UNPAID",
    "ON_HOLD",
    "AWAITING_SHIPMENT",
    "AWAITING_COLLECTION",
    "IN_TRANSIT",
    "DELIVERED",
];

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The daemon's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Webhooks to send.
    #[arg(long, default_value_t = 100_000)]
    events: usize,
    /// Orders they are spread over.
    #[arg(long, default_value_t = 20_000)]
    orders: usize,
    /// Connections sending at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// The TikTok shop the orders belong to.
    #[arg(long, default_value = "7494049642642441621")]
    shop_id: String,
    /// Print the report as one JSON object (for scripts).
    #[arg(long)]
    json: bool,
    /// Send nothing: write the signed webhooks to this file instead, one per line as
    /// `<Authorization header>\t<body>`, for a load tool such as wrk (`loadtest/wrk.lua`).
    #[arg(long, value_name = "FILE")]
    corpus: Option<std::path::PathBuf>,
}

/// The webhooks of a run: event `k` of `events`, as TikTok would sign and send it.
struct Corpus {
    run: i64,
    base_time: i64,
    orders: usize,
    shop: String,
}

impl Corpus {
    fn new(orders: usize, shop: &str) -> Self {
        Self {
            // Order ids unique to this run, so runs against one database do not collide.
            run: chrono::Utc::now().timestamp_millis() % 1_000_000_000,
            base_time: chrono::Utc::now().timestamp() - 86_400,
            orders,
            shop: shop.to_owned(),
        }
    }

    /// The body of event `k`: order `k % orders` moves to its next status.
    fn body(&self, k: usize) -> String {
        let (order, step) = (k % self.orders, k / self.orders);
        let (run, time) = (self.run, self.base_time + step as i64);
        json!({
            "type": 1,
            "tts_notification_id": format!("lg{run}{k:010}"),
            "shop_id": self.shop,
            "timestamp": time,
            "data": {
                "order_id": format!("{run:09}{order:09}"),
                "order_status": STATUSES[step % STATUSES.len()],
                "is_on_hold_order": false,
                "update_time": time,
            },
        })
        .to_string()
    }
}

/// What a run measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub events: usize,
    pub acknowledged: usize,
    pub failed: usize,
    pub seconds: f64,
    pub events_per_second: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub concurrency: usize,
}

/// The app key and secret webhooks are signed with (the daemon's own).
#[derive(Clone)]
pub struct Credentials {
    pub key: String,
    pub secret: SecretString,
}

pub async fn run(args: Args, app: Credentials) -> anyhow::Result<()> {
    anyhow::ensure!(
        !app.key.is_empty() && !app.secret.expose_secret().is_empty(),
        "set tiktok.app_key and tiktok.app_secret to the daemon's: loadgen signs like TikTok"
    );
    anyhow::ensure!(
        args.orders > 0 && args.concurrency > 0,
        "--orders and --concurrency must be at least 1"
    );
    if let Some(path) = &args.corpus {
        return write_corpus(&args, &app, path);
    }
    let report = generate(&args, &app).await?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "{} webhooks, {} acknowledged, {} failed in {:.2} s: {:.0} events/s; latency p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} connections)",
            report.events,
            report.acknowledged,
            report.failed,
            report.seconds,
            report.events_per_second,
            report.p50_ms,
            report.p95_ms,
            report.p99_ms,
            report.max_ms,
            report.concurrency
        );
    }
    anyhow::ensure!(
        report.failed == 0,
        "{} webhooks were not acknowledged",
        report.failed
    );
    Ok(())
}

/// Writes the run's webhooks, signed, one per line.
fn write_corpus(args: &Args, app: &Credentials, path: &std::path::Path) -> anyhow::Result<()> {
    use std::io::Write;
    let corpus = Corpus::new(args.orders, &args.shop_id);
    let file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let secret = app.secret.expose_secret().as_bytes();
    for k in 0..args.events {
        let body = corpus.body(k);
        let signature = webhook_signature(&app.key, secret, body.as_bytes());
        writeln!(out, "{signature}\t{body}")?;
    }
    out.flush()?;
    eprintln!(
        "{} signed webhooks written to {}",
        args.events,
        path.display()
    );
    Ok(())
}

pub async fn generate(args: &Args, app: &Credentials) -> anyhow::Result<Report> {
    crate::install_tls();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .timeout(Duration::from_secs(30))
        .build()?;
    let endpoint = format!("{}/webhooks/tiktok", args.url.trim_end_matches('/'));
    let corpus = Arc::new(Corpus::new(args.orders, &args.shop_id));
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..args.concurrency)
        .map(|_| {
            let (client, endpoint, next) = (client.clone(), endpoint.clone(), next.clone());
            let (key, secret) = (app.key.clone(), app.secret.expose_secret().to_owned());
            let (events, corpus) = (args.events, corpus.clone());
            actix_rt::spawn(async move {
                let mut latencies = Vec::new();
                let mut failed = 0usize;
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    if k >= events {
                        break;
                    }
                    let body = corpus.body(k);
                    let signature = webhook_signature(&key, secret.as_bytes(), body.as_bytes());
                    let sent = Instant::now();
                    let response = client
                        .post(&endpoint)
                        .header("authorization", signature)
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await;
                    match response {
                        Ok(r) if r.status().is_success() => {
                            let _ = r.bytes().await;
                            latencies.push(sent.elapsed());
                        }
                        Ok(r) => {
                            tracing::warn!(status = %r.status(), "webhook not acknowledged");
                            failed += 1;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "webhook not delivered");
                            failed += 1;
                        }
                    }
                }
                (latencies, failed)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(args.events);
    let mut failed = 0;
    for worker in workers {
        let (mine, fails) = worker.await.context("a load worker panicked")?;
        latencies.extend(mine);
        failed += fails;
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    Ok(Report {
        events: args.events,
        acknowledged: latencies.len(),
        failed,
        seconds,
        events_per_second: latencies.len() as f64 / seconds,
        p50_ms: pct(0.50),
        p95_ms: pct(0.95),
        p99_ms: pct(0.99),
        max_ms: pct(1.0),
        concurrency: args.concurrency,
    })
}
