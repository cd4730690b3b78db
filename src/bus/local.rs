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
        // The worst outcome per message over all subscriptions: poison > retry > done.
        let mut outcomes: Vec<Result<(), Failure>> = vec![Ok(()); batch.len()];
        for sub in self.subscriptions.iter() {
            let (positions, deliveries): (Vec<usize>, Vec<Delivery>) = batch
                .iter()
                .enumerate()
                .filter(|(_, m)| sub.receives(&m.routing_key))
                .map(|(i, m)| {
                    let delivery = Delivery {
                        message_id: Some(m.id.to_string()),
                        routing_key: m.routing_key.clone(),
                        body: m.body.clone(),
                        redelivered: false,
                    };
                    (i, delivery)
                })
                .unzip();
            if deliveries.is_empty() {
                continue;
            }
            let handled = (sub.handler)(deliveries).await;
            for (i, outcome) in positions.into_iter().zip(handled) {
                super::count_consumed(sub.name, &outcome);
                if let Err(failure) = outcome {
                    tracing::warn!(
                        subscription = sub.name,
                        id = batch[i].id,
                        ?failure,
                        "delivery failed"
                    );
                    let worse = match (&outcomes[i], &failure) {
                        (Err(Failure::Poison(_)), _) => false,
                        (_, Failure::Poison(_)) => true,
                        (Ok(()), _) => true,
                        _ => false,
                    };
                    if worse {
                        outcomes[i] = Err(failure);
                    }
                }
            }
        }
        let mut published = Published::default();
        for (message, outcome) in batch.iter().zip(outcomes) {
            match outcome {
                Ok(()) => published.sent.push(message.id),
                Err(Failure::Retry(why)) => published.retry.push((message.id, why)),
                Err(Failure::Poison(why)) => published.poison.push((message.id, why)),
            }
        }
        published
    }
}
