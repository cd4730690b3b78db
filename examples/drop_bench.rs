//! Flash-sale benchmark: a TikTok LIVE drop puts `--orders` paid orders (default 1,000) on one
//! SKU with `--stock` units (default 300) on the shelf, through the `standard` template, against
//! the in-process TikTok sandbox at the daemon's default `tiktok.requests_per_second`. Then
//! `--restock` units (default 100) come back.
//!
//! ```sh
//! CREATORFLOW__DATABASE__URL=postgres://postgres@127.0.0.1:5432/drop \
//!   cargo run --release --example drop_bench
//! ```
//!
//! Prints: how long after the last webhook every order was decided (past its reservation, or
//! waiting for stock), how many were reserved (must be exactly the stock: none oversold); after
//! the restock, how long until that many more were past their reservation and whether they were
//! the next ones by TikTok's ship-by deadline; how long until the first `--stock` orders were
//! shipped at TikTok, and how many TikTok calls that took. Without `CREATORFLOW__DATABASE__URL`
//! it runs on a temporary SQLite file.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use creatorflow::app::Application;
use creatorflow::config::Settings;
use creatorflow::domain::ShopId;
use creatorflow::integrations::tiktok::client::Client;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use tiktok_sandbox::{Options, Sandbox};

mod common;
use common::{arg, counter, cpu};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SHOP: &str = "7494049642642441621";
/// The sandbox's first SKU: a one-unit order is one unit of it.
const SKU: &str = "1729382256910270000";

/// Order ids whose runs match `condition` (SQL over `workflow_runs`).
async fn runs_where(db: &DatabaseConnection, condition: &str) -> anyhow::Result<HashSet<String>> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT order_id FROM workflow_runs WHERE {condition}"),
        ))
        .await?;
    rows.iter()
        .map(|r| Ok(r.try_get::<String>("", "order_id")?))
        .collect()
}

/// Runs past the `standard` template's reservation (step 1): on to the label, or done.
const PAST_RESERVATION: &str = "step >= 2 OR status = 'completed'";

/// Polls until `done` holds (every 20 ms); how long that took.
async fn until(
    what: &str,
    limit: Duration,
    mut done: impl AsyncFnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    loop {
        if done().await? {
            return Ok(started.elapsed());
        }
        anyhow::ensure!(started.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    creatorflow::integrations::install_tls();
    let orders = arg("--orders", 1_000);
    let stock = arg("--stock", 300) as i64;
    let restock = arg("--restock", 100) as i64;
    let sandbox = Sandbox::start(Options::new("bench_key", "bench_secret"))?;
    let dir = tempfile::tempdir()?;
    let mut env: HashMap<String, String> = std::env::vars()
        .filter(|(k, _)| {
            k.starts_with("CREATORFLOW__DATABASE__") || k.starts_with("CREATORFLOW__WORKFLOW__")
        })
        .collect();
    env.entry("CREATORFLOW__DATABASE__URL".into())
        .or_insert_with(|| format!("sqlite://{}/drop.db?mode=rwc", dir.path().display()));
    for (k, v) in [
        ("CREATORFLOW__HTTP__LISTEN", "127.0.0.1:0".to_owned()),
        ("CREATORFLOW__LOG__LEVEL", "error".to_owned()),
        ("CREATORFLOW__TIKTOK__APP_KEY", "bench_key".to_owned()),
        ("CREATORFLOW__TIKTOK__APP_SECRET", "bench_secret".to_owned()),
        ("CREATORFLOW__TIKTOK__API_BASE_URL", sandbox.url()),
        ("CREATORFLOW__TIKTOK__AUTH_BASE_URL", sandbox.url()),
        ("CREATORFLOW__TIKTOK__POLL_INTERVAL", "1h".to_owned()),
        ("CREATORFLOW__WORKFLOW__ENABLED", "true".to_owned()),
    ] {
        env.entry(k.to_owned()).or_insert(v);
    }
    let url = env["CREATORFLOW__DATABASE__URL"].clone();
    let settings = Settings::load_with_env(None, Some(env))?;
    creatorflow::telemetry::init_logs(&settings.log);
    let app = Application::build(&settings).await?;
    sandbox.set_webhook_url(&format!("http://{}/webhooks/tiktok", app.addr()));
    let client = Client::new(&settings.tiktok, app.db().clone())?;
    let code = sandbox.add_shop(SHOP, "Drop shop");
    client
        .authorize(&code, Some(&ShopId::parse(SHOP)?), None)
        .await?;
    let ledger = app.db().clone();
    ledger.stock().set(SHOP, SKU, stock, None, None).await?;
    let db = sea_orm::Database::connect(&url).await?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = actix_rt::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));

    // The drop: every order paid within moments, each with its own ship-by deadline (spread
    // over an hour, not in arrival order).
    let now = chrono::Utc::now().timestamp();
    let mut deadline = HashMap::new();
    for i in 0..orders {
        let id = sandbox.create_order(SHOP, 1, true);
        let sla = now + 3_600 + ((i * 7_919) % 3_600) as i64;
        sandbox.set_rts_sla(&id, sla);
        sandbox.set_status(&id, "ON_HOLD", true);
        sandbox.set_status(&id, "AWAITING_SHIPMENT", true);
        deadline.insert(id, sla);
    }
    let handle = creatorflow::telemetry::metrics::handle();
    let webhooks = (3 * orders) as f64;
    let cpu_before = cpu();
    let started = Instant::now();
    until(
        "every webhook acknowledged",
        Duration::from_secs(600),
        async || Ok(counter(&handle.render(), "creatorflow_tiktok_webhooks_total") >= webhooks),
    )
    .await?;
    let acked = Instant::now();
    eprintln!(
        "{orders} orders' webhooks acknowledged in {:.1?}",
        started.elapsed()
    );
    let decided = until(
        "every order decided",
        Duration::from_secs(600),
        async || {
            let past = runs_where(&db, PAST_RESERVATION).await?;
            let waiting = runs_where(&db, "status = 'waiting'").await?;
            Ok(past.len() + waiting.len() >= orders)
        },
    )
    .await?;
    let reserved = runs_where(&db, PAST_RESERVATION).await?;
    let waiting = runs_where(&db, "status = 'waiting'").await?;
    let failed = runs_where(&db, "status = 'failed'").await?;
    let level = ledger.stock().level(SHOP, SKU).await?;

    // The restock: exactly the next `restock` waiting orders by deadline go on.
    let mut queue: Vec<&String> = waiting.iter().collect();
    queue.sort_by_key(|id| (deadline[*id], (*id).clone()));
    let next: HashSet<String> = queue
        .iter()
        .take(restock as usize)
        .map(|id| (*id).clone())
        .collect();
    ledger.stock().adjust(SHOP, SKU, restock, None).await?;
    let target = reserved.len() + next.len();
    let woken = until("the restock taken", Duration::from_secs(120), async || {
        Ok(runs_where(&db, PAST_RESERVATION).await?.len() >= target)
    })
    .await?;
    let after = runs_where(&db, PAST_RESERVATION).await?;
    let went: HashSet<String> = after.difference(&reserved).cloned().collect();

    until(
        "the reserved orders shipped",
        Duration::from_secs(900),
        async || Ok(sandbox.ship_log().len() >= reserved.len()),
    )
    .await?;
    let shipped = acked.elapsed();
    let cpu_used = cpu() - cpu_before;
    let calls: Vec<(&str, u64)> = [
        ("Get Order Detail", "/order/202309/orders"),
        ("Batch Ship Packages", "/fulfillment/202309/packages/ship"),
        ("Ship Package", "/fulfillment/202309/packages/{id}/ship"),
        (
            "shipping documents",
            "/fulfillment/202309/packages/{id}/shipping_documents",
        ),
    ]
    .iter()
    .map(|(name, path)| (*name, sandbox.calls(path)))
    .collect();
    let taken = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT state, CAST(SUM(quantity) AS BIGINT) AS units FROM stock_reservations GROUP BY state ORDER BY state"
                .to_owned(),
        ))
        .await?
        .iter()
        .map(|r| {
            Ok(format!(
                "{} {}",
                r.try_get::<i64>("", "units")?,
                r.try_get::<String>("", "state")?
            ))
        })
        .collect::<anyhow::Result<Vec<_>>>()?
        .join(", ");

    println!(
        "drop of {orders} orders on one SKU with {stock} in stock ({})",
        if url.starts_with("postgres") {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    );
    println!(
        "  decided {:.2} s after the last webhook was acknowledged: {} past their reservation, {} waiting, {} failed; \
         then on hand {}, reserved {}",
        decided.as_secs_f64(),
        reserved.len(),
        waiting.len(),
        failed.len(),
        level.on_hand,
        level.reserved,
    );
    println!(
        "  restock of {restock}: {} more past their reservation in {:.2} s; the next {restock} by deadline: {}",
        went.len(),
        woken.as_secs_f64(),
        went == next,
    );
    println!(
        "  the first {} shipped at TikTok {:.1} s after the last webhook; TikTok calls: {}",
        reserved.len(),
        shipped.as_secs_f64(),
        calls
            .iter()
            .map(|(name, n)| format!("{name} {n}"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    println!(
        "  units taken ({} + {restock} on the shelf in all): {taken}",
        stock
    );
    let metrics = handle.render();
    let refused: f64 = ["overloaded", "unavailable"]
        .iter()
        .map(|outcome| {
            metrics
                .lines()
                .filter(|l| {
                    l.starts_with("creatorflow_tiktok_webhooks_total")
                        && l.contains(&format!("outcome=\"{outcome}\""))
                })
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum::<f64>()
        })
        .sum();
    println!(
        "  webhooks refused (overloaded or unavailable): {}",
        refused as u64
    );
    println!(
        "  CPU (daemon and sandbox in this process, from /proc): {:.2} s, {:.0} µs per order",
        cpu_used.as_secs_f64(),
        cpu_used.as_secs_f64() * 1e6 / orders as f64
    );
    let _ = stop.send(());
    running.await??;
    sandbox.stop().await;
    Ok(())
}
