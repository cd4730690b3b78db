//! The stock ledger as the workflow uses it (reserve, release, commit, with metrics) and the
//! reservation expiry sweep.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
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
    queues: Arc<Queues>,
}

/// One queue per (shop, SKU) with a reservation in progress: reservations of a SKU are decided
/// one at a time in the order they asked. The workflow runner asks most urgent first (priority,
/// then TikTok's ship-by deadline, then arrival), so when a hot SKU runs short the units go to
/// the most urgent orders, not to whichever transaction happened to commit first.
#[derive(Default)]
struct Queues(Mutex<HashMap<(ShopId, Sku), Turn>>);

/// A SKU's turn to be reserved: whoever holds it decides.
type Turn = Arc<tokio::sync::Mutex<()>>;

impl Queues {
    fn of(&self, shop: &ShopId, skus: &[&Sku]) -> Vec<Turn> {
        let mut queues = self.0.lock().unwrap_or_else(|p| p.into_inner());
        skus.iter()
            .map(|sku| {
                queues
                    .entry((shop.clone(), (*sku).clone()))
                    .or_default()
                    .clone()
            })
            .collect()
    }

    /// Forgets the queues nobody is in.
    fn tidy(&self) {
        let mut queues = self.0.lock().unwrap_or_else(|p| p.into_inner());
        queues.retain(|_, queue| Arc::strong_count(queue) > 1);
    }
}

impl Inventory {
    pub fn new(db: Database, settings: &config::InventorySettings) -> Self {
        Self {
            db,
            require_tracking: settings.require_tracking,
            ttl: settings.reservation_ttl,
            queues: Arc::default(),
        }
    }

    /// Reserves an order's lines (sku, quantity), all or nothing; a repeat is a no-op. Waits its
    /// turn behind the reservations of the same SKUs that asked first.
    pub async fn reserve(
        &self,
        order_id: &OrderId,
        shop_id: &ShopId,
        lines: &[(Sku, u32)],
    ) -> Result<Reservation, Error> {
        // Queued before anything else is awaited, so the turn is the order of asking; SKUs in
        // one order, so two multi-SKU orders never wait on each other.
        let mut skus: Vec<&Sku> = lines.iter().map(|(sku, _)| sku).collect();
        skus.sort();
        skus.dedup();
        let queues = self.queues.of(shop_id, &skus);
        let mut turns = Vec::with_capacity(queues.len());
        for queue in queues {
            turns.push(queue.lock_owned().await);
        }
        let outcome = self.reserve_now(order_id, shop_id, lines).await;
        drop(turns);
        self.queues.tidy();
        outcome
    }

    async fn reserve_now(
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
