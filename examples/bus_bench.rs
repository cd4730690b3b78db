//! Bus benchmark against the local RabbitMQ, on the configured database (default: embedded
//! SQLite in a temporary folder).
//!
//! ```sh
//! # outbox relay: N committed transition rows published with confirms, then marked sent
//! cargo run --release --example bus_bench -- relay --messages 100000
//! # consumer → order actor → journal commit: N carrier tracking events preloaded in the queue
//! cargo run --release --example bus_bench -- consume --messages 50000
//! ```
//!
//! `CREATORFLOW__BUS__AMQP_URL` (default `amqp://guest:guest@127.0.0.1:5672/%2f`),
//! `CREATORFLOW__BUS__PREFETCH` and `CREATORFLOW__DATABASE__URL` apply. Exchanges and queues get
//! a prefix of their own and are deleted at the end.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use creatorflow::actors::{Envelope, RegistryHandle};
use creatorflow::bus::relay::Round;
use creatorflow::bus::{Bus, Delivery, Failure, Relay, Subscription};
use creatorflow::config::Settings;
use creatorflow::domain::{Cause, Msg, OrderId, OrderStatus, ShopId};
use creatorflow::journal::Tail;
use creatorflow::persistence::Database;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Connection, ConnectionProperties};

mod common;
use common::{arg, counter};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SHOP: &str = "7494049642642441621";

/// Creates `n` orders through the engine, `concurrency` at a time.
async fn create_orders(registry: &RegistryHandle, n: usize, status: OrderStatus) {
    use futures_util::StreamExt;
    let t = chrono::Utc::now().timestamp();
    futures_util::stream::iter(0..n)
        .for_each_concurrent(512, |i| {
            let registry = registry.clone();
            let status = status.clone();
            async move {
                registry
                    .submit(
                        OrderId::parse(&format!("58{i:016}")).unwrap(),
                        Envelope {
                            msg: Msg::Status {
                                shop_id: ShopId::parse(SHOP).unwrap(),
                                status,
                                update_time: t,
                            },
                            cause: Cause::Integration("bench".into()),
                            inbox: None,
                        },
                    )
                    .await
                    .expect("the engine takes the order");
            }
        })
        .await;
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "relay".into());
    let messages = arg("--messages", 100_000);
    let dir = tempfile::tempdir()?;
    let prefix = format!("bench_{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let mut env: HashMap<String, String> = std::env::vars()
        .filter(|(k, _)| {
            k.starts_with("CREATORFLOW__DATABASE__") || k.starts_with("CREATORFLOW__BUS__")
        })
        .collect();
    env.entry("CREATORFLOW__DATABASE__URL".into())
        .or_insert_with(|| format!("sqlite://{}/bench.db?mode=rwc", dir.path().display()));
    env.entry("CREATORFLOW__BUS__AMQP_URL".into())
        .or_insert_with(|| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    env.insert("CREATORFLOW__BUS__PREFIX".into(), prefix.clone());
    env.insert("CREATORFLOW__LOG__LEVEL".into(), "warn".into());
    let settings = Settings::load_with_env(None, Some(env))?;
    creatorflow::telemetry::init_logs(&settings.log);
    let metrics = creatorflow::telemetry::metrics::handle();
    let db = Database::connect(&settings.database).await?;
    db.migrate_up().await?;
    let registry = creatorflow::app::start_engine(&settings, &db).await?;
    let url = secrecy::ExposeSecret::expose_secret(&settings.bus.amqp_url).to_owned();

    match mode.as_str() {
        "relay" => {
            create_orders(&registry, messages, OrderStatus::Unpaid).await;
            eprintln!(
                "{messages} orders committed, each announcing an order.transition on the log"
            );
            let sink = Subscription::new("bench", &["order.#"], |_d: Delivery| async {
                Ok::<(), Failure>(())
            });
            let bus = Bus::start(&settings.bus, vec![sink]);
            let Bus::Amqp(amqp) = &bus else {
                unreachable!()
            };
            while !amqp.is_connected().await {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let relay = Relay::new(db.clone(), bus.clone(), settings.bus.relay_batch);
            let mut tail = Tail::open(db.clone(), "bench", registry.committed()).await?;
            let end = tail.committed();
            let started = Instant::now();
            let mut sent = 0;
            while tail.position() < end {
                match relay.relay_log(&mut tail).await? {
                    Round::Done(n) => sent += n,
                    other => anyhow::bail!("the relay stopped: {other:?}"),
                }
            }
            let seconds = started.elapsed().as_secs_f64();
            println!(
                "log relay: {sent} messages published with confirms, checkpoint moved, in {seconds:.2} s: {:.0} messages/s (batch {})",
                sent as f64 / seconds,
                settings.bus.relay_batch
            );
            bus.stop();
            creatorflow::bus::amqp::delete_topology(&url, &prefix, &["bench"]).await?;
        }
        "consume" => {
            create_orders(&registry, messages, OrderStatus::AwaitingShipment).await;
            let tracking =
                creatorflow::integrations::shipping::tracking_subscription(registry.clone());
            // Declare the topology and preload the queue before anyone consumes.
            let connection = Connection::connect(&url, ConnectionProperties::default()).await?;
            let channel = connection.create_channel().await?;
            let topology = creatorflow::bus::amqp::Topology {
                prefix: prefix.clone(),
            };
            creatorflow::bus::amqp::declare(
                &channel,
                &topology,
                std::slice::from_ref(&tracking),
                5,
            )
            .await?;
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await?;
            for i in 0..messages {
                let body = serde_json::json!({
                    "schema": "shipping.tracking.v1", "event_id": format!("e{i}"),
                    "order_id": format!("58{i:016}"), "status": "in_transit", "carrier": "UPS",
                });
                channel
                    .basic_publish(
                        topology.events().into(),
                        "shipping.tracking.ups".into(),
                        BasicPublishOptions {
                            mandatory: true,
                            ..Default::default()
                        },
                        body.to_string().as_bytes(),
                        BasicProperties::default().with_delivery_mode(2),
                    )
                    .await?;
            }
            channel.wait_for_confirms().await?;
            eprintln!(
                "{messages} tracking events waiting in {}",
                topology.queue("tracking")
            );
            let started = Instant::now();
            let bus = Bus::start(&settings.bus, vec![tracking]);
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let done = counter(
                    &metrics.render(),
                    "creatorflow_bus_consumed_total{subscription=\"tracking\",outcome=\"done\"}",
                );
                if done as usize >= messages {
                    break;
                }
                anyhow::ensure!(
                    started.elapsed() < Duration::from_secs(600),
                    "only {done} consumed in 10 min"
                );
            }
            let seconds = started.elapsed().as_secs_f64();
            println!(
                "consumer -> order actor -> commit: {messages} tracking events applied and acked in {seconds:.2} s: {:.0} messages/s (prefetch {})",
                messages as f64 / seconds,
                settings.bus.prefetch
            );
            bus.stop();
            creatorflow::bus::amqp::delete_topology(&url, &prefix, &["tracking"]).await?;
        }
        other => anyhow::bail!("unknown mode {other}: relay or consume"),
    }
    registry.drain(Duration::from_secs(10)).await;
    Ok(())
}
