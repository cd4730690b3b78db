//! A client for a generic HTTP label API: buy a label for an order (carrier, tracking number,
//! label URL) and void an unused one. Buying carries an `Idempotency-Key` per order, so a retry
//! after a timeout answers the label already bought instead of buying a second.
//!
//! At most [`AT_ONCE`] calls are in flight (a flash sale's labels wait their turn instead of
//! flooding the provider), and a circuit breaker (failsafe) stops calling a provider that failed
//! [`TRIPS_AFTER`] times in a row for [`PAUSE`]: the steps fail fast and retry later, instead of
//! each waiting out a 30 s timeout. Refusals (4xx) are answers, not failures of the provider.

use std::sync::Arc;
use std::time::Duration;

use failsafe::futures::CircuitBreaker as _;
use failsafe::{backoff, failure_policy};
use tokio::sync::Semaphore;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;

/// Why the label API did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("label API unreachable")]
    Unreachable(#[source] reqwest::Error),
    #[error("label API answered {status}: {body}")]
    Answered { status: u16, body: String },
    #[error("label API answered something unreadable")]
    Unreadable(#[source] reqwest::Error),
    #[error("label API calls are paused: it failed {TRIPS_AFTER} times in a row")]
    Paused,
}

/// Calls to the label API in flight at once.
pub const AT_ONCE: usize = 8;
/// Failures in a row (unreachable, 5xx, 408, 429, unreadable) that stop the calls.
pub const TRIPS_AFTER: u32 = 5;
/// How long the calls stay stopped before one is let through to try.
pub const PAUSE: Duration = Duration::from_secs(30);

type Breaker = failsafe::StateMachine<failure_policy::ConsecutiveFailures<backoff::Constant>, ()>;

impl Error {
    /// A refusal no retry changes: a 4xx other than timeout, conflict or throttling.
    pub fn is_permanent(&self) -> bool {
        matches!(self, Error::Answered { status, .. }
            if (400..500).contains(status) && !matches!(status, 408 | 409 | 429))
    }

    /// Whether it counts against the provider's health (the breaker's failures).
    fn is_failure(&self) -> bool {
        match self {
            Error::Answered { status, .. } => {
                !(400..500).contains(status) || matches!(status, 408 | 429)
            }
            Error::Unreachable(_) | Error::Unreadable(_) => true,
            Error::Paused => false,
        }
    }
}

#[derive(Clone)]
pub struct LabelApi {
    base: String,
    key: SecretString,
    http: reqwest::Client,
    slots: Arc<Semaphore>,
    breaker: Breaker,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Label {
    pub shipment_id: String,
    pub carrier: String,
    pub tracking_number: String,
    pub label_url: String,
}

impl LabelApi {
    pub fn new(base: &str, key: SecretString) -> anyhow::Result<Self> {
        crate::integrations::install_tls();
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            key,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?,
            slots: Arc::new(Semaphore::new(AT_ONCE)),
            breaker: failsafe::Config::new()
                .failure_policy(failure_policy::consecutive_failures(
                    TRIPS_AFTER,
                    backoff::constant(PAUSE),
                ))
                .build(),
        })
    }

    /// Runs `call` in a free slot, through the breaker.
    async fn guarded<T>(&self, call: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
        let _slot = self.slots.acquire().await.expect("never closed");
        match self.breaker.call_with(Error::is_failure, call).await {
            Ok(value) => Ok(value),
            Err(failsafe::Error::Inner(e)) => Err(e),
            Err(failsafe::Error::Rejected) => Err(Error::Paused),
        }
    }

    /// Buys (or, for a key seen before, fetches) the order's label.
    pub async fn buy(
        &self,
        idempotency_key: &str,
        order_id: &str,
        ship_to: &serde_json::Value,
        parcels: u32,
    ) -> Result<Label, Error> {
        self.guarded(async {
            let response = self
                .http
                .post(format!("{}/shipments", self.base))
                .bearer_auth(self.key.expose_secret())
                .header("idempotency-key", idempotency_key)
                .json(&json!({ "order_id": order_id, "ship_to": ship_to, "parcels": parcels }))
                .send()
                .await
                .map_err(Error::Unreachable)?;
            let status = response.status();
            if !status.is_success() {
                let body = response.text().await.unwrap_or_default();
                return Err(Error::Answered {
                    status: status.as_u16(),
                    body,
                });
            }
            response.json().await.map_err(Error::Unreadable)
        })
        .await
    }

    pub async fn void(&self, shipment_id: &str) -> Result<(), Error> {
        self.guarded(async {
            let response = self
                .http
                .post(format!("{}/shipments/{shipment_id}/void", self.base))
                .bearer_auth(self.key.expose_secret())
                .send()
                .await
                .map_err(Error::Unreachable)?;
            match response.status() {
                s if s.is_success() => Ok(()),
                s => Err(Error::Answered {
                    status: s.as_u16(),
                    body: response.text().await.unwrap_or_default(),
                }),
            }
        })
        .await
    }
}
