//! TikTok shipping in batches: one actor per shop queues the packages the workflow asks to ship
//! and sends them with Batch Ship Packages, up to [`MAX_BATCH_SHIP`] per call, so a flash sale
//! costs one call per batch instead of one per package under the shop's rate limit (the
//! client's). Each asker gets its own package's outcome: shipped now, already shipped (a
//! success, not a retry), or TikTok's refusal. An actor stops after a minute without work and
//! the next ask starts another; its mailbox is bounded, so a burst waits in order.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::Error;
use crate::domain::{OrderId, ShopId};
use crate::integrations::tiktok::client::{Client, MAX_BATCH_SHIP};

/// How long a batch waits for company once its first package is in.
const WINDOW: Duration = Duration::from_millis(20);
/// An actor this long without work stops.
const IDLE: Duration = Duration::from_secs(60);
/// Packages queued per shop before askers wait for room.
const MAILBOX: usize = 1024;

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
    client: Client,
    shops: Arc<Mutex<HashMap<ShopId, mpsc::Sender<Ask>>>>,
}

impl ShipQueue {
    pub fn new(client: Client) -> Self {
        Self {
            client,
            shops: Arc::default(),
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
        let mut ask = Ask {
            order_id: order_id.clone(),
            package: package.to_owned(),
            reply,
        };
        loop {
            let mailbox = self.mailbox(shop);
            match mailbox.send(ask).await {
                Ok(()) => break,
                // That actor stopped (idle) as we asked: start another.
                Err(mpsc::error::SendError(back)) => {
                    ask = back;
                    self.forget(shop, &mailbox);
                }
            }
        }
        answer
            .await
            .unwrap_or(Err(Error::Missing("the shop's ship queue stopped")))
    }

    fn mailbox(&self, shop: &ShopId) -> mpsc::Sender<Ask> {
        let mut shops = self.shops.lock().unwrap_or_else(|p| p.into_inner());
        shops
            .entry(shop.clone())
            .or_insert_with(|| {
                let (tx, rx) = mpsc::channel(MAILBOX);
                tokio::spawn(run(self.client.clone(), shop.clone(), rx));
                tx
            })
            .clone()
    }

    fn forget(&self, shop: &ShopId, stopped: &mpsc::Sender<Ask>) {
        let mut shops = self.shops.lock().unwrap_or_else(|p| p.into_inner());
        if shops.get(shop).is_some_and(|tx| tx.same_channel(stopped)) {
            shops.remove(shop);
        }
    }
}

/// One shop's actor: a batch is what is queued when the first package arrives, plus what
/// arrives within [`WINDOW`], up to [`MAX_BATCH_SHIP`].
async fn run(client: Client, shop: ShopId, mut inbox: mpsc::Receiver<Ask>) {
    loop {
        let first = match tokio::time::timeout(IDLE, inbox.recv()).await {
            Ok(Some(ask)) => ask,
            Ok(None) => return,
            Err(_) => {
                // Idle: take no more, and ship what slipped in before the mailbox closed.
                inbox.close();
                let mut rest = Vec::new();
                while let Ok(ask) = inbox.try_recv() {
                    rest.push(ask);
                }
                for batch in chunks(rest) {
                    send(&client, &shop, batch).await;
                }
                return;
            }
        };
        let mut batch = vec![first];
        let until = tokio::time::Instant::now() + WINDOW;
        while batch.len() < MAX_BATCH_SHIP {
            match tokio::time::timeout_at(until, inbox.recv()).await {
                Ok(Some(ask)) => batch.push(ask),
                _ => break,
            }
        }
        send(&client, &shop, batch).await;
    }
}

fn chunks(mut asks: Vec<Ask>) -> Vec<Vec<Ask>> {
    let mut out = Vec::new();
    while !asks.is_empty() {
        let rest = asks.split_off(asks.len().min(MAX_BATCH_SHIP));
        out.push(std::mem::replace(&mut asks, rest));
    }
    out
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
