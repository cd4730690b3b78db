//! What each action does, against the order's actor, the stock ledger, shipping and TikTok.
//! Every execution carries an idempotency key; actions that change the outside world check
//! first where the other side offers no key of its own (a "ship" whose order TikTok already
//! shows shipped is done, not repeated; a label is bought once per order).

use chrono::{DateTime, Utc};
use serde_json::json;

use super::template::Action;
use crate::actors::{self, Envelope, RegistryHandle};
use crate::domain::{Cause, Msg, OrderId};
use crate::integrations::shipping::{self, Shipping};
use crate::integrations::tiktok::client::{self, Client};
use crate::inventory::{self, Inventory};
use crate::persistence::{self, Database, OrderRecord};

/// Why an action did not do its work.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The step asks for something this daemon is not set up to do.
    #[error("{0}")]
    NotConfigured(String),
    #[error("the stock ledger refused")]
    Stock(#[from] inventory::Error),
    #[error("shipping failed")]
    Shipping(#[from] shipping::Error),
    #[error("the order's actor did not take the command")]
    Engine(#[from] actors::Error),
    #[error("the TikTok call failed")]
    TikTok(#[from] client::Error),
    #[error("cannot read or write the database")]
    Storage(#[from] persistence::Error),
}

impl Error {
    /// A failure no retry can mend: the step is dead-lettered at once instead of retried.
    /// Short stock is not one (a restock may come); an order that refuses the command (a
    /// version moved on, a stage that does not allow it) is, as is a missing configuration.
    pub fn is_permanent(&self) -> bool {
        match self {
            Error::NotConfigured(_) => true,
            Error::Stock(e) => matches!(
                e,
                inventory::Error::Untracked(_) | inventory::Error::Negative(_)
            ),
            Error::Shipping(e) => e.is_permanent(),
            Error::Engine(e) => matches!(e, actors::Error::Rejected(_)),
            Error::TikTok(e) => e.is_permanent(),
            Error::Storage(_) => false,
        }
    }

    /// The message with its causes, for the step's record and the logs.
    pub fn chain(&self) -> String {
        crate::telemetry::error_chain(self)
    }
}

/// What became of an execution.
#[derive(Debug)]
pub enum Executed {
    /// Done, with what is worth recording.
    Done(Option<String>),
    /// Come back at this time (waits).
    WaitUntil(DateTime<Utc>),
    /// Too few units of `sku` to reserve `units`: wait until stock comes back.
    ShortOf {
        sku: String,
        units: i64,
        reason: String,
    },
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
        view: &OrderRecord,
        cause: &Cause,
    ) -> Result<Executed, Error> {
        let order_id = view.order.id.clone();
        let shop = &view.order.shop_id;
        match action {
            // All lines or none; the reservation rows make a retry a no-op.
            Action::ReserveStock => {
                let reservation = match self
                    .inventory
                    .reserve(&order_id, shop, &view.quantities)
                    .await
                {
                    Ok(reservation) => reservation,
                    // Short stock is not a failure: the run waits for the SKU.
                    Err(e) => match e.shortage() {
                        Some((sku, units)) => {
                            return Ok(Executed::ShortOf {
                                sku: sku.to_owned(),
                                units,
                                reason: e.to_string(),
                            });
                        }
                        None => return Err(e.into()),
                    },
                };
                let tracked = reservation.lines.iter().filter(|l| l.tracked).count();
                let units: i64 = reservation.lines.iter().map(|l| l.quantity).sum();
                let skus = reservation.lines.len();
                Ok(Executed::Done(Some(format!(
                    "{units} {} of {skus} {} reserved ({tracked} tracked; untracked SKUs are always available){}",
                    if units == 1 { "unit" } else { "units" },
                    if skus == 1 { "SKU" } else { "SKUs" },
                    if reservation.new {
                        ""
                    } else {
                        "; already held"
                    }
                ))))
            }
            Action::ReleaseStock => {
                let lines = self.inventory.release(&order_id, shop).await?;
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
                self.inventory.commit(&order_id, shop).await?;
                Ok(Executed::Done(Some(what)))
            }
            Action::Notify { channel, template } if channel == "log" => {
                tracing::info!(order_id = %order_id, template = %template, "notification");
                Ok(Executed::Done(Some(format!("{template} logged"))))
            }
            Action::Notify { channel, .. } => Err(Error::NotConfigured(format!(
                "notification channel `{channel}` is not configured"
            ))),
            Action::Tag { tag } => {
                self.db.runs().tag_order(order_id.as_str(), tag).await?;
                Ok(Executed::Done(Some(format!("tagged {tag}"))))
            }
            Action::Untag { tag } => {
                self.db.runs().untag_order(order_id.as_str(), tag).await?;
                Ok(Executed::Done(Some(format!("untagged {tag}"))))
            }
            Action::SetPriority { priority } => {
                let priority = i32::try_from(*priority).map_err(|_| {
                    Error::NotConfigured(format!("priority {priority} out of range"))
                })?;
                self.db
                    .runs()
                    .set_priority(order_id.as_str(), priority)
                    .await?;
                Ok(Executed::Done(Some(format!("priority {priority}"))))
            }
            Action::Cancel { reason } => {
                self.client
                    .cancel_order(
                        shop,
                        &json!({ "order_id": order_id.as_str(), "cancel_reason": reason }),
                    )
                    .await?;
                Ok(Executed::Done(Some(format!(
                    "cancelled at TikTok: {reason}"
                ))))
            }
            Action::Wait(_) => Ok(Executed::Done(None)),
        }
    }

    /// Undoes what a cancelled order's run holds: reserved stock and an unused label. Says
    /// what was released.
    pub async fn compensate(&self, view: &OrderRecord) -> String {
        let stock = match self
            .inventory
            .release(&view.order.id, &view.order.shop_id)
            .await
        {
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

    async fn command(&self, order_id: &OrderId, msg: Msg, cause: &Cause) -> Result<(), Error> {
        let envelope = Envelope {
            msg,
            cause: cause.clone(),
            inbox: None,
        };
        self.registry.submit(order_id.clone(), envelope).await?;
        Ok(())
    }
}
