//! Order-engine benchmark: durable events/s through `RegistryHandle::submit`, RSS per live order,
//! and activation latency. Uses the configured database (default: embedded SQLite under a
//! temporary folder), e.g.
//!
//! ```sh
//! cargo run --release --example engine_bench -- throughput --events 1000000 --orders 200000
//! CREATORFLOW__DATABASE__URL=postgres://postgres@127.0.0.1/bench \
//!   cargo run --release --example engine_bench -- throughput --events 1000000 --orders 200000
//! cargo run --release --example engine_bench -- live --orders 1000000
//! cargo run --release --example engine_bench -- activation --orders 20000
//! ```

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use creatorflow::actors::{Envelope, RegistryHandle};

/// glibc malloc's arena locking showed up as a quarter of the ingest profile; mimalloc's
/// thread-local free lists remove most of it.
mod common;
use common::arg;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use creatorflow::config::Settings;
use creatorflow::domain::{Cause, Detail, Msg, OrderId, OrderStatus, ShopId};
use creatorflow::journal::InboxEntry;
use creatorflow::persistence::Database;

const STATUSES: [&str; 5] = [
    "UNPAID",
    "ON_HOLD",
    "AWAITING_SHIPMENT",
    "AWAITING_COLLECTION",
    "IN_TRANSIT",
];

fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Cumulative (upper bound, count) buckets of a Prometheus histogram.
fn buckets(text: &str, name: &str) -> Vec<(String, f64)> {
    let prefix = format!("{name}_bucket");
    text.lines()
        .filter(|l| l.starts_with(&prefix))
        .filter_map(|l| {
            let le = l.split("le=\"").nth(1)?.split('"').next()?.to_owned();
            Some((le, l.rsplit(' ').next()?.parse().ok()?))
        })
        .collect()
}

/// The smallest bucket bound under which `q` of the samples added between two scrapes fall.
fn quantile_between(before: &[(String, f64)], after: &[(String, f64)], q: f64) -> String {
    let diff: Vec<(String, f64)> = after
        .iter()
        .map(|(le, n)| {
            (
                le.clone(),
                n - before
                    .iter()
                    .find(|(b, _)| b == le)
                    .map_or(0.0, |(_, m)| *m),
            )
        })
        .collect();
    let total = diff.last().map_or(0.0, |(_, n)| *n);
    diff.into_iter()
        .find(|(_, n)| *n >= q * total)
        .map_or_else(|| "?".into(), |(le, _)| le)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

fn status_msg(shop: &ShopId, status: &str, t: i64, key: String) -> Envelope {
    Envelope {
        msg: Msg::Status {
            shop_id: shop.clone(),
            status: OrderStatus::parse(status),
            update_time: t,
        },
        cause: Cause::Integration("bench".into()),
        inbox: Some(InboxEntry {
            dedupe_key: key.into(),
            event_type: 1,
        }),
    }
}

fn two_item_detail(t: i64) -> Box<Detail> {
    let money = |a: &str| serde_json::json!({ "amount": a, "currency": "USD" });
    let item = |id: &str| {
        serde_json::json!({
            "id": id, "sku": "SKU-A", "product_id": null, "product_name": null, "sku_name": null,
            "seller_sku": null, "sale_price": money("10.00"), "original_price": null,
            "display_status": null, "package_id": null
        })
    };
    Box::new(serde_json::from_value(serde_json::json!({
        "status": "AWAITING_SHIPMENT", "update_time": t, "create_time": t,
        "payment": { "currency": "USD", "total_amount": money("20.00"), "sub_total": money("20.00"),
            "shipping_fee": money("0"), "seller_discount": money("0"), "platform_discount": money("0"),
            "original_total_product_price": null, "original_shipping_fee": null,
            "shipping_fee_seller_discount": null, "shipping_fee_platform_discount": null,
            "tax": null, "retail_delivery_fee": null },
        "items": [item("1"), item("2")], "recipient": null,
        "rts_sla_time": null, "tts_sla_time": null, "delivery_sla_time": null
    })).expect("a valid detail"))
}

/// Runs `jobs` through `registry` with `concurrency` submitters; returns elapsed and latencies.
async fn drive(
    registry: &RegistryHandle,
    jobs: Vec<(OrderId, Envelope)>,
    concurrency: usize,
) -> (Duration, Vec<Duration>) {
    let count = jobs.len();
    let jobs = Arc::new(jobs);
    drive_with(registry, count, concurrency, move |i| jobs[i].clone()).await
}

/// Like [`drive`], making job `i` on demand (no input buffer in memory).
async fn drive_with(
    registry: &RegistryHandle,
    count: usize,
    concurrency: usize,
    job: impl Fn(usize) -> (OrderId, Envelope) + Send + Sync + 'static,
) -> (Duration, Vec<Duration>) {
    let job = Arc::new(job);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (job, next, registry) = (job.clone(), next.clone(), registry.clone());
            actix_rt::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        break;
                    }
                    let (id, env) = job(i);
                    let t = Instant::now();
                    loop {
                        match registry.submit(id.clone(), env.clone()).await {
                            Ok(_) => break,
                            Err(creatorflow::actors::Error::Overloaded { .. }) => {
                                actix_rt::time::sleep(Duration::from_millis(1)).await
                            }
                            Err(e) => panic!("submit failed: {e:?}"),
                        }
                    }
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.expect("worker"));
    }
    let elapsed = started.elapsed();
    all.sort_unstable();
    (elapsed, all)
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let mode = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "throughput".into());
    let dir = tempfile::tempdir()?;
    let mut env: HashMap<String, String> = std::env::vars()
        .filter(|(k, _)| k.starts_with("CREATORFLOW__"))
        .collect();
    env.entry("CREATORFLOW__DATABASE__URL".into())
        .or_insert_with(|| format!("sqlite://{}/bench.db?mode=rwc", dir.path().display()));
    if mode == "activation" {
        env.insert("CREATORFLOW__ENGINE__MAX_LIVE_ORDERS".into(), "1000".into());
    }
    env.entry("CREATORFLOW__ENGINE__MAILBOX_CAPACITY".into())
        .or_insert_with(|| "65536".into());
    let settings = Settings::load_with_env(None, Some(env))?;
    let metrics = creatorflow::telemetry::metrics::handle();
    let db = Database::connect(&settings.database).await?;
    db.migrate_up().await?;
    let registry = creatorflow::app::start_engine(&settings, &db).await?;
    let shop = ShopId::parse("7494049642642441621")?;
    let concurrency = arg("--concurrency", 1024);
    println!(
        "backend {:?}, shards {}, journal max_batch {} max_delay {:?}, concurrency {concurrency}",
        db.backend(),
        settings.engine.shard_count(),
        settings.journal.max_batch,
        settings.journal.max_delay
    );

    match mode.as_str() {
        "throughput" => {
            let (events, orders) = (arg("--events", 1_000_000), arg("--orders", 200_000));
            let rounds = events.div_ceil(orders);
            // Round r sends status r to every order: orders interleave, each order in sequence.
            let mut jobs = Vec::with_capacity(events);
            'outer: for r in 0..rounds {
                for o in 0..orders {
                    if jobs.len() == events {
                        break 'outer;
                    }
                    let status = STATUSES[r % STATUSES.len()];
                    jobs.push((
                        OrderId::parse(&format!("{}", 1_000_000_000 + o))?,
                        status_msg(&shop, status, r as i64, format!("b{o}-{r}")),
                    ));
                }
            }
            let (elapsed, lat) = drive(&registry, jobs, concurrency).await;
            println!(
                "{} durable events over {orders} orders in {:.2?}: {:.0} events/s; submit p50 {:?} p99 {:?}",
                lat.len(),
                elapsed,
                lat.len() as f64 / elapsed.as_secs_f64(),
                percentile(&lat, 0.5),
                percentile(&lat, 0.99)
            );
        }
        "live" => {
            let orders = arg("--orders", 1_000_000);
            // `--bare 1`: orders without detail, to see the cost of the actor alone.
            let bare = arg("--bare", 0) == 1;
            let before = rss_bytes();
            let shop = shop.clone();
            // Latencies are not kept here: one Duration per order would be counted as order state.
            let (elapsed, _) = drive_with(&registry, orders, concurrency, move |o| {
                let id = OrderId::parse(&format!("{}", 2_000_000_000 + o)).expect("id");
                let msg = if bare {
                    Msg::Status {
                        shop_id: shop.clone(),
                        status: OrderStatus::Unpaid,
                        update_time: 1,
                    }
                } else {
                    Msg::Detail {
                        shop_id: shop.clone(),
                        detail: two_item_detail(1),
                    }
                };
                let env = Envelope {
                    msg,
                    cause: Cause::Integration("bench".into()),
                    inbox: None,
                };
                (id, env)
            })
            .await;
            actix_rt::time::sleep(Duration::from_secs(1)).await;
            let after = rss_bytes();
            let per = after.saturating_sub(before) as f64 / orders as f64;
            println!(
                "{orders} live orders (two line items each) activated in {elapsed:.2?}; RSS {:.1} MiB -> {:.1} MiB: {per:.0} bytes per live order (includes the database page cache and allocator slack)",
                before as f64 / 1048576.0,
                after as f64 / 1048576.0
            );
        }
        "activation" => {
            let orders = arg("--orders", 20_000);
            let ids: Vec<OrderId> = (0..orders)
                .map(|o| OrderId::parse(&format!("{}", 3_000_000_000_u64 + o as u64)).expect("id"))
                .collect();
            let create = ids
                .iter()
                .map(|id| (id.clone(), status_msg(&shop, "UNPAID", 1, format!("c{id}"))))
                .collect();
            drive(&registry, create, concurrency).await;
            // With at most 1,000 live orders, nearly every one of these finds its order passivated.
            let cold: Vec<_> = ids
                .iter()
                .map(|id| {
                    (
                        id.clone(),
                        status_msg(&shop, "ON_HOLD", 2, format!("a{id}")),
                    )
                })
                .collect();
            let before = buckets(&metrics.render(), "creatorflow_order_activation_seconds");
            let (_, cold_lat) = drive(&registry, cold, 1).await;
            let after = buckets(&metrics.render(), "creatorflow_order_activation_seconds");
            println!(
                "activation of a passivated order (snapshot load, from creatorflow_order_activation_seconds): p50 <= {} s, p99 <= {} s",
                quantile_between(&before, &after, 0.5),
                quantile_between(&before, &after, 0.99)
            );
            let warm: Vec<_> = ids
                .iter()
                .rev()
                .take(500)
                .map(|id| {
                    (
                        id.clone(),
                        status_msg(&shop, "AWAITING_SHIPMENT", 3, format!("w{id}")),
                    )
                })
                .collect();
            let (_, warm_lat) = drive(&registry, warm, 1).await;
            println!(
                "submit to a passivated order (activation + commit): p50 {:?} p99 {:?}; to a live order (commit only): p50 {:?} p99 {:?}; activation p99 ≈ {:?}",
                percentile(&cold_lat, 0.5),
                percentile(&cold_lat, 0.99),
                percentile(&warm_lat, 0.5),
                percentile(&warm_lat, 0.99),
                percentile(&cold_lat, 0.99).saturating_sub(percentile(&warm_lat, 0.99))
            );
        }
        other => anyhow::bail!("unknown mode {other}: throughput | live | activation"),
    }
    let text = metrics.render();
    let value = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let batches = value("creatorflow_journal_batch_size_count");
    println!(
        "journal: {batches:.0} batches, mean size {:.1}, mean commit {:.2} ms",
        value("creatorflow_journal_batch_size_sum") / batches.max(1.0),
        1000.0 * value("creatorflow_journal_commit_seconds_sum") / batches.max(1.0)
    );
    Ok(())
}
