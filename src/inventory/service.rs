//! The stock ledger as the workflow uses it (reserve, release, commit, with metrics) and the
//! reservation expiry sweep.

use std::time::Duration;

use super::{Error, Reservation};
use crate::config;
use crate::domain::{OrderId, ShopId, Sku};
use crate::persistence::{self, Database};

#[derive(Clone)]
pub struct Inventory {
    db: Database,
    require_tracking: bool,
    ttl: Duration,
}

impl Inventory {
    pub fn new(db: Database, settings: &config::InventorySettings) -> Self {
        Self {
            db,
            require_tracking: settings.require_tracking,
            ttl: settings.reservation_ttl,
        }
    }

    /// Reserves an order's lines (sku, quantity), all or nothing; a repeat is a no-op.
    pub async fn reserve(
        &self,
        order_id: &OrderId,
        shop_id: &ShopId,
        lines: &[(Sku, u32)],
    ) -> Result<Reservation, Error> {
        let lines: Vec<(&str, i64)> = lines
            .iter()
            .map(|(sku, n)| (sku.as_str(), i64::from(*n)))
            .collect();
        let outcome = self
            .db
            .stock()
            .reserve(
                order_id.as_str(),
                shop_id.as_str(),
                &lines,
                self.ttl,
                self.require_tracking,
            )
            .await;
        let label = match &outcome {
            Ok(r) if r.new => "reserved",
            Ok(_) => "repeated",
            Err(Error::Insufficient { .. }) => "insufficient",
            Err(Error::Untracked(_)) => "untracked",
            Err(_) => "error",
        };
        metrics::counter!(crate::telemetry::metrics::INVENTORY_RESERVATIONS_TOTAL, "outcome" => label)
            .increment(1);
        outcome
    }

    pub async fn release(&self, order_id: &OrderId) -> Result<usize, persistence::Error> {
        self.db.stock().release(order_id.as_str()).await
    }

    pub async fn commit(&self, order_id: &OrderId) -> Result<usize, persistence::Error> {
        self.db.stock().commit(order_id.as_str()).await
    }

    /// Releases expired reservations once a minute until stopped.
    pub async fn run_expiry(self, mut stop: crate::shutdown::Stop) {
        loop {
            match self.db.stock().expire(chrono::Utc::now()).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(lines = n, "expired stock reservations released");
                    metrics::counter!(crate::telemetry::metrics::INVENTORY_RESERVATIONS_TOTAL, "outcome" => "expired")
                        .increment(n as u64);
                }
                Err(e) => tracing::warn!(error = %e, "cannot expire reservations"),
            }
            if stop.sleep(Duration::from_secs(60)).await {
                return;
            }
        }
    }
}
