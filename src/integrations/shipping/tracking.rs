//! Shipping: carrier tracking events consumed from the bus move orders to `in_transit` and
//! `delivered` through their actors (each event applied once, by its id).
//!
//! `shipping.tracking.v1` messages, routing key `shipping.tracking.<carrier>`:
//! `{"schema": "shipping.tracking.v1", "event_id", "order_id", "status": "in_transit" |
//! "delivered", "tracking_number"?, "carrier"?}`.

use serde::Deserialize;

use crate::actors::{Envelope, Error as EngineError, RegistryHandle};
use crate::bus::{Delivery, Failure, Subscription};
use crate::domain::{Msg, OrderId, Rejection, Stage};
use crate::journal::InboxEntry;

#[derive(Debug, Deserialize)]
struct Tracking {
    schema: String,
    event_id: Option<String>,
    order_id: String,
    status: String,
    tracking_number: Option<String>,
    carrier: Option<String>,
}

pub fn tracking_subscription(registry: RegistryHandle) -> Subscription {
    Subscription::new("tracking", &["shipping.tracking.#"], move |d: Delivery| {
        let registry = registry.clone();
        async move {
            let t: Tracking = serde_json::from_slice(&d.body)
                .map_err(|e| Failure::Poison(format!("not a tracking event: {e}")))?;
            if t.schema != "shipping.tracking.v1" {
                return Err(Failure::Poison(format!("unknown schema {}", t.schema)));
            }
            let order_id =
                OrderId::parse(&t.order_id).map_err(|e| Failure::Poison(e.to_string()))?;
            let to = match t.status.as_str() {
                "in_transit" => Stage::InTransit,
                "delivered" => Stage::Delivered,
                other => {
                    return Err(Failure::Poison(format!(
                        "unknown tracking status {other:?}"
                    )));
                }
            };
            let event = t
                .event_id
                .or(d.message_id)
                .ok_or_else(|| Failure::Poison("a tracking event needs an event_id".into()))?;
            let envelope = Envelope {
                msg: Msg::Progress {
                    to,
                    reason: Some(
                        format!(
                            "{} {}",
                            t.carrier.as_deref().unwrap_or("carrier"),
                            t.tracking_number.as_deref().unwrap_or("")
                        )
                        .trim()
                        .to_owned(),
                    ),
                },
                cause: crate::domain::Cause::Integration("carrier".into()),
                inbox: Some(InboxEntry {
                    dedupe_key: compact_str::format_compact!("carrier:{event}"),
                    event_type: 0,
                }),
            };
            match registry.submit(order_id, envelope).await {
                Ok(_) => Ok(()),
                // Late or repeated news (already delivered) changes nothing: done.
                Err(EngineError::Rejected(Rejection::NotAllowed(why))) => {
                    tracing::info!(%why, "tracking event changes nothing");
                    Ok(())
                }
                Err(EngineError::Rejected(e)) => Err(Failure::Poison(e.to_string())),
                Err(e) => Err(Failure::Retry(e.to_string())),
            }
        }
    })
}
