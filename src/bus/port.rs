//! The bus the daemon runs on: RabbitMQ or in-process, behind one type.

use super::{Message, Published, Subscription, amqp, local};

/// Why the bus could not take a message.
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
    pub fn start(settings: &crate::config::BusSettings, subscriptions: Vec<Subscription>) -> Self {
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

    /// How much waits in RabbitMQ's queues; nothing for the in-process bus, whose messages
    /// wait in the log (the relay's checkpoint says how far behind it is).
    pub async fn queues(&self) -> Result<Vec<super::QueueDepth>, Error> {
        match self {
            Bus::Local(_) => Ok(Vec::new()),
            Bus::Amqp(amqp) => amqp.queues().await,
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
