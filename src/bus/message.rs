//! What travels on the bus: a message to publish, a delivery as a consumer receives it, and what
//! became of a published batch.

use bytes::Bytes;

/// A message ready to publish (from the log, or from the outbox).
#[derive(Debug, Clone)]
pub struct Message {
    /// The message id consumers dedupe on: the log position, or the negated outbox row id.
    pub id: i64,
    pub routing_key: String,
    /// JSON with a `schema` field naming its versioned shape; shared, not copied, with every
    /// local subscriber's delivery.
    pub body: Bytes,
    /// W3C trace context of the commit that announced it, when traces are on.
    pub traceparent: Option<String>,
}

/// A message as a consumer receives it.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The publisher's message id, if it set one.
    pub message_id: Option<String>,
    pub routing_key: String,
    pub body: Bytes,
    pub redelivered: bool,
    /// The W3C trace context the publisher sent (AMQP header `traceparent`).
    pub traceparent: Option<String>,
}

/// What became of a published batch, by message id.
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

/// One RabbitMQ queue as the broker counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueDepth {
    pub name: String,
    /// Messages ready for delivery (delivered, unacknowledged ones not counted).
    pub messages: u32,
    pub consumers: u32,
}
