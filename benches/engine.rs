//! Criterion benches of the pure core and the journal: `cargo bench --bench engine`.
//!
//! - `decide_apply/*`: one message decided and its events applied (the actor's CPU per message).
//! - `routing/shard_of`: the stable hash that picks a shard.
//! - `journal/sqlite_batch_of_512`: 512 commits of one status change each, group-committed to a
//!   file-backed SQLite database (WAL, synchronous=FULL), i.e. the durable cost per batch.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use creatorflow::config::Settings;
use creatorflow::domain::{Msg, Order, OrderId, OrderStatus, ShopId, decide};
use creatorflow::journal::{Commit, InboxEntry, Journal};
use creatorflow::persistence::Database;
use criterion::{Criterion, criterion_group, criterion_main};

fn shop() -> ShopId {
    ShopId::parse("7494049642642441621").expect("valid")
}

fn status(s: &str, t: i64) -> Msg {
    Msg::Status {
        shop_id: shop(),
        status: OrderStatus::parse(s),
        update_time: t,
    }
}

fn order_at(status_name: &str) -> Order {
    let id = OrderId::parse("576653688135258178").expect("valid");
    let decision = decide(&id, None, &status(status_name, 1)).expect("creates");
    Order::advance(None, &id, decision.events)
        .expect("created")
        .0
}

fn decide_apply(c: &mut Criterion) {
    let id = OrderId::parse("576653688135258178").expect("valid");
    let unpaid = order_at("UNPAID");
    c.bench_function("decide_apply/create", |b| {
        b.iter(|| {
            let d = decide(&id, None, black_box(&status("UNPAID", 1))).expect("ok");
            black_box(Order::advance(None, &id, d.events))
        })
    });
    c.bench_function("decide_apply/status_change", |b| {
        let msg = status("AWAITING_SHIPMENT", 2);
        b.iter(|| {
            let d = decide(&id, Some(&unpaid), black_box(&msg)).expect("ok");
            black_box(Order::advance(Some(&unpaid), &id, d.events))
        })
    });
    c.bench_function("decide_apply/stale_ignored", |b| {
        let newer = order_at("IN_TRANSIT");
        let msg = status("UNPAID", 0);
        b.iter(|| black_box(decide(&id, Some(&newer), black_box(&msg)).expect("ok")))
    });
}

fn routing(c: &mut Criterion) {
    let ids: Vec<OrderId> = (0..1024)
        .map(|i| OrderId::parse(&format!("5766536881352{i:05}")).expect("valid"))
        .collect();
    c.bench_function("routing/shard_of", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % ids.len();
            black_box(ids[i].stable_hash() % 8)
        })
    });
}

fn journal(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let env = HashMap::from([(
        "CREATORFLOW__DATABASE__URL".to_owned(),
        format!("sqlite://{}/bench.db?mode=rwc", dir.path().display()),
    )]);
    let settings = Settings::load_with_env(None, Some(env)).expect("settings");
    let (db, journal) = runtime.block_on(async {
        let db = Database::connect(&settings.database).await.expect("db");
        db.migrate_up().await.expect("migrate");
        let journal = Journal::start(db.clone(), 512, Duration::from_millis(2), 1)
            .await
            .expect("journal");
        (db, journal)
    });
    let mut round = 0_i64;
    c.bench_function("journal/sqlite_batch_of_512", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                round += 1;
                let commits: Vec<Commit> = (0..512)
                    .map(|i| {
                        let id = OrderId::parse(&format!("{round}x{i}")).expect("valid");
                        let d = decide(&id, None, &status("UNPAID", 1)).expect("ok");
                        let (order, applied) = Order::advance(None, &id, d.events).expect("new");
                        Commit {
                            order,
                            applied,
                            cause: "bench".into(),
                            inbox: Some(InboxEntry {
                                dedupe_key: format!("{round}-{i}").into(),
                                event_type: 1,
                            }),
                            effects: d.effects,
                            trace: None,
                        }
                    })
                    .collect();
                let started = Instant::now();
                runtime.block_on(async {
                    let waits = commits.into_iter().map(|c| journal.commit(c));
                    for outcome in futures_util::future::join_all(waits).await {
                        outcome.expect("committed");
                    }
                });
                total += started.elapsed();
            }
            total
        })
    });
    drop(db);
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(5));
    targets = decide_apply, routing, journal
}
criterion_main!(benches);
