//! The in-process bus: each published message goes to every subscription whose bindings match,
//! right away. The relay marks the outbox row sent only when all of them are done, so a crash,
//! a failing handler or a restart delivers again (at least once), exactly as with RabbitMQ.

use std::sync::Arc;

use super::{Delivery, Failure, Message, Published, Subscription};

#[derive(Clone)]
pub struct Local {
    subscriptions: Arc<Vec<Subscription>>,
}

impl Local {
    pub fn new(subscriptions: Vec<Subscription>) -> Self {
        Self {
            subscriptions: Arc::new(subscriptions),
        }
    }

    pub async fn publish(&self, batch: &[Message]) -> Published {
        let mut published = Published::default();
        let handled = batch.iter().map(|message| async move {
            let mut outcome = Ok(());
            for sub in self.subscriptions.iter() {
                if !sub.receives(&message.routing_key) {
                    continue;
                }
                let delivery = Delivery {
                    message_id: Some(message.id.to_string()),
                    routing_key: message.routing_key.clone(),
                    body: message.body.clone(),
                    redelivered: false,
                };
                let handled = (sub.handler)(delivery).await;
                super::count_consumed(sub.name, &handled);
                if let Err(failure) = handled {
                    tracing::warn!(
                        subscription = sub.name,
                        id = message.id,
                        ?failure,
                        "delivery failed"
                    );
                    outcome = Err(failure);
                    if matches!(outcome, Err(Failure::Poison(_))) {
                        break;
                    }
                }
            }
            (message.id, outcome)
        });
        for (id, outcome) in futures_util::future::join_all(handled).await {
            match outcome {
                Ok(()) => published.sent.push(id),
                Err(Failure::Retry(why)) => published.retry.push((id, why)),
                Err(Failure::Poison(why)) => published.poison.push((id, why)),
            }
        }
        published
    }
}
