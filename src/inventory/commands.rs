//! `inventory.command.v1` messages: `{"schema": "inventory.command.v1", "command": "set",
//! "shop_id", "sku_id", "on_hand", "low_stock_threshold"?, "command_id"?}` or `{"command":
//! "adjust", ..., "delta"}`. A command is applied once per `command_id` (else per message id).

use serde::Deserialize;

use super::Error;
use crate::bus::{Delivery, Failure, Subscription};
use crate::persistence::{self, Database};

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
                    db.stock()
                        .set(
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
                    db.stock()
                        .adjust(&shop_id, &sku_id, delta, key.as_deref())
                        .await
                }
            };
            match outcome {
                Ok(_) => Ok(()),
                Err(Error::Db(persistence::Error::Db(e))) => Err(Failure::Retry(e.to_string())),
                Err(e) => Err(Failure::Poison(e.to_string())),
            }
        }
    })
}
