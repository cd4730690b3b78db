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
                let parsed: Vec<Result<TransitionMessage, Failure>> = batch
                    .iter()
                    .map(|d| TransitionMessage::parse(&d.body))
                    .collect();
                let records: Vec<TransitionRecord> = parsed
                    .iter()
                    .flatten()
                    .map(|m| TransitionRecord {
                        message_id: m.message_id,
                        order_id: m.order_id.clone(),
                        shop_id: m.shop_id.clone(),
                        status: m.status.clone(),
                        stage: m.stage.clone(),
                        latency_ms: m.latency_ms,
                        recorded_at: m.recorded_at,
                    })
                    .collect();
                let written = db
                    .analytics()
                    .record_transitions(&records)
                    .await
                    .map_err(|e| Failure::Retry(format!("{:#}", anyhow::Error::from(e))));
                if written.is_ok() {
                    for latency in records.iter().filter_map(|r| r.latency_ms) {
                        metrics::histogram!(crate::telemetry::metrics::ORDER_PROCESSING_SECONDS)
                            .record(latency.max(0) as f64 / 1000.0);
                    }
                }
                parsed
                    .into_iter()
                    .map(|p| match (p, &written) {
                        (Err(poison), _) => Err(poison),
                        (Ok(_), Ok(_)) => Ok(()),
                        (Ok(_), Err(retry)) => Err(retry.clone()),
                    })
                    .collect()
            }
        },
    )
}
