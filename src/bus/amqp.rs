//! RabbitMQ through lapin.
//!
//! One supervisor task owns the connection: it connects (retrying with exponential backoff),
//! declares the topology, opens a confirming publisher channel and one channel per
//! subscription, and when anything about the connection fails it drops it all and starts over,
//! topology included. Publishing while disconnected fails fast; the relay keeps the rows and
//! tries again, so nothing is lost while the broker is away.
//!
//! Topology (names start with `bus.prefix`):
//! - exchange `<prefix>.events` (topic, durable): everything the relay publishes;
//! - exchange `<prefix>.dlx` (topic, durable) and queue `<prefix>.dead` bound to `#`: poison
//!   messages and messages delivered `bus.delivery_limit` times;
//! - per subscription a durable quorum queue `<prefix>.<name>` bound to its patterns, with
//!   `x-delivery-limit` and `x-dead-letter-exchange`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
    BasicRejectOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind,
};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{Notify, RwLock};
use tracing::Instrument;

use super::{Delivery, Error, Failure, Message, Published, Subscription};
use crate::telemetry::traces;

/// How long a batch waits for the broker's confirms before taking the connection for lost.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);

/// Names of the exchanges and queues for one prefix.
#[derive(Debug, Clone)]
pub struct Topology {
    pub prefix: String,
}

impl Topology {
    pub fn events(&self) -> String {
        format!("{}.events", self.prefix)
    }
    pub fn dlx(&self) -> String {
        format!("{}.dlx", self.prefix)
    }
    pub fn dead_queue(&self) -> String {
        format!("{}.dead", self.prefix)
    }
    pub fn queue(&self, name: &str) -> String {
        format!("{}.{name}", self.prefix)
    }
}

#[derive(Clone)]
pub struct Amqp {
    inner: Arc<Inner>,
}

struct Inner {
    url: SecretString,
    topology: Topology,
    prefetch: u16,
    delivery_limit: u32,
    subscriptions: Vec<Subscription>,
    /// The confirming publisher channel of the current connection, with its epoch.
    publisher: RwLock<Option<(u64, Channel)>>,
    /// A channel of the current connection for looking at queues (passive declares).
    inspector: tokio::sync::Mutex<Option<Channel>>,
    /// Counts connections; a failure reported for an older one is ignored.
    epoch: AtomicU64,
    /// Woken when a connection failed; `failed` says which one.
    broken: Notify,
    failed: AtomicU64,
    stopped: AtomicBool,
}

impl Inner {
    /// The connection of `epoch` failed: start over, unless that happened already.
    fn broke(&self, epoch: u64) {
        self.failed.store(epoch, Ordering::Release);
        self.broken.notify_one();
    }

    /// Waits until the connection of `epoch` failed or the bus is stopped. Wake-ups left over
    /// from an older connection are ignored.
    async fn until_broken(&self, epoch: u64) {
        loop {
            self.broken.notified().await;
            if self.stopped.load(Ordering::Acquire) || self.failed.load(Ordering::Acquire) == epoch
            {
                return;
            }
        }
    }
}

impl Amqp {
    pub fn start(settings: &crate::config::BusSettings, subscriptions: Vec<Subscription>) -> Self {
        let amqp = Self {
            inner: Arc::new(Inner {
                url: settings.amqp_url.clone(),
                topology: Topology {
                    prefix: settings.prefix.clone(),
                },
                prefetch: settings.prefetch,
                delivery_limit: settings.delivery_limit,
                subscriptions,
                publisher: RwLock::new(None),
                inspector: tokio::sync::Mutex::new(None),
                epoch: AtomicU64::new(0),
                broken: Notify::new(),
                failed: AtomicU64::new(u64::MAX),
                stopped: AtomicBool::new(false),
            }),
        };
        tokio::spawn(supervise(amqp.inner.clone()));
        amqp
    }

    pub fn topology(&self) -> &Topology {
        &self.inner.topology
    }

    /// Whether a connection is up and its topology declared.
    pub async fn is_connected(&self) -> bool {
        self.inner.publisher.read().await.is_some()
    }

    /// Each subscription's queue and the dead-letter queue: messages ready for delivery (not
    /// counting those delivered and not yet acknowledged) and consumers.
    pub async fn queues(&self) -> Result<Vec<super::QueueDepth>, Error> {
        let mut inspector = self.inner.inspector.lock().await;
        let channel = inspector.as_ref().ok_or(Error::Disconnected)?;
        let t = &self.inner.topology;
        let names = self.inner.subscriptions.iter().map(|s| t.queue(s.name));
        let mut depths = Vec::new();
        for name in names.chain([t.dead_queue()]) {
            let passive = QueueDeclareOptions {
                passive: true,
                ..Default::default()
            };
            match channel
                .queue_declare(name.as_str().into(), passive, FieldTable::default())
                .await
            {
                Ok(queue) => depths.push(super::QueueDepth {
                    name,
                    messages: queue.message_count(),
                    consumers: queue.consumer_count(),
                }),
                Err(e) => {
                    // A refused declare closes the channel: looking again waits for the next
                    // connection.
                    *inspector = None;
                    return Err(e.into());
                }
            }
        }
        Ok(depths)
    }

    pub fn stop(&self) {
        self.inner.stopped.store(true, Ordering::Release);
        self.inner.broken.notify_one();
    }

    /// Publishes the batch to the events exchange, mandatory and persistent, then waits for the
    /// broker's confirms. A nack, a returned (unroutable) message or a lost connection leaves the
    /// message to publish again.
    pub async fn publish(&self, batch: &[Message]) -> Published {
        let mut published = Published::default();
        let Some((epoch, channel)) = self.inner.publisher.read().await.clone() else {
            published.retry = batch
                .iter()
                .map(|m| (m.id, Error::Disconnected.to_string()))
                .collect();
            published.unavailable = true;
            return published;
        };
        let exchange: ShortString = self.inner.topology.events().into();
        let mut confirms = Vec::with_capacity(batch.len());
        for message in batch {
            let mut properties = BasicProperties::default()
                .with_delivery_mode(2)
                .with_content_type("application/json".into())
                .with_message_id(message.id.to_string().into());
            if let Some(traceparent) = &message.traceparent {
                let mut headers = FieldTable::default();
                headers.insert(
                    TRACEPARENT.into(),
                    AMQPValue::LongString(LongString::from(traceparent.as_str())),
                );
                properties = properties.with_headers(headers);
            }
            let sent = channel
                .basic_publish(
                    exchange.clone(),
                    message.routing_key.as_str().into(),
                    BasicPublishOptions {
                        mandatory: true,
                        ..Default::default()
                    },
                    &message.body,
                    properties,
                )
                .await;
            confirms.push((message.id, sent));
        }
        // A returned message is matched by the message id it carries, not by the confirm it
        // arrived with: lapin hands a basic.return to whichever confirm it settles next, which
        // under load is not always the returned message's own.
        let mut failed_channel = false;
        let mut acked = Vec::with_capacity(batch.len());
        let mut returned: HashMap<i64, String> = HashMap::new();
        // A confirm that never comes is a connection that is gone: no batch waits on it longer
        // than this, after which it is published again on the next connection.
        let deadline = tokio::time::Instant::now() + CONFIRM_TIMEOUT;
        for (id, sent) in confirms {
            let outcome = match sent {
                Ok(confirm) => match tokio::time::timeout_at(deadline, confirm).await {
                    Ok(confirmed) => confirmed.map_err(Error::from),
                    Err(_) => Err(Error::Disconnected),
                },
                Err(e) => Err(Error::from(e)),
            };
            match outcome {
                Ok(Confirmation::Ack(None)) => acked.push(id),
                Ok(Confirmation::Ack(Some(message))) => {
                    let owner = returned_id(&message).unwrap_or(id);
                    let why = format!("returned by the broker: {}", message.reply_text.as_str());
                    returned.insert(owner, why);
                    // The ack is `id`'s own, whoever the returned message belongs to.
                    acked.push(id);
                }
                Ok(Confirmation::Nack(Some(message))) => {
                    let owner = returned_id(&message).unwrap_or(id);
                    let why = format!("returned by the broker: {}", message.reply_text.as_str());
                    returned.insert(owner, why);
                    if owner != id {
                        published.retry.push((id, "nacked by the broker".into()));
                    }
                }
                Ok(Confirmation::Nack(None)) => {
                    published.retry.push((id, "nacked by the broker".into()))
                }
                Ok(Confirmation::NotRequested) => published
                    .retry
                    .push((id, "publisher confirms are off".into())),
                Err(e) => {
                    failed_channel = true;
                    published.retry.push((id, e.to_string()));
                }
            }
        }
        for id in acked {
            match returned.remove(&id) {
                Some(why) => published.retry.push((id, why)),
                None => published.sent.push(id),
            }
        }
        // A returned message whose own confirm was not an ack: retried once, with the return's
        // reason unless it is retried already.
        for (id, why) in returned {
            let ours = batch.iter().any(|m| m.id == id);
            if ours && !published.retry.iter().any(|(r, _)| *r == id) {
                published.retry.push((id, why));
            }
        }
        published.retry.sort_by_key(|(id, _)| *id);
        if failed_channel {
            self.inner.broke(epoch);
        }
        published
    }
}

/// The id of the message a basic.return gives back (the relay sets it on every message).
fn returned_id(message: &lapin::message::BasicReturnMessage) -> Option<i64> {
    message
        .delivery
        .properties
        .message_id()
        .as_ref()?
        .as_str()
        .parse()
        .ok()
}

async fn supervise(inner: Arc<Inner>) {
    let mut delay = Duration::from_millis(100);
    while !inner.stopped.load(Ordering::Acquire) {
        let epoch = inner.epoch.load(Ordering::Acquire);
        match connect(&inner, epoch).await {
            Ok(connection) => {
                delay = Duration::from_millis(100);
                tracing::info!(prefix = %inner.topology.prefix, "connected to RabbitMQ");
                metrics::counter!(crate::telemetry::metrics::BUS_CONNECTS_TOTAL).increment(1);
                inner.until_broken(epoch).await;
                inner.epoch.fetch_add(1, Ordering::AcqRel);
                *inner.publisher.write().await = None;
                *inner.inspector.lock().await = None;
                let _ = connection.close(200, "reconnecting".into()).await;
                if !inner.stopped.load(Ordering::Acquire) {
                    tracing::warn!("RabbitMQ connection lost; reconnecting");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?delay, "cannot reach RabbitMQ");
                inner.epoch.fetch_add(1, Ordering::AcqRel);
                *inner.publisher.write().await = None;
                tokio::time::sleep(jitter(delay)).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    }
}

fn jitter(delay: Duration) -> Duration {
    delay.mul_f64(0.5 + rand::random::<f64>() / 2.0)
}

/// Connects, declares the topology, starts the consumers and publishes the publisher channel.
async fn connect(inner: &Arc<Inner>, epoch: u64) -> Result<Connection, Error> {
    let connection = Connection::connect(
        inner.url.expose_secret(),
        ConnectionProperties::default()
            .with_connection_name(format!("creatorflow {}", inner.topology.prefix).into()),
    )
    .await?;
    let t = &inner.topology;
    let publisher = connection.create_channel().await?;
    declare(&publisher, t, &inner.subscriptions, inner.delivery_limit).await?;

    // A dropped connection shows as an error event; any such event means starting over.
    let mut events = connection.events_listener();
    let watcher = inner.clone();
    tokio::spawn(async move {
        while let Some(event) = events.next().await {
            if let lapin::Event::Error(e) = event {
                if !watcher.stopped.load(Ordering::Acquire) {
                    tracing::warn!(error = %e, "RabbitMQ connection error");
                }
                watcher.broke(epoch);
                break;
            }
        }
    });

    for sub in &inner.subscriptions {
        let channel = connection.create_channel().await?;
        channel
            .basic_qos(inner.prefetch, BasicQosOptions::default())
            .await?;
        let consumer = channel
            .basic_consume(
                t.queue(sub.name).into(),
                format!("creatorflow-{}", sub.name).into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        tokio::spawn(consume(inner.clone(), epoch, sub.clone(), consumer));
    }

    publisher
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    *inner.inspector.lock().await = Some(connection.create_channel().await?);
    *inner.publisher.write().await = Some((epoch, publisher));
    Ok(connection)
}

/// Consumers of earlier versions, whose queues are deleted: `analytics` (it reads the log since
/// migration 34).
const RETIRED: [&str; 1] = ["analytics"];

/// Declares exchanges, the dead-letter queue and every subscription's queue with its bindings,
/// and deletes retired consumers' queues. Idempotent: run again on every reconnect.
pub async fn declare(
    channel: &Channel,
    t: &Topology,
    subscriptions: &[Subscription],
    delivery_limit: u32,
) -> Result<(), Error> {
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    for exchange in [t.events(), t.dlx()] {
        channel
            .exchange_declare(
                exchange.into(),
                ExchangeKind::Topic,
                durable,
                FieldTable::default(),
            )
            .await?;
    }
    // A retired consumer's queue would fill up forever, bound and unread.
    for retired in RETIRED
        .iter()
        .filter(|name| subscriptions.iter().all(|s| s.name != **name))
    {
        channel
            .queue_delete(
                t.queue(retired).into(),
                lapin::options::QueueDeleteOptions::default(),
            )
            .await?;
    }
    let queue_options = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let mut quorum = FieldTable::default();
    quorum.insert(
        "x-queue-type".into(),
        AMQPValue::LongString(LongString::from("quorum")),
    );
    channel
        .queue_declare(t.dead_queue().into(), queue_options, quorum.clone())
        .await?;
    channel
        .queue_bind(
            t.dead_queue().into(),
            t.dlx().into(),
            "#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    for sub in subscriptions {
        let mut arguments = quorum.clone();
        arguments.insert(
            "x-delivery-limit".into(),
            AMQPValue::LongInt(delivery_limit as i32),
        );
        arguments.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString(LongString::from(t.dlx())),
        );
        channel
            .queue_declare(t.queue(sub.name).into(), queue_options, arguments)
            .await?;
        for binding in &sub.bindings {
            channel
                .queue_bind(
                    t.queue(sub.name).into(),
                    t.events().into(),
                    binding.as_str().into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;
        }
    }
    Ok(())
}

/// Deletes a prefix's queues (`names` and the dead-letter queue) and exchanges, messages and
/// all. For tests and for operators retiring a deployment.
pub async fn delete_topology(url: &str, prefix: &str, names: &[&str]) -> Result<(), Error> {
    let t = Topology {
        prefix: prefix.to_owned(),
    };
    let connection = Connection::connect(url, ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    for queue in names.iter().map(|n| t.queue(n)).chain([t.dead_queue()]) {
        channel
            .queue_delete(queue.into(), lapin::options::QueueDeleteOptions::default())
            .await?;
    }
    for exchange in [t.events(), t.dlx()] {
        channel
            .exchange_delete(
                exchange.into(),
                lapin::options::ExchangeDeleteOptions::default(),
            )
            .await?;
    }
    let _ = connection.close(200, "deleted".into()).await;
    Ok(())
}

/// Handles deliveries as they are ready (at most `prefetch` unacknowledged), four batches at a
/// time; acks each only after the handler is done (its effect committed), requeues passing
/// failures after a pause, rejects poison to the DLX.
/// The W3C trace context header a message carries.
const TRACEPARENT: &str = "traceparent";

fn traceparent(properties: &BasicProperties) -> Option<String> {
    match properties.headers().as_ref()?.inner().get(TRACEPARENT)? {
        AMQPValue::LongString(value) => Some(value.to_string()),
        _ => None,
    }
}

async fn consume(inner: Arc<Inner>, epoch: u64, sub: Subscription, consumer: lapin::Consumer) {
    let limit = usize::from(inner.prefetch.max(1));
    consumer
        .ready_chunks(limit)
        .for_each_concurrent(4, |chunk| {
            let sub = sub.clone();
            let inner = inner.clone();
            async move {
                let mut deliveries = Vec::with_capacity(chunk.len());
                for delivery in chunk {
                    match delivery {
                        Ok(d) => deliveries.push(d),
                        Err(e) if !inner.stopped.load(Ordering::Acquire) => {
                            tracing::warn!(subscription = sub.name, error = %e, "consumer stopped");
                        }
                        Err(_) => {}
                    }
                }
                if deliveries.is_empty() {
                    return;
                }
                let received = deliveries
                    .iter()
                    .map(|d| Delivery {
                        message_id: d.properties.message_id().as_ref().map(|id| id.as_str().to_string()),
                        routing_key: d.routing_key.as_str().to_string(),
                        body: d.data.clone().into(),
                        redelivered: d.redelivered,
                        traceparent: traceparent(&d.properties),
                    })
                    .collect::<Vec<_>>();
                let span = traces::consume_span(
                    sub.name,
                    received.iter().filter_map(|d| d.traceparent.as_deref()),
                );
                let outcomes = (sub.handler)(received).instrument(span).await;
                if outcomes.iter().any(|o| matches!(o, Err(Failure::Retry(_)))) {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                for (delivery, outcome) in deliveries.iter().zip(outcomes) {
                    super::count_consumed(sub.name, &outcome);
                    let acked = match outcome {
                        Ok(()) => delivery.ack(BasicAckOptions::default()).await,
                        Err(Failure::Retry(why)) => {
                            tracing::warn!(subscription = sub.name, %why, "delivery will be retried");
                            delivery
                                .nack(BasicNackOptions {
                                    requeue: true,
                                    ..Default::default()
                                })
                                .await
                        }
                        Err(Failure::Poison(why)) => {
                            tracing::error!(subscription = sub.name, %why, "poison message dead-lettered");
                            metrics::counter!(crate::telemetry::metrics::BUS_POISON_TOTAL, "subscription" => sub.name)
                                .increment(1);
                            delivery
                                .reject(BasicRejectOptions { requeue: false })
                                .await
                        }
                    };
                    if let Err(e) = acked {
                        // The broker redelivers what was not acknowledged.
                        tracing::warn!(subscription = sub.name, error = %e, "could not acknowledge");
                    }
                }
            }
        })
        .await;
    // The stream ended: the channel or connection is gone.
    if !inner.stopped.load(Ordering::Acquire) {
        inner.broke(epoch);
    }
}
