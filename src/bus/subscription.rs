//! A consumer of the bus: its name, the routing patterns it receives, and the handler that says
//! of each delivery whether it is done, should be retried, or can never be handled.

use std::sync::Arc;

use futures_util::future::BoxFuture;

use super::Delivery;

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

    pub(super) fn receives(&self, routing_key: &str) -> bool {
        self.bindings.iter().any(|b| topic_matches(b, routing_key))
    }
}

/// Counts a handled delivery by subscription and outcome.
pub(super) fn count_consumed(subscription: &'static str, outcome: &Result<(), Failure>) {
    let label = match outcome {
        Ok(()) => "done",
        Err(Failure::Retry(_)) => "retry",
        Err(Failure::Poison(_)) => "poison",
    };
    crate::telemetry::metrics::count(
        crate::telemetry::metrics::BUS_CONSUMED_TOTAL,
        [("subscription", subscription), ("outcome", label)],
        1,
    );
}

/// AMQP topic matching: words separated by dots, `*` matches one word, `#` zero or more.
/// Walks the words without collecting them: it runs for every binding of every subscription
/// for each message relayed.
pub fn topic_matches(pattern: &str, key: &str) -> bool {
    type Words<'a> = std::str::Split<'a, char>;
    fn go(p: Words<'_>, k: Words<'_>) -> bool {
        let (mut p_rest, mut k_rest) = (p.clone(), k.clone());
        match (p_rest.next(), k_rest.next()) {
            (None, None) => true,
            (Some("#"), word) => go(p_rest, k) || (word.is_some() && go(p, k_rest)),
            (Some("*"), Some(_)) => go(p_rest, k_rest),
            (Some(w), Some(x)) if w == x => go(p_rest, k_rest),
            _ => false,
        }
    }
    go(pattern.split('.'), key.split('.'))
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
        assert!(topic_matches("#.shipped", "order.transition.shipped"));
        assert!(!topic_matches("#.shipped", "order.transition.delivered"));
        assert!(topic_matches("order.#.shipped", "order.shipped"));
        assert!(topic_matches("order.#.shipped", "order.a.b.shipped"));
        assert!(!topic_matches("order", "order.transition"));
    }
}
