//! A client for a generic HTTP label API: buy a label for an order (carrier, tracking number,
//! label URL) and void an unused one. Buying carries an `Idempotency-Key` per order, so a retry
//! after a timeout answers the label already bought instead of buying a second.

use std::time::Duration;

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
}

impl Error {
    /// A refusal no retry changes: a 4xx other than timeout, conflict or throttling.
    pub fn is_permanent(&self) -> bool {
        matches!(self, Error::Answered { status, .. }
            if (400..500).contains(status) && !matches!(status, 408 | 409 | 429))
    }
}

#[derive(Clone)]
pub struct LabelApi {
    base: String,
    key: SecretString,
    http: reqwest::Client,
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
        })
    }

    /// Buys (or, for a key seen before, fetches) the order's label.
    pub async fn buy(
        &self,
        idempotency_key: &str,
        order_id: &str,
        ship_to: &serde_json::Value,
        parcels: u32,
    ) -> Result<Label, Error> {
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
    }

    pub async fn void(&self, shipment_id: &str) -> Result<(), Error> {
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
    }
}
