//! Notifications: creators' outgoing webhooks.
//!
//! The `notify` bus subscription turns each `order.transition.*` and `inventory.low_stock`
//! message into one delivery per subscription of the message's shop whose event patterns match
//! its routing key. The sender posts due deliveries:
//!
//! ```text
//! POST <url>
//! Content-Type: application/json
//! X-CreatorFlow-Event: order.transition.shipped
//! X-CreatorFlow-Delivery: 42
//! X-CreatorFlow-Signature: t=1764100000,v1=<hex HMAC-SHA256(secret, "1764100000." + body)>
//! ```
//!
//! A 2xx answer delivers it; anything else is retried with exponential backoff and jitter
//! (`notify.retry_base`, doubling, at most an hour) until `notify.max_attempts`, then the
//! delivery is dead, kept in the log, and can be replayed through the API.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use backon::BackoffBuilder;
use chrono::Utc;
use hmac::{Hmac, KeyInit, Mac};
use secrecy::ExposeSecret;
use serde::Deserialize;
use sha2::Sha256;

use super::{DeliveryAttempt, WebhookDelivery, WebhookSubscription};
use crate::bus::{Delivery as BusDelivery, Failure, Subscription, topic_matches};
use crate::config;
use crate::domain::{Scope, ShopId};
use crate::integrations::tiktok::vault::Vault;
use crate::persistence::Database;

/// `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

#[derive(Deserialize)]
struct Routed {
    message_id: i64,
    shop_id: ShopId,
}

/// How long the notify consumer uses the subscriptions it read, unless this process changed them
/// meanwhile: a subscription made on another node of a cluster (or by another process) is used
/// within this time.
pub const SUBSCRIPTIONS_FRESH_FOR: Duration = Duration::from_secs(1);

/// The subscriptions as last read, when, and the count of this process's changes then.
#[derive(Default)]
struct Known {
    read: Option<(tokio::time::Instant, u64, Arc<Vec<WebhookSubscription>>)>,
}

impl Known {
    /// The subscriptions: as last read while fresh and unchanged here, else read again.
    async fn subscriptions(
        known: &tokio::sync::Mutex<Self>,
        db: &Database,
    ) -> Result<Arc<Vec<WebhookSubscription>>, crate::persistence::Error> {
        let mut known = known.lock().await;
        let changed = super::store::subscriptions_changed();
        if let Some((at, seen, all)) = &known.read
            && *seen == changed
            && at.elapsed() < SUBSCRIPTIONS_FRESH_FOR
        {
            return Ok(all.clone());
        }
        let at = tokio::time::Instant::now();
        let all = Arc::new(db.notifications().subscriptions(&Scope::Admin).await?);
        known.read = Some((at, changed, all.clone()));
        Ok(all)
    }
}

/// Turns a batch of transitions into deliveries: the subscriptions are read at most once a
/// second (at once after this process changed them; a shop without any costs no write), then
/// each message is queued for the ones that match it.
pub fn subscription(db: Database) -> Subscription {
    let known = Arc::new(tokio::sync::Mutex::new(Known::default()));
    Subscription::batched(
        "notify",
        &["order.transition.#", "inventory.low_stock"],
        move |batch: Vec<BusDelivery>| {
            let db = db.clone();
            let known = known.clone();
            async move {
                let subscriptions = match Known::subscriptions(&known, &db).await {
                    Ok(all) => all,
                    Err(e) => {
                        let retry = Failure::Retry(e.to_string());
                        return batch.iter().map(|_| Err(retry.clone())).collect();
                    }
                };
                let mut outcomes = Vec::with_capacity(batch.len());
                for d in &batch {
                    outcomes.push(enqueue(&db, &subscriptions, d).await);
                }
                outcomes
            }
        },
    )
}

async fn enqueue(
    db: &Database,
    subscriptions: &[WebhookSubscription],
    d: &BusDelivery,
) -> Result<(), Failure> {
    let topical =
        |s: &WebhookSubscription| s.events.iter().any(|p| topic_matches(p, &d.routing_key));
    // Most messages concern no subscription at all: those are not read.
    if !subscriptions.iter().any(topical) {
        return Ok(());
    }
    let routed: Routed = serde_json::from_slice(&d.body)
        .map_err(|e| Failure::Poison(format!("no message_id/shop_id: {e}")))?;
    let wanted: Vec<i64> = subscriptions
        .iter()
        .filter(|s| s.shop_id == routed.shop_id && topical(s))
        .map(|s| s.id)
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let body = String::from_utf8_lossy(&d.body);
    db.notifications()
        .enqueue_deliveries(&wanted, routed.message_id, &d.routing_key, &body)
        .await
        .map(|_| ())
        .map_err(|e| Failure::Retry(e.to_string()))
}

#[derive(Clone)]
pub struct Sender {
    db: Database,
    vault: Vault,
    http: reqwest::Client,
    max_attempts: u32,
    retry_base: Duration,
}

impl Sender {
    pub fn new(
        db: Database,
        vault: Vault,
        settings: &config::NotifySettings,
    ) -> anyhow::Result<Self> {
        crate::integrations::install_tls();
        Ok(Self {
            db,
            vault,
            http: reqwest::Client::builder()
                .timeout(settings.timeout)
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            max_attempts: settings.max_attempts,
            retry_base: settings.retry_base,
        })
    }

    /// Sends due deliveries until aborted.
    /// Sends due deliveries until stopped (a round in progress finishes).
    pub async fn run(self, mut stop: crate::shutdown::Stop) {
        loop {
            let pause = match self.send_due().await {
                Ok(0) => Duration::from_millis(100),
                Ok(_) => Duration::ZERO,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot send notifications");
                    Duration::from_secs(1)
                }
            };
            if stop.sleep(pause).await {
                return;
            }
        }
    }

    /// Attempts every due delivery once; returns how many.
    pub async fn send_due(&self) -> Result<usize, crate::persistence::Error> {
        let due = self
            .db
            .notifications()
            .due_deliveries(Utc::now(), 64)
            .await?;
        let mut subscriptions: HashMap<i64, Option<WebhookSubscription>> = HashMap::new();
        for d in &due {
            if let std::collections::hash_map::Entry::Vacant(slot) =
                subscriptions.entry(d.subscription_id)
            {
                slot.insert(
                    self.db
                        .notifications()
                        .subscription(d.subscription_id)
                        .await
                        .ok(),
                );
            }
        }
        let attempts = due.iter().map(|d| {
            let sub = subscriptions.get(&d.subscription_id).cloned().flatten();
            async move { (d.id, self.attempt(d, sub.as_ref()).await) }
        });
        let outcomes = futures_util::future::join_all(attempts).await;
        for (id, attempt) in &outcomes {
            let label = match attempt {
                DeliveryAttempt::Delivered { .. } => "delivered",
                DeliveryAttempt::Failed {
                    retry_at: Some(_), ..
                } => "retry",
                DeliveryAttempt::Failed { retry_at: None, .. } => "dead",
            };
            metrics::counter!(crate::telemetry::metrics::NOTIFICATIONS_TOTAL, "outcome" => label)
                .increment(1);
            self.db.notifications().record_attempt(*id, attempt).await?;
        }
        Ok(outcomes.len())
    }

    async fn attempt(
        &self,
        d: &WebhookDelivery,
        sub: Option<&WebhookSubscription>,
    ) -> DeliveryAttempt {
        let failed = |status: Option<i32>, error: String| DeliveryAttempt::Failed {
            status,
            error,
            retry_at: self.retry_at(d.attempts + 1),
        };
        let Some(sub) = sub else {
            return DeliveryAttempt::Failed {
                status: None,
                error: "the subscription was removed".into(),
                retry_at: None,
            };
        };
        let secret = match self.vault.open(&sub.secret_enc) {
            Ok(secret) => secret,
            Err(e) => return failed(None, e.to_string()),
        };
        let timestamp = Utc::now().timestamp();
        let sent = self
            .http
            .post(&sub.url)
            .header("content-type", "application/json")
            .header("x-creatorflow-event", &d.event_kind)
            .header("x-creatorflow-delivery", d.id.to_string())
            .header(
                "x-creatorflow-signature",
                signature(secret.expose_secret(), timestamp, d.body.as_bytes()),
            )
            .body(d.body.clone())
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => DeliveryAttempt::Delivered {
                status: i32::from(r.status().as_u16()),
            },
            Ok(r) => failed(
                Some(i32::from(r.status().as_u16())),
                format!("the endpoint answered {}", r.status()),
            ),
            Err(e) => failed(None, format!("cannot reach the endpoint: {e}")),
        }
    }

    /// When attempt number `next` (1-based, already made) should be followed, or `None` when it
    /// was the last.
    fn retry_at(&self, made: i32) -> Option<chrono::DateTime<Utc>> {
        if made as u32 >= self.max_attempts {
            return None;
        }
        let delay = backon::ExponentialBuilder::default()
            .with_min_delay(self.retry_base)
            .with_max_delay(Duration::from_secs(3600))
            .with_jitter()
            .without_max_times()
            .build()
            .nth((made - 1).max(0) as usize)
            .unwrap_or(Duration::from_secs(3600));
        Some(Utc::now() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::hours(1)))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_signature_covers_timestamp_and_body() {
        let a = super::signature("s3cret", 1_764_100_000, b"{}");
        assert!(a.starts_with("t=1764100000,v1="));
        assert_ne!(a, super::signature("s3cret", 1_764_100_001, b"{}"));
        assert_ne!(a, super::signature("s3cret", 1_764_100_000, b"{ }"));
        assert_ne!(a, super::signature("other", 1_764_100_000, b"{}"));
    }
}
