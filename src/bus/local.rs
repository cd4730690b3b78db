//! The in-process bus: each published message goes to every subscription whose bindings match,
//! right away. The relay deletes the outbox row only when all of them are done, so a crash,
//! a failing handler or a restart delivers again (at least once), exactly as with RabbitMQ.

use std::sync::Arc;

use tracing::Instrument;

use super::{Delivery, Failure, Message, Published, Subscription};
use crate::telemetry::traces;

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
            // A batch holds a handful of routing keys: each is matched against the bindings
            // once, not once per message.
            let mut matched: Vec<(&str, bool)> = Vec::new();
            let wanted: Vec<bool> = batch
                .iter()
                .map(
                    |m| match matched.iter().find(|(k, _)| *k == m.routing_key) {
                        Some(&(_, receives)) => receives,
                        None => {
                            let receives = sub.receives(&m.routing_key);
                            matched.push((&m.routing_key, receives));
                            receives
                        }
                    },
                )
                .collect();
            let (positions, deliveries): (Vec<usize>, Vec<Delivery>) = batch
                .iter()
                .enumerate()
                .filter(|(i, _)| wanted[*i])
                .map(|(i, m)| {
                    let delivery = Delivery {
                        message_id: Some(m.id.to_string()),
                        routing_key: m.routing_key.clone(),
                        body: m.body.clone(),
                        redelivered: false,
                        traceparent: m.traceparent.clone(),
                    };
                    (i, delivery)
                })
                .unzip();
            if deliveries.is_empty() {
                continue;
            }
            let span = traces::consume_span(
                sub.name,
                deliveries.iter().filter_map(|d| d.traceparent.as_deref()),
            );
            let handled = (sub.handler)(deliveries).instrument(span).await;
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn message(id: i64, key: &str) -> Message {
        Message {
            id,
            routing_key: key.into(),
            body: bytes::Bytes::from_static(b"{}"),
            traceparent: None,
        }
    }

    #[tokio::test]
    async fn a_message_is_sent_only_when_every_matching_subscriber_is_done() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let flaky = Subscription::new("flaky", &["order.#"], move |_d| {
            let n = counted.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    Err(Failure::Retry("database busy".into()))
                } else {
                    Ok(())
                }
            }
        });
        let picky = Subscription::new("picky", &["inventory.#"], |d: Delivery| async move {
            if d.routing_key == "inventory.bad" {
                Err(Failure::Poison("unreadable".into()))
            } else {
                Ok(())
            }
        });
        let bus = Local::new(vec![flaky, picky]);
        let first = bus
            .publish(&[
                message(1, "order.transition.received"),
                message(2, "inventory.bad"),
                message(3, "nobody.listens"),
            ])
            .await;
        assert_eq!(first.sent, vec![3], "no subscriber is nothing to wait for");
        assert_eq!(first.retry.iter().map(|r| r.0).collect::<Vec<_>>(), vec![1]);
        assert_eq!(
            first.poison.iter().map(|r| r.0).collect::<Vec<_>>(),
            vec![2]
        );
        // The relay publishes the retried row again: delivered at least once.
        let again = bus
            .publish(&[message(1, "order.transition.received")])
            .await;
        assert_eq!(again.sent, vec![1]);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn each_message_of_a_batch_reaches_the_subscriptions_bound_to_its_key() {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let got = seen.clone();
        let orders = Subscription::new("orders", &["order.*.shipped"], move |d: Delivery| {
            got.lock().unwrap().push(d.message_id.unwrap());
            async { Ok(()) }
        });
        // Keys repeat within the batch, as they do in the relay's batches.
        let keys = [
            "order.transition.shipped",
            "inventory.low_stock",
            "order.transition.shipped",
            "order.transition.delivered",
            "order.split.shipped",
            "inventory.low_stock",
            "order.transition.shipped",
        ];
        let batch: Vec<Message> = (1..).zip(keys).map(|(id, key)| message(id, key)).collect();
        let published = Local::new(vec![orders]).publish(&batch).await;
        assert_eq!(published.sent, [1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(*seen.lock().unwrap(), ["1", "3", "5", "7"]);
    }

    #[tokio::test]
    async fn poison_from_one_subscriber_outranks_a_retry_from_another() {
        let retry = Subscription::new("a", &["#"], |_d| async {
            Err(Failure::Retry("later".into()))
        });
        let poison = Subscription::new("b", &["#"], |_d| async {
            Err(Failure::Poison("never".into()))
        });
        let bus = Local::new(vec![retry, poison]);
        let published = bus.publish(&[message(7, "order.transition.shipped")]).await;
        assert!(published.sent.is_empty() && published.retry.is_empty());
        assert_eq!(published.poison[0].0, 7);
    }
}
