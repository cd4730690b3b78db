//! What a verified TikTok notification does: order topics go to the order's actor (answered
//! after the journal commit), shop topics update the shop, and what cannot be handled is kept.

use chrono::DateTime;
use futures_util::future::join_all;

use super::{Notification, Topic};
use crate::actors::{self, Envelope, RegistryHandle, Reply};
use crate::domain::Msg;
use crate::journal::InboxEntry;
use crate::persistence::{self, Database, QuarantineReason, ShopNotice};
use crate::telemetry::metrics::{TIKTOK_WEBHOOKS_TOTAL, count};

/// How a notification was taken in; every variant is acknowledged with 200.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receipt {
    /// Committed: at least one order or shop changed.
    Applied,
    /// Understood and recorded, but nothing changed (a stale or same status, for instance).
    Unchanged,
    /// Delivered before: acknowledged and ignored.
    Duplicate,
    /// A type this build does not handle: kept in the quarantine table.
    Stored,
    /// Cluster mode: the node holding the order's slot did not answer in time; the message is
    /// kept for that slot, and its owner applies it.
    Parked,
}

impl Receipt {
    pub fn as_str(self) -> &'static str {
        match self {
            Receipt::Applied => "applied",
            Receipt::Unchanged => "unchanged",
            Receipt::Duplicate => "duplicate",
            Receipt::Stored => "stored",
            Receipt::Parked => "parked",
        }
    }
}

/// Why a notification could not be taken in now; TikTok should deliver it again later.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Engine(#[from] actors::Error),
    #[error("cannot record the notification")]
    Storage(#[from] persistence::Error),
}

/// What became of a webhook kept in quarantine when it was read again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replayed {
    /// This build read it and took it in, as if it had just arrived.
    Taken(Receipt),
    /// Still unreadable, for this reason.
    Unreadable(String),
    /// Still a type this build does not handle.
    Unhandled(i64),
}

/// Reads the body of a webhook kept in quarantine again, with this build's reader (its
/// signature was verified when it arrived): one it now reads and handles is taken in as if it
/// had just arrived, deduplicated as always, so a replay twice changes nothing more.
pub async fn replay(
    body: &[u8],
    db: &Database,
    registry: &RegistryHandle,
) -> Result<Replayed, Error> {
    match super::notification::parse(body) {
        Err(malformed) => Ok(Replayed::Unreadable(malformed.0)),
        Ok(notification) if notification.topic == Topic::Unhandled => {
            Ok(Replayed::Unhandled(notification.event_type))
        }
        Ok(notification) => Ok(Replayed::Taken(
            accept(notification, body, db, registry).await?,
        )),
    }
}

/// Takes in a verified, parsed notification. `body` is kept if the type is not handled.
pub async fn accept(
    notification: Notification,
    body: &[u8],
    db: &Database,
    registry: &RegistryHandle,
) -> Result<Receipt, Error> {
    let kind = Topic::name(notification.event_type);
    let result = dispatch(notification, body, db, registry).await;
    let outcome = match &result {
        Ok(receipt) => receipt.as_str(),
        Err(Error::Engine(actors::Error::Overloaded { .. })) => "overloaded",
        Err(_) => "unavailable",
    };
    count(
        TIKTOK_WEBHOOKS_TOTAL,
        [("type", kind), ("outcome", outcome)],
        1,
    );
    result
}

async fn dispatch(
    notification: Notification,
    body: &[u8],
    db: &Database,
    registry: &RegistryHandle,
) -> Result<Receipt, Error> {
    let event_type = notification.event_type;
    let shop_id = notification.shop_id.clone();
    let messages = match &notification.topic {
        Topic::Unhandled => {
            let detail = format!("type {event_type} is not handled by this build");
            tracing::warn!(
                event_type,
                "TikTok notification of an unhandled type stored"
            );
            // The rare paths are boxed: they would make every webhook's future their size.
            Box::pin(db.webhooks().quarantine(
                QuarantineReason::UnhandledType,
                &detail,
                Some(event_type),
                body,
            ))
            .await?;
            return Ok(Receipt::Stored);
        }
        Topic::Deauthorized { .. } | Topic::AuthorizationExpiring { .. } => {
            let shop_id = shop_id.expect("parse requires a shop for shop topics");
            let notice = match notification.topic {
                Topic::AuthorizationExpiring { expires_at } => ShopNotice::AuthorizationExpiring(
                    expires_at.and_then(|t| DateTime::from_timestamp(t, 0)),
                ),
                _ => ShopNotice::Deauthorized,
            };
            tracing::warn!(shop_id = %shop_id, ?notice, "TikTok authorisation notice");
            let fresh = Box::pin(db.webhooks().record_shop_notice(
                &notification.dedupe_key,
                event_type,
                &shop_id,
                notice,
            ))
            .await?;
            return Ok(if fresh {
                Receipt::Applied
            } else {
                Receipt::Duplicate
            });
        }
        Topic::OrderStatus {
            order_id,
            status,
            update_time,
        } => vec![(
            order_id.clone(),
            Msg::Status {
                shop_id: shop_id.expect("parse requires a shop for order topics"),
                status: status.clone(),
                update_time: *update_time,
            },
        )],
        Topic::DetailChanged {
            order_ids,
            update_time,
        } => {
            let shop_id = shop_id.expect("parse requires a shop for order topics");
            order_ids
                .iter()
                .map(|id| {
                    let msg = Msg::Refresh {
                        shop_id: shop_id.clone(),
                        update_time: *update_time,
                    };
                    (id.clone(), msg)
                })
                .collect()
        }
        Topic::AfterSale { order_id, update } => vec![(
            order_id.clone(),
            Msg::AfterSale {
                shop_id: shop_id.expect("parse requires a shop for order topics"),
                update: Box::new(update.clone()),
            },
        )],
    };
    let count = messages.len();
    let cause = crate::domain::Cause::Webhook(notification.dedupe_key.clone());
    let event_type = i32::try_from(event_type).unwrap_or(i32::MAX);
    let mut submits = messages.into_iter().map(|(order_id, msg)| {
        let envelope = Envelope {
            msg,
            cause: cause.clone(),
            inbox: Some(InboxEntry {
                dedupe_key: notification.dedupe_key_for(&order_id, count),
                event_type,
            }),
        };
        // Kept aside only in cluster mode: what to park if the slot's owner does not answer.
        let spare = registry.forwarder().is_some().then(|| envelope.clone());
        async move {
            match (registry.submit(order_id.clone(), envelope).await, spare) {
                (Err(actors::Error::Unreachable { .. }), Some(envelope)) => {
                    Box::pin(actors::forward::park(db, &order_id, &envelope)).await?;
                    Ok(None)
                }
                (outcome, _) => Ok::<_, Error>(Some(outcome?)),
            }
        }
    });
    // Every notification but a detail change names one order, which needs no `join_all` (a
    // boxed slice of futures per webhook); its submit is awaited where it is taken (bound to a
    // name first, it was kept twice in this future).
    let outcomes = if count == 1 {
        vec![submits.next().expect("one message, one submit").await]
    } else {
        join_all(submits).await
    };
    let mut receipt = Receipt::Duplicate;
    for outcome in outcomes {
        receipt = match (outcome?, receipt) {
            (Some(Reply::Applied { .. }), _) | (_, Receipt::Applied) => Receipt::Applied,
            (None, _) | (_, Receipt::Parked) => Receipt::Parked,
            (Some(Reply::Unchanged { .. }), _) | (_, Receipt::Unchanged) => Receipt::Unchanged,
            (Some(Reply::Duplicate), r) => r,
        };
    }
    Ok(receipt)
}
