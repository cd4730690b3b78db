//! Inventory: the built-in stock ledger as the workflow uses it, the reservation expiry sweep,
//! and the consumer of `inventory.command.*` messages through which a warehouse system pushes
//! stock levels (or takes the ledger's place).
//!
//! `inventory.command.v1` messages: `{"schema": "inventory.command.v1", "command": "set",
//! "shop_id", "sku_id", "on_hand", "low_stock_threshold"?, "command_id"?}` or `{"command":
//! "adjust", ..., "delta"}`. A command is applied once per `command_id` (else per message id).

use std::time::Duration;

use serde::Deserialize;

use crate::bus::{Delivery, Failure, Subscription};
use crate::config;
use crate::persistence::inventory::{Reservation, StockError};
use crate::persistence::{Database, Error};

#[derive(Clone)]
pub struct Inventory {
    db: Database,
    require_tracking: bool,
    ttl: Duration,
}

impl Inventory {
    pub fn new(db: Database, settings: &config::Inventory) -> Self {
        Self {
            db,
            require_tracking: settings.require_tracking,
            ttl: settings.reservation_ttl,
        }
    }

    /// Reserves an order's lines (sku, quantity), all or nothing; a repeat is a no-op.
    pub async fn reserve(
        &self,
        order_id: &str,
        shop_id: &str,
        lines: &[(String, i64)],
    ) -> Result<Reservation, StockError> {
        let outcome = self
            .db
            .reserve_stock(order_id, shop_id, lines, self.ttl, self.require_tracking)
            .await;
        let label = match &outcome {
            Ok(r) if r.new => "reserved",
            Ok(_) => "repeated",
            Err(StockError::Insufficient { .. }) => "insufficient",
            Err(StockError::Untracked(_)) => "untracked",
            Err(_) => "error",
        };
        metrics::counter!(crate::telemetry::metrics::INVENTORY_RESERVATIONS_TOTAL, "outcome" => label)
            .increment(1);
        outcome
    }

    pub async fn release(&self, order_id: &str) -> Result<usize, Error> {
        self.db.release_stock(order_id).await
    }

    pub async fn commit(&self, order_id: &str) -> Result<usize, Error> {
        self.db.commit_stock(order_id).await
    }

    /// Releases expired reservations every minute until aborted.
    /// Releases expired reservations once a minute until stopped.
    pub async fn run_expiry(self, mut stop: crate::shutdown::Stop) {
        loop {
            match self.db.expire_reservations(chrono::Utc::now()).await {
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

#[derive(Debug, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
enum Command {
    Set {
        shop_id: String,
        sku_id: String,
        on_hand: i64,
        #[serde(default)]
        low_stock_threshold: Option<i64>,
        #[serde(default)]
        command_id: Option<String>,
    },
    Adjust {
        shop_id: String,
        sku_id: String,
        delta: i64,
        #[serde(default)]
        command_id: Option<String>,
    },
}

#[derive(Debug, Deserialize)]
struct Envelope {
    schema: String,
}

pub fn subscription(db: Database) -> Subscription {
    Subscription::new("inventory", &["inventory.command.#"], move |d: Delivery| {
        let db = db.clone();
        async move {
            let envelope: Envelope = serde_json::from_slice(&d.body)
                .map_err(|e| Failure::Poison(format!("not an inventory command: {e}")))?;
            if envelope.schema != "inventory.command.v1" {
                return Err(Failure::Poison(format!(
                    "unknown schema {}",
                    envelope.schema
                )));
            }
            let command: Command = serde_json::from_slice(&d.body)
                .map_err(|e| Failure::Poison(format!("not an inventory command: {e}")))?;
            let outcome = match command {
                Command::Set {
                    shop_id,
                    sku_id,
                    on_hand,
                    low_stock_threshold,
                    command_id,
                } => {
                    let key = command_id.or(d.message_id);
                    db.set_stock(
                        &shop_id,
                        &sku_id,
                        on_hand,
                        low_stock_threshold.map(Some),
                        key.as_deref(),
                    )
                    .await
                }
                Command::Adjust {
                    shop_id,
                    sku_id,
                    delta,
                    command_id,
                } => {
                    let key = command_id.or(d.message_id);
                    db.adjust_stock(&shop_id, &sku_id, delta, key.as_deref())
                        .await
                }
            };
            match outcome {
                Ok(_) => Ok(()),
                Err(StockError::Db(Error::Db(e))) => Err(Failure::Retry(e.to_string())),
                Err(e) => Err(Failure::Poison(e.to_string())),
            }
        }
    })
}
