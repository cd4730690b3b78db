//! `inventory.command.v1` messages: `{"schema": "inventory.command.v1", "command": "set",
//! "shop_id", "sku_id", "on_hand", "low_stock_threshold"?, "command_id"?}` or `{"command":
//! "adjust", ..., "delta"}`. A command is applied once per `command_id` (else per message id), by
//! the SKU's stock actor, in order with the SKU's reservations.

use serde::Deserialize;

use super::{Change, Error, Inventory};
use crate::bus::{Delivery, Failure, Subscription};
use crate::domain::{ShopId, Sku};
use crate::persistence;

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

pub fn subscription(inventory: Inventory) -> Subscription {
    Subscription::new("inventory", &["inventory.command.#"], move |d: Delivery| {
        let inventory = inventory.clone();
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
            let (shop_id, sku_id, change, command_id) = match command {
                Command::Set {
                    shop_id,
                    sku_id,
                    on_hand,
                    low_stock_threshold,
                    command_id,
                } => {
                    let change = Change::Set {
                        on_hand,
                        threshold: low_stock_threshold.map(Some),
                    };
                    (shop_id, sku_id, change, command_id)
                }
                Command::Adjust {
                    shop_id,
                    sku_id,
                    delta,
                    command_id,
                } => (shop_id, sku_id, Change::Adjust(delta), command_id),
            };
            let shop = ShopId::parse(&shop_id).map_err(|e| Failure::Poison(e.to_string()))?;
            let sku = Sku::parse(&sku_id).map_err(|e| Failure::Poison(e.to_string()))?;
            let key = command_id.or(d.message_id);
            match inventory.count(&shop, &sku, change, key).await {
                Ok(_) => Ok(()),
                Err(Error::Db(persistence::Error::Db(e))) => Err(Failure::Retry(e.to_string())),
                Err(e) => Err(Failure::Poison(e.to_string())),
            }
        }
    })
}
