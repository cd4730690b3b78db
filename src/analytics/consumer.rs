//! Analytics: consumes every `order.transition.*` message into the analytics read model.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::TransitionRecord;
use crate::bus::{Delivery, Failure, Subscription};
use crate::persistence::Database;

/// `order.transition.v1`, as the relay publishes it (the fields analytics reads).
#[derive(Debug, Deserialize)]
pub struct TransitionMessage {
    pub schema: String,
    pub message_id: i64,
    pub order_id: String,
    pub shop_id: String,
    pub status: String,
    pub stage: String,
    pub recorded_at: DateTime<Utc>,
    pub latency_ms: Option<i64>,
}

impl TransitionMessage {
    pub fn parse(body: &[u8]) -> Result<Self, Failure> {
        let message: Self = serde_json::from_slice(body)
            .map_err(|e| Failure::Poison(format!("not an order transition: {e}")))?;
        if message.schema != "order.transition.v1" {
            return Err(Failure::Poison(format!(
                "unknown schema {}",
                message.schema
            )));
        }
        Ok(message)
    }
}

impl From<TransitionMessage> for TransitionRecord {
    fn from(m: TransitionMessage) -> Self {
        Self {
            message_id: m.message_id,
            order_id: m.order_id,
            shop_id: m.shop_id,
            status: m.status,
            stage: m.stage,
            latency_ms: m.latency_ms,
            recorded_at: m.recorded_at,
        }
    }
}

/// Records every transition of a batch in one statement; an unreadable one is poison alone.
pub fn subscription(db: Database) -> Subscription {
    // Registered now, so the processing-latency alert's series exists before the first order.
    let _ = metrics::histogram!(crate::telemetry::metrics::ORDER_PROCESSING_SECONDS);
    Subscription::batched(
        "analytics",
        &["order.transition.#"],
        move |batch: Vec<Delivery>| {
            let db = db.clone();
            async move {
                // Each delivery's poison, if it is one; the readable ones become records.
                let mut poisoned: Vec<Option<Failure>> = Vec::with_capacity(batch.len());
                let mut records: Vec<TransitionRecord> = Vec::with_capacity(batch.len());
                for delivery in &batch {
                    match TransitionMessage::parse(&delivery.body) {
                        Ok(message) => {
                            records.push(message.into());
                            poisoned.push(None);
                        }
                        Err(poison) => poisoned.push(Some(poison)),
                    }
                }
                let written = db
                    .analytics()
                    .record_transitions(&records)
                    .await
                    .map_err(|e| Failure::Retry(format!("{:#}", anyhow::Error::from(e))));
                if written.is_ok() {
                    let processing =
                        metrics::histogram!(crate::telemetry::metrics::ORDER_PROCESSING_SECONDS);
                    for latency in records.iter().filter_map(|r| r.latency_ms) {
                        processing.record(latency.max(0) as f64 / 1000.0);
                    }
                }
                poisoned
                    .into_iter()
                    .map(|poison| match (poison, &written) {
                        (Some(poison), _) => Err(poison),
                        (None, Ok(_)) => Ok(()),
                        (None, Err(retry)) => Err(retry.clone()),
                    })
                    .collect()
            }
        },
    )
}
