//! Two-way sync with TikTok.
//!
//! - **Details**: a new order or an address or package change leaves a `tiktok.fetch_detail`
//!   effect on the log (committed with the change). The fetcher is the log's subscription of
//!   that name: it batches the fetches per shop (50 ids per call) and hands each order's detail
//!   to its actor, and only then moves its checkpoint. A fetch that fails (or a shop cooling
//!   down after a failure) is parked in the outbox and retried from there. A repeated detail
//!   changes nothing, so repeating is safe. A shop that has not authorised CreatorFlow (or
//!   withdrew) cannot be asked at all: its fetches are skipped and counted, not parked a row
//!   per order to fail for good after 20 attempts; once it authorises, its first poll (a day
//!   back) brings its orders as TikTok has them.
//! - **Reconciliation**: webhooks can be lost or reordered, so a poller searches each authorised
//!   shop's orders by `update_time` (from its persisted cursor, minus an overlap, in pages) and
//!   hands every order to its actor. What that changes was missed: it is counted as drift.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use metrics::counter;

use super::client::{self, Client};
use super::model::{self, WireOrder};
use crate::actors::{Envelope, RegistryHandle, Reply};
use crate::config;
use crate::domain::{Cause, Effect, Msg, OrderId, ShopId};
use crate::journal::Tail;
use crate::journal::{Consumer, Entry, Posted};
use crate::persistence::{self, Database, ShopAuth};
use crate::shutdown::{Stop, Tasks};
use crate::telemetry::metrics::{
    TIKTOK_DETAILS_FETCHED_TOTAL, TIKTOK_DETAILS_SKIPPED_TOTAL, TIKTOK_SYNC_DRIFT_TOTAL,
};

pub const FETCH_DETAIL: &str = "tiktok.fetch_detail";
/// Pending fetches taken per round.
const FETCH_BATCH: u64 = 500;
/// A new shop's first poll reaches back this far.
const FIRST_POLL: Duration = Duration::from_secs(24 * 3600);
const PAGE_SIZE: u32 = 100;
/// How long a shop's fetches wait after a failure (or after finding it not authorised).
const COOL_DOWN: Duration = Duration::from_secs(5);

/// Starts the detail fetcher and the reconciliation poller in `tasks`.
pub fn start(
    client: Client,
    db: Database,
    registry: RegistryHandle,
    settings: &config::TikTokSettings,
    tasks: &mut Tasks,
) {
    let fetcher = Fetcher {
        client: client.clone(),
        db: db.clone(),
        registry: registry.clone(),
    };
    let committed = registry.committed();
    counter!(TIKTOK_SYNC_DRIFT_TOTAL).increment(0);
    counter!(TIKTOK_DETAILS_SKIPPED_TOTAL).increment(0);
    let poller = Poller {
        client,
        db,
        registry,
        overlap: settings.poll_overlap,
    };
    let interval = settings.poll_interval;
    tasks.spawn("tiktok detail fetcher", |stop| fetcher.run(committed, stop));
    tasks.spawn("tiktok poller", move |stop| poller.run(interval, stop));
}

/// The fetcher as the log's subscription: the shops cooling down after a failure are shared by
/// its reads of the log and of its parked rows (looked at once a second: re-reading rows of
/// shops cooling down five times a second cost more than the fetches).
struct Fetching {
    fetcher: Fetcher,
    cooling: Cooling,
}

/// The shops whose fetches wait, until when, and why.
pub type Cooling = HashMap<ShopId, (Instant, Waiting)>;

/// Why a shop's fetches wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waiting {
    /// A call failed (TikTok, the network): its fetches are parked and retried.
    Failed,
    /// It has not authorised CreatorFlow, or withdrew: its fetches are skipped.
    NotAuthorised,
}

impl Consumer for Fetching {
    async fn consume(&mut self, entries: &[Entry]) -> Result<(), persistence::Error> {
        self.fetcher.fetch_entries(entries, &mut self.cooling).await
    }

    async fn owed(&mut self) -> Result<(), persistence::Error> {
        self.fetcher.once(&mut self.cooling).await.map(|_| ())
    }
}

#[derive(Clone)]
pub struct Fetcher {
    pub client: Client,
    pub db: Database,
    pub registry: RegistryHandle,
}

impl Fetcher {
    /// Fetches until stopped; on stop it saves its checkpoint.
    async fn run(self, committed: crate::journal::Watermark, mut stop: Stop) {
        // Fetches wait at most 100 ms to be batched per shop (50 ids per call).
        let every = Duration::from_millis(100);
        let opened = Tail::open_or_stop(&self.db, FETCH_DETAIL, &committed, every, &mut stop);
        let Some(tail) = opened.await else {
            return;
        };
        let mut consumer = Fetching {
            fetcher: self,
            cooling: Cooling::new(),
        };
        tail.follow(FETCH_BATCH, &mut consumer, &mut stop).await;
    }

    /// Fetches the details the log's `entries` ask for, per shop; what fails, or waits for a
    /// shop cooling down, is parked in the outbox; what a shop not authorised asks is skipped.
    pub async fn fetch_entries(
        &self,
        entries: &[Entry],
        cooling: &mut Cooling,
    ) -> Result<(), persistence::Error> {
        let mut by_shop: BTreeMap<ShopId, Vec<(OrderId, &Posted)>> = BTreeMap::new();
        for posted in entries.iter().flat_map(|e| e.effects.iter()) {
            if posted.routing_key != FETCH_DETAIL {
                continue;
            }
            match posted.effect() {
                Ok(Effect::FetchDetail { order_id, shop_id }) => {
                    by_shop.entry(shop_id).or_default().push((order_id, posted));
                }
                other => tracing::error!(
                    ?other,
                    "a tiktok.fetch_detail entry that is no detail fetch; skipped"
                ),
            }
        }
        let now = Instant::now();
        cooling.retain(|_, (until, _)| *until > now);
        for (shop, wanted) in by_shop {
            let park = |attempts| {
                let rows: Vec<(String, serde_json::Value)> = wanted
                    .iter()
                    .map(|(_, posted)| (FETCH_DETAIL.to_owned(), posted.payload()))
                    .collect();
                let db = self.db.clone();
                async move { db.outbox().park(&rows, attempts).await }
            };
            let mut ids: Vec<OrderId> = wanted.iter().map(|(id, _)| id.clone()).collect();
            ids.sort();
            ids.dedup();
            match cooling.get(&shop) {
                Some((_, Waiting::Failed)) => park(0).await?,
                Some((_, Waiting::NotAuthorised)) => skip(&ids),
                None => match self.fetch(&shop, &ids).await {
                    Ok(()) => {}
                    Err(e) if e.is_permanent() => {
                        tracing::warn!(shop_id = %shop, error = %e, "cannot fetch order details: the shop has not authorised CreatorFlow; its first poll once it does brings them");
                        skip(&ids);
                        cooling.insert(shop, (now + COOL_DOWN, Waiting::NotAuthorised));
                    }
                    Err(e) => {
                        tracing::warn!(shop_id = %shop, error = %e, "cannot fetch order details; will retry");
                        park(1).await?;
                        cooling.insert(shop, (now + COOL_DOWN, Waiting::Failed));
                    }
                },
            }
        }
        Ok(())
    }

    /// One round over the parked fetches (and those owed from before the log), except for
    /// shops cooling down after a failure.
    /// Returns how many fetches were done.
    pub async fn once(&self, cooling: &mut Cooling) -> Result<usize, persistence::Error> {
        let rows = self.db.outbox().pending(FETCH_DETAIL, FETCH_BATCH).await?;
        let mut by_shop: BTreeMap<ShopId, (Vec<i64>, Vec<OrderId>)> = BTreeMap::new();
        let mut unreadable = Vec::new();
        for row in &rows {
            let ids = (|| {
                let order = OrderId::parse(row.payload.get("order_id")?.as_str()?).ok()?;
                let shop = ShopId::parse(row.payload.get("shop_id")?.as_str()?).ok()?;
                Some((shop, order))
            })();
            match ids {
                Some((shop, order)) => {
                    let entry = by_shop.entry(shop).or_default();
                    entry.0.push(row.id);
                    if !entry.1.contains(&order) {
                        entry.1.push(order);
                    }
                }
                None => unreadable.push(row.id),
            }
        }
        if !unreadable.is_empty() {
            tracing::error!(rows = ?unreadable, "unreadable detail fetches in the outbox; left for an operator");
            self.db.outbox().give_up(&unreadable).await?;
        }
        let now = Instant::now();
        cooling.retain(|_, (until, _)| *until > now);
        let mut done = 0;
        for (shop, (row_ids, order_ids)) in by_shop {
            if cooling.contains_key(&shop) {
                continue;
            }
            match self.fetch(&shop, &order_ids).await {
                Ok(()) => {
                    self.db.outbox().delete_sent(&row_ids).await?;
                    done += row_ids.len();
                }
                Err(e) => {
                    tracing::warn!(shop_id = %shop, error = %e, "cannot fetch order details; will retry");
                    self.db.outbox().mark_failed(&row_ids).await?;
                    let why = if e.is_permanent() {
                        Waiting::NotAuthorised
                    } else {
                        Waiting::Failed
                    };
                    cooling.insert(shop, (now + COOL_DOWN, why));
                }
            }
        }
        Ok(done)
    }

    async fn fetch(&self, shop: &ShopId, ids: &[OrderId]) -> Result<(), Error> {
        let orders = self.client.order_details(shop, ids).await?;
        counter!(TIKTOK_DETAILS_FETCHED_TOTAL).increment(orders.len() as u64);
        let applies = orders.iter().map(|order| {
            hand_over(
                &self.registry,
                shop,
                order,
                Cause::Integration("tiktok".into()),
            )
        });
        for result in futures_util::future::join_all(applies).await {
            result?;
        }
        Ok(())
    }
}

/// Counts fetches not made because their shop has not authorised CreatorFlow.
fn skip(ids: &[OrderId]) {
    counter!(TIKTOK_DETAILS_SKIPPED_TOTAL).increment(ids.len() as u64);
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Api(#[from] client::Error),
    #[error(transparent)]
    Engine(#[from] crate::actors::Error),
    #[error(transparent)]
    Storage(#[from] persistence::Error),
}

impl Error {
    /// The shop has not authorised CreatorFlow (or withdrew), or the app has no credentials:
    /// no retry mends it.
    pub fn is_permanent(&self) -> bool {
        matches!(self, Error::Api(e) if e.is_permanent())
    }
}

/// Gives an order as TikTok has it to its actor. An order whose amounts cannot be read exactly
/// is logged and skipped (retrying would not help).
async fn hand_over(
    registry: &RegistryHandle,
    shop: &ShopId,
    order: &WireOrder,
    cause: Cause,
) -> Result<Option<Reply>, crate::actors::Error> {
    let (id, detail) = match model::order_id(order).and_then(|id| Ok((id, model::detail(order)?))) {
        Ok(parsed) => parsed,
        Err(e) => {
            tracing::error!(order_id = %order.id.0, error = %e, "TikTok order detail cannot be read; not applied");
            return Ok(None);
        }
    };
    let envelope = Envelope {
        msg: Msg::Detail {
            shop_id: shop.clone(),
            detail: Box::new(detail),
        },
        cause,
        inbox: None,
    };
    registry.submit(id, envelope).await.map(Some)
}

pub struct Poller {
    pub client: Client,
    pub db: Database,
    pub registry: RegistryHandle,
    pub overlap: Duration,
}

/// What one poll of one shop found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reconciled {
    pub seen: usize,
    pub repaired: usize,
}

impl Poller {
    /// Polls every `interval` until stopped (a poll in progress finishes its shop).
    async fn run(self, interval: Duration, mut stop: Stop) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                () = stop.stopped() => return,
            }
            let shops = match self.db.shops().authorized().await {
                Ok(shops) => shops,
                Err(e) => {
                    tracing::warn!(error = ?anyhow::Error::from(e), "cannot list shops to poll");
                    continue;
                }
            };
            // In cluster mode a shop is reconciled by the node holding its id's slot.
            let watermark = self.registry.committed();
            let mine = |shop: &ShopAuth| {
                let slot = crate::domain::slot_of(shop.shop_id.as_str());
                watermark.fence().is_none_or(|m| m.epoch(slot).is_some())
            };
            for shop in shops.into_iter().filter(|s| mine(s)) {
                if stop.is_stopped() {
                    return;
                }
                match self.poll(&shop).await {
                    Ok(report) if report.repaired > 0 => {
                        tracing::info!(shop_id = %shop.shop_id, ?report, "poll repaired orders that webhooks missed")
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(shop_id = %shop.shop_id, error = %e, "poll failed; next round retries")
                    }
                }
            }
        }
    }

    /// Searches the shop's orders updated since its cursor (minus the overlap), page by page,
    /// hands each to its actor, then moves the cursor.
    pub async fn poll(&self, shop: &ShopAuth) -> Result<Reconciled, Error> {
        let now = chrono::Utc::now().timestamp();
        let from = match shop.sync_cursor {
            Some(cursor) => cursor - self.overlap.as_secs() as i64,
            None => now - FIRST_POLL.as_secs() as i64,
        };
        let until = now + 1;
        let mut report = Reconciled::default();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .search_orders(&shop.shop_id, from, until, token.as_deref(), PAGE_SIZE)
                .await?;
            report.seen += page.orders.len();
            let applies = page
                .orders
                .iter()
                .map(|order| hand_over(&self.registry, &shop.shop_id, order, Cause::Poll));
            for outcome in futures_util::future::join_all(applies).await {
                if let Some(Reply::Applied { .. }) = outcome? {
                    report.repaired += 1;
                    counter!(TIKTOK_SYNC_DRIFT_TOTAL).increment(1);
                }
            }
            match page.next {
                Some(next) => token = Some(next),
                None => break,
            }
        }
        self.db
            .shops()
            .set_sync_cursor(&shop.shop_id, until, report.repaired as u64)
            .await?;
        Ok(report)
    }
}
