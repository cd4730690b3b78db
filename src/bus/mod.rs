//! The bus: one port, two implementations.
//!
//! Order changes announce themselves on the log (see `persistence::journal`); the [`relay`]
//! publishes them and moves its checkpoint only once the bus has them, so a crash between
//! commit and publish repeats a message, never loses one. Consumers
//! handle each delivery and say whether it is done, should be retried, or can never be handled
//! (poison: dead-lettered).
//!
//! - [`amqp`]: RabbitMQ through lapin. A topic exchange `<prefix>.events`, one quorum queue per
//!   subscription (`<prefix>.<name>`, with a delivery limit and the dead-letter exchange
//!   `<prefix>.dlx` → queue `<prefix>.dead`), publisher confirms with mandatory routing, manual
//!   acks after the effect is committed, bounded prefetch, reconnect with backoff.
//! - [`local`] (`bus.amqp_url` empty): the relay hands each message to the matching in-process
//!   subscriptions; the relay moves on only when every one of them is done, so delivery is at
//!   least once, backed by the log.

pub mod amqp;
pub mod local;
mod message;
mod port;
pub mod relay;
mod subscription;

pub use message::{Delivery, Message, Published, QueueDepth};
pub use port::{Bus, Error};
pub use relay::Relay;
use subscription::count_consumed;
pub use subscription::{Failure, Handler, Subscription, topic_matches};
