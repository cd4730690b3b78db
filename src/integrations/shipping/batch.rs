//! TikTok shipping in batches: one actor per shop queues the packages the workflow asks to ship
//! and sends them with Batch Ship Packages, up to [`MAX_BATCH_SHIP`] per call, so a flash sale
//! costs one call per batch instead of one per package under the shop's rate limit (the
//! client's). Each asker gets its own package's outcome: shipped now, already shipped (a
//! success, not a retry), or TikTok's refusal. The actors are a [`Batcher`]: bounded mailboxes,
//! stopped when idle.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

use super::Error;
use crate::actors::Batcher;
use crate::domain::{OrderId, ShopId};
use crate::integrations::tiktok::client::{Client, MAX_BATCH_SHIP};

/// How long a batch waits for company once its first package is in.
const WINDOW: Duration = Duration::from_millis(20);

/// TikTok statuses that mean the order has left the seller.
pub(super) const LEFT: &[&str] = &[
    "AWAITING_COLLECTION",
    "IN_TRANSIT",
    "DELIVERED",
    "COMPLETED",
];

/// What became of one package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shipped {
    Now,
    /// TikTok refused it because its order had already left: shipped before (a retry, or
    /// someone in TikTok's seller center).
    Already,
}

struct Ask {
    order_id: OrderId,
    package: String,
    reply: oneshot::Sender<Result<Shipped, Error>>,
}

/// The shops' ship actors. Cheap to clone.
#[derive(Clone)]
pub struct ShipQueue {
    shops: Batcher<ShopId, Ask>,
}

impl ShipQueue {
    pub fn new(client: Client) -> Self {
        Self {
            shops: Batcher::new(WINDOW, MAX_BATCH_SHIP, move |shop, batch| {
                let client = client.clone();
                async move { send(&client, &shop, batch).await }
            }),
        }
    }

    /// Ships `package` of `order_id` with the next batch of `shop`'s packages.
    pub async fn ship(
        &self,
        shop: &ShopId,
        order_id: &OrderId,
        package: &str,
    ) -> Result<Shipped, Error> {
        let (reply, answer) = oneshot::channel();
        let ask = Ask {
            order_id: order_id.clone(),
            package: package.to_owned(),
            reply,
        };
        self.shops.submit(shop, ask).await;
        answer
            .await
            .unwrap_or(Err(Error::Missing("the shop's ship queue stopped")))
    }
}

/// One Batch Ship Packages call; a refused package whose order TikTok shows as gone already
/// (one Get Order Detail call for all of them) is a success.
async fn send(client: &Client, shop: &ShopId, batch: Vec<Ask>) {
    metrics::histogram!(crate::telemetry::metrics::SHIPPING_BATCH_SIZE).record(batch.len() as f64);
    let packages: Vec<&str> = batch.iter().map(|a| a.package.as_str()).collect();
    let refused = match client.ship_packages(shop, &packages).await {
        Ok(refused) => refused,
        Err(e) => {
            let e = Arc::new(e);
            for ask in batch {
                let _ = ask.reply.send(Err(Error::Batch(e.clone())));
            }
            return;
        }
    };
    let refusals: HashMap<&str, (i64, &str)> = refused
        .iter()
        .map(|r| (r.detail.package_id.as_str(), (r.code, r.message.as_str())))
        .collect();
    let doubtful: Vec<OrderId> = batch
        .iter()
        .filter(|a| refusals.contains_key(a.package.as_str()))
        .map(|a| a.order_id.clone())
        .collect();
    let gone: HashMap<String, bool> = if doubtful.is_empty() {
        HashMap::new()
    } else {
        match client.order_details(shop, &doubtful).await {
            Ok(orders) => orders
                .into_iter()
                .map(|o| (o.id.0.clone(), LEFT.contains(&o.status.as_str())))
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, %shop, "cannot look at refused packages' orders");
                HashMap::new()
            }
        }
    };
    for ask in batch {
        let outcome = match refusals.get(ask.package.as_str()) {
            None => Ok(Shipped::Now),
            Some(_) if gone.get(ask.order_id.as_str()) == Some(&true) => Ok(Shipped::Already),
            Some((code, message)) => Err(Error::Refused {
                package: ask.package.clone(),
                code: *code,
                message: (*message).to_owned(),
            }),
        };
        let _ = ask.reply.send(outcome);
    }
}
