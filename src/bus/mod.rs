//! The bus: one port, two implementations.
//!
//! Order changes write their outgoing messages to the outbox in the same commit (see
//! `persistence::journal`); the [`relay`] publishes them and deletes them only once the bus
//! has them, so a crash between commit and publish repeats a message, never loses one. Consumers
//! handle each delivery and say whether it is done, should be retried, or can never be handled
//! (poison: dead-lettered).
//!
//! - [`amqp`]: RabbitMQ through lapin. A topic exchange `<prefix>.events`, one quorum queue per
//!   subscription (`<prefix>.<name>`, with a delivery limit and the dead-letter exchange
//!   `<prefix>.dlx` → queue `<prefix>.dead`), publisher confirms with mandatory routing, manual
//!   acks after the effect is committed, bounded prefetch, reconnect with backoff.
//! - [`local`] (`bus.amqp_url` empty): the relay hands each message to the matching in-process
//!   subscriptions; a row is deleted only when every one of them is done, so delivery is at
//!   least once, backed by the outbox table.

pub mod amqp;
pub mod local;
pub mod relay;

use std::sync::Arc;

use futures_util::future::BoxFuture;

pub use relay::Relay;

/// A message taken from the outbox, ready to publish.
#[derive(Debug, Clone)]
pub struct Message {
    /// The outbox row id: the message id consumers dedupe on.
    pub id: i64,
    pub routing_key: String,
    /// JSON with a `schema` field naming its versioned shape.
    pub body: Vec<u8>,
}

/// A message as a consumer receives it.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The publisher's message id, if it set one.
    pub message_id: Option<String>,
    pub routing_key: String,
    pub body: Vec<u8>,
    pub redelivered: bool,
}

/// Why a consumer did not finish a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// A passing problem (database busy, engine overloaded): deliver again later.
    Retry(String),
    /// The message can never be handled (unreadable, unknown schema): dead-letter it.
    Poison(String),
}

/// Handles the deliveries that are ready together and answers each one's outcome, in order.
pub type Handler = Arc<
    dyn Fn(Vec<Delivery>) -> BoxFuture<'static, Vec<Result<(), Failure>>> + Send + Sync + 'static,
>;

/// A named consumer and the routing patterns (`*` one word, `#` any number) it receives.
#[derive(Clone)]
pub struct Subscription {
    pub name: &'static str,
    pub bindings: Vec<String>,
    pub handler: Handler,
}

impl Subscription {
    /// A consumer that handles one delivery at a time (the deliveries that are ready
    /// together run concurrently).
    pub fn new<F, Fut>(name: &'static str, bindings: &[&str], handler: F) -> Self
    where
        F: Fn(Delivery) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), Failure>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        Self::batched(name, bindings, move |batch: Vec<Delivery>| {
            let handler = handler.clone();
            async move { futures_util::future::join_all(batch.into_iter().map(|d| handler(d))).await }
        })
    }

    /// A consumer that handles the deliveries that are ready together in one go (e.g. one
    /// multi-row insert); it answers one outcome per delivery, in order.
    pub fn batched<F, Fut>(name: &'static str, bindings: &[&str], handler: F) -> Self
    where
        F: Fn(Vec<Delivery>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<Result<(), Failure>>> + Send + 'static,
    {
        Self {
            name,
            bindings: bindings.iter().map(|b| b.to_string()).collect(),
            handler: Arc::new(move |batch| Box::pin(handler(batch))),
        }
    }

    fn receives(&self, routing_key: &str) -> bool {
        self.bindings.iter().any(|b| topic_matches(b, routing_key))
    }
}

/// What became of a published batch, by outbox id.
#[derive(Debug, Default)]
pub struct Published {
    /// Taken by the bus (confirmed by the broker, or handled by every local subscriber).
    pub sent: Vec<i64>,
    /// To publish again later.
    pub retry: Vec<(i64, String)>,
    /// Refused for good (a local subscriber found it poison).
    pub poison: Vec<(i64, String)>,
    /// Nothing was tried (no connection): no attempt is counted against the rows.
    pub unavailable: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("RabbitMQ: {0}")]
    Amqp(#[from] lapin::Error),
    #[error("not connected to RabbitMQ")]
    Disconnected,
}

/// The bus the daemon was configured with. Cheap to clone.
#[derive(Clone)]
pub enum Bus {
    Local(local::Local),
    Amqp(amqp::Amqp),
}

impl Bus {
    /// Starts the bus and its consumers: RabbitMQ when `amqp_url` is set, else in-process.
    pub fn start(settings: &crate::config::Bus, subscriptions: Vec<Subscription>) -> Self {
        use secrecy::ExposeSecret;
        if settings.amqp_url.expose_secret().is_empty() {
            Bus::Local(local::Local::new(subscriptions))
        } else {
            Bus::Amqp(amqp::Amqp::start(settings, subscriptions))
        }
    }

    pub async fn publish(&self, batch: &[Message]) -> Published {
        match self {
            Bus::Local(local) => local.publish(batch).await,
            Bus::Amqp(amqp) => amqp.publish(batch).await,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Bus::Local(_) => "local",
            Bus::Amqp(_) => "amqp",
        }
    }

    /// Stops consuming; deliveries in progress are not acknowledged and come back.
    pub fn stop(&self) {
        if let Bus::Amqp(amqp) = self {
            amqp.stop();
        }
    }
}

/// Counts a handled delivery by subscription and outcome.
fn count_consumed(subscription: &'static str, outcome: &Result<(), Failure>) {
    let label = match outcome {
        Ok(()) => "done",
        Err(Failure::Retry(_)) => "retry",
        Err(Failure::Poison(_)) => "poison",
    };
    metrics::counter!(crate::telemetry::metrics::BUS_CONSUMED_TOTAL, "subscription" => subscription, "outcome" => label)
        .increment(1);
}

/// AMQP topic matching: words separated by dots, `*` matches one word, `#` zero or more.
pub fn topic_matches(pattern: &str, key: &str) -> bool {
    fn go(p: &[&str], k: &[&str]) -> bool {
        match (p.first(), k.first()) {
            (None, None) => true,
            (Some(&"#"), _) => go(&p[1..], k) || (!k.is_empty() && go(p, &k[1..])),
            (Some(&"*"), Some(_)) => go(&p[1..], &k[1..]),
            (Some(w), Some(x)) if w == x => go(&p[1..], &k[1..]),
            _ => false,
        }
    }
    let p: Vec<&str> = pattern.split('.').collect();
    let k: Vec<&str> = key.split('.').collect();
    go(&p, &k)
}

#[cfg(test)]
mod tests {
    use super::topic_matches;

    #[test]
    fn topic_patterns_match_as_rabbitmq_matches_them() {
        assert!(topic_matches(
            "order.transition.#",
            "order.transition.shipped"
        ));
        assert!(topic_matches("order.#", "order"));
        assert!(topic_matches("#", "anything.at.all"));
        assert!(topic_matches("order.*.shipped", "order.transition.shipped"));
        assert!(!topic_matches("order.*", "order.transition.shipped"));
        assert!(!topic_matches("order.transition.#", "inventory.low_stock"));
        assert!(topic_matches(
            "shipping.tracking.*",
            "shipping.tracking.ups"
        ));
        assert!(!topic_matches("shipping.tracking.*", "shipping.tracking"));
    }
}
