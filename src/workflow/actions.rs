//! What each action does, against the order's actor, the stock ledger, shipping and TikTok.
//! Every execution carries an idempotency key; actions that change the outside world check
//! first where the other side offers no key of its own (a "ship" whose order TikTok already
//! shows shipped is done, not repeated; a label is bought once per order).

use chrono::{DateTime, Utc};
use serde_json::json;

use super::template::Action;
use crate::actors::{Envelope, RegistryHandle};
use crate::domain::{Cause, Msg, OrderId, ShopId};
use crate::integrations::shipping::Shipping;
use crate::integrations::tiktok::client::Client;
use crate::inventory::Inventory;
use crate::persistence::{Database, OrderDetailView};

/// What became of an execution.
#[derive(Debug)]
pub enum Executed {
    /// Done, with what is worth recording.
    Done(Option<String>),
    /// Come back at this time (waits).
    WaitUntil(DateTime<Utc>),
}

#[derive(Clone)]
pub struct Executor {
    pub db: Database,
    pub client: Client,
    pub registry: RegistryHandle,
    pub inventory: Inventory,
    pub shipping: Shipping,
}

impl Executor {
    pub async fn execute(
        &self,
        action: &Action,
        view: &OrderDetailView,
        cause: &Cause,
    ) -> Result<Executed, String> {
        let order_id = OrderId::parse(&view.order.id).map_err(|e| e.to_string())?;
        let shop = ShopId::parse(&view.order.shop_id).map_err(|e| e.to_string())?;
        match action {
            // All lines or none; the reservation rows make a retry a no-op.
            Action::ReserveStock => {
                let lines: Vec<(String, i64)> = view
                    .quantities
                    .iter()
                    .map(|q| (q.sku_id.clone(), i64::from(q.quantity)))
                    .collect();
                let reservation = self
                    .inventory
                    .reserve(order_id.as_str(), shop.as_str(), &lines)
                    .await
                    .map_err(|e| e.to_string())?;
                let tracked = reservation.lines.iter().filter(|l| l.tracked).count();
                Ok(Executed::Done(Some(format!(
                    "{} units of {} SKUs reserved ({tracked} tracked; untracked SKUs are always available){}",
                    reservation.lines.iter().map(|l| l.quantity).sum::<i64>(),
                    reservation.lines.len(),
                    if reservation.new {
                        ""
                    } else {
                        "; already held"
                    }
                ))))
            }
            Action::ReleaseStock => {
                let lines = self
                    .inventory
                    .release(order_id.as_str())
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(Executed::Done(Some(format!(
                    "{lines} reserved lines released"
                ))))
            }
            Action::Hold { reason } => {
                self.command(
                    &order_id,
                    Msg::Hold {
                        reason: reason.clone(),
                        expected_version: view.order.version,
                    },
                    cause,
                )
                .await?;
                Ok(Executed::Done(Some(format!("held: {reason}"))))
            }
            Action::ReleaseHold => {
                self.command(
                    &order_id,
                    Msg::ReleaseHold {
                        expected_version: view.order.version,
                    },
                    cause,
                )
                .await?;
                Ok(Executed::Done(None))
            }
            Action::BuyLabel => Ok(Executed::Done(Some(self.shipping.buy_label(view).await?))),
            Action::Ship => {
                let what = self.shipping.ship(view).await?;
                self.commit_stock(&order_id).await?;
                Ok(Executed::Done(Some(what)))
            }
            Action::Notify { channel, template } if channel == "log" => {
                tracing::info!(order_id = %order_id, template = %template, "notification");
                Ok(Executed::Done(Some(format!("{template} logged"))))
            }
            Action::Notify { channel, .. } => Err(format!(
                "notification channel `{channel}` is not configured"
            )),
            Action::Tag { tag } => {
                self.db
                    .runs()
                    .tag_order(order_id.as_str(), tag)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(Executed::Done(Some(format!("tagged {tag}"))))
            }
            Action::Untag { tag } => {
                self.db
                    .runs()
                    .untag_order(order_id.as_str(), tag)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(Executed::Done(Some(format!("untagged {tag}"))))
            }
            Action::SetPriority { priority } => {
                let priority = i32::try_from(*priority).map_err(|_| "priority out of range")?;
                self.db
                    .runs()
                    .set_priority(order_id.as_str(), priority)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(Executed::Done(Some(format!("priority {priority}"))))
            }
            Action::Cancel { reason } => {
                self.client
                    .cancel_order(
                        &shop,
                        &json!({ "order_id": order_id.as_str(), "cancel_reason": reason }),
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(Executed::Done(Some(format!(
                    "cancelled at TikTok: {reason}"
                ))))
            }
            Action::Wait(_) => Ok(Executed::Done(None)),
        }
    }

    /// Undoes what a cancelled order's run holds: reserved stock and an unused label. Says
    /// what was released.
    pub async fn compensate(&self, view: &OrderDetailView) -> String {
        let stock = match self.inventory.release(&view.order.id).await {
            Ok(lines) => format!("released {lines} reserved lines"),
            Err(e) => {
                // The expiry sweep gives the stock back later.
                tracing::warn!(order_id = %view.order.id, error = %e, "cannot release stock now");
                format!("stock release failed ({e}); the reservation expires by itself")
            }
        };
        let label = match self.shipping.void_unused(&view.order.id).await {
            Ok(Some(voided)) => voided,
            Ok(None) => "no unused label to void".to_owned(),
            Err(e) => {
                tracing::warn!(order_id = %view.order.id, error = %e, "cannot void the label");
                format!("voiding the label failed: {e}")
            }
        };
        format!("{stock}; {label}")
    }

    /// The package left: its reserved stock leaves the shelf.
    async fn commit_stock(&self, order_id: &OrderId) -> Result<(), String> {
        self.inventory
            .commit(order_id.as_str())
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    async fn command(&self, order_id: &OrderId, msg: Msg, cause: &Cause) -> Result<(), String> {
        let envelope = Envelope {
            msg,
            cause: cause.clone(),
            inbox: None,
        };
        self.registry
            .submit(order_id.clone(), envelope)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}
