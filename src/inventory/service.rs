//! The stock ledger as the workflow uses it (reserve, release, commit, with metrics) and the
//! reservation expiry sweep.
//!
//! A SKU's reservations are decided in the order they are asked for. One-SKU orders (a flash
//! sale's: their reservations, releases and shipments) and the warehouse's counts
//! (`inventory.command.*`) go to the SKU's stock actor, a [`Batcher`] keyed by (shop, SKU), which
//! takes what is queued in order: runs of reservations decided in one transaction each
//! (`StockStore::reserve_many`), a count or a settlement applied between them where it came. Orders of several SKUs take a turn on each of their SKUs (in SKU order, so two
//! never wait on each other) and reserve in their own transaction.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

use super::{Error, Reservation, StockLevel};
use crate::actors::Batcher;
use crate::config;
use crate::domain::{OrderId, ShopId, Sku};
use crate::persistence::{self, Database};

#[derive(Clone)]
pub struct Inventory {
    db: Database,
    require_tracking: bool,
    ttl: Duration,
    queues: Arc<Queues>,
    actors: Batcher<(ShopId, Sku), Job>,
}

/// What a stock actor is asked to do.
enum Job {
    Reserve(Ask),
    Count {
        change: Change,
        dedupe: Option<String>,
        reply: oneshot::Sender<Result<StockLevel, Error>>,
    },
    /// An order's reservation released (`commit: false`) or shipped.
    Settle {
        order_id: OrderId,
        commit: bool,
        reply: oneshot::Sender<Result<usize, persistence::Error>>,
    },
}

/// A counted change of a SKU's stock on hand (a warehouse's, or an operator's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The units on hand, counted; `threshold`: `Some` replaces the low-stock threshold.
    Set {
        on_hand: i64,
        threshold: Option<Option<i64>>,
    },
    /// Units added (negative: removed).
    Adjust(i64),
}

/// Reservations a stock actor decides in one transaction at most.
const BATCH: usize = 256;

/// One order's ask of one SKU, to that SKU's stock actor.
struct Ask {
    order_id: OrderId,
    quantity: i64,
    reply: oneshot::Sender<Result<Reservation, Error>>,
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
            db: db.clone(),
            require_tracking: settings.require_tracking,
            ttl: settings.reservation_ttl,
            queues: Arc::default(),
            actors: Batcher::new(Duration::ZERO, BATCH, {
                let (db, ttl, require) = (
                    db.clone(),
                    settings.reservation_ttl,
                    settings.require_tracking,
                );
                move |(shop, sku): (ShopId, Sku), jobs: Vec<Job>| {
                    let db = db.clone();
                    async move { work(&db, &shop, &sku, jobs, ttl, require).await }
                }
            }),
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
        // Queued before anything else is awaited, so the turn is the order of asking.
        if let [(sku, quantity)] = lines {
            let (reply, answer) = oneshot::channel();
            let ask = Ask {
                order_id: order_id.clone(),
                quantity: i64::from(*quantity),
                reply,
            };
            self.actors
                .submit(&(shop_id.clone(), sku.clone()), Job::Reserve(ask))
                .await;
            let outcome = match answer.await {
                Ok(outcome) => outcome,
                // The actor went away with the ask (shutting down): decide it here.
                Err(_) => self.reserve_now(order_id, shop_id, lines).await,
            };
            count(&outcome);
            return outcome;
        }
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
        count(&outcome);
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
        self.db
            .stock()
            .reserve(
                order_id.as_str(),
                shop_id.as_str(),
                &lines,
                self.ttl,
                self.require_tracking,
            )
            .await
    }

    /// Applies a count of `sku`'s stock in its actor, in order with its reservations; `dedupe`:
    /// a command id, so a command seen before changes nothing.
    pub async fn count(
        &self,
        shop_id: &ShopId,
        sku: &Sku,
        change: Change,
        dedupe: Option<String>,
    ) -> Result<StockLevel, Error> {
        let (reply, answer) = oneshot::channel();
        let job = Job::Count {
            change,
            dedupe: dedupe.clone(),
            reply,
        };
        self.actors
            .submit(&(shop_id.clone(), sku.clone()), job)
            .await;
        match answer.await {
            Ok(outcome) => outcome,
            // The actor went away with the job (shutting down): apply it here.
            Err(_) => apply(&self.db, shop_id, sku, change, dedupe.as_deref()).await,
        }
    }

    /// Gives the order's reserved stock back; returns the lines released.
    pub async fn release(
        &self,
        order_id: &OrderId,
        shop_id: &ShopId,
    ) -> Result<usize, persistence::Error> {
        self.settle(order_id, shop_id, false).await
    }

    /// The order shipped: its reserved stock leaves the shelf; returns the lines committed.
    pub async fn commit(
        &self,
        order_id: &OrderId,
        shop_id: &ShopId,
    ) -> Result<usize, persistence::Error> {
        self.settle(order_id, shop_id, true).await
    }

    /// Through the SKU's actor when the order holds one SKU, in order with its reservations;
    /// an order of several SKUs settles in its own transaction.
    async fn settle(
        &self,
        order_id: &OrderId,
        shop_id: &ShopId,
        commit: bool,
    ) -> Result<usize, persistence::Error> {
        let held = self.db.stock().reservation(order_id.as_str()).await?;
        let mut skus: Vec<&Sku> = held
            .iter()
            .filter(|l| l.state == crate::domain::ReservationState::Reserved)
            .map(|l| &l.sku_id)
            .collect();
        skus.dedup();
        if let [sku] = skus.as_slice() {
            let (reply, answer) = oneshot::channel();
            let job = Job::Settle {
                order_id: order_id.clone(),
                commit,
                reply,
            };
            self.actors
                .submit(&(shop_id.clone(), (*sku).clone()), job)
                .await;
            if let Ok(outcome) = answer.await {
                return outcome;
            }
        }
        settle(&self.db, order_id, commit).await
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

fn count(outcome: &Result<Reservation, Error>) {
    let label = match outcome {
        Ok(r) if r.new => "reserved",
        Ok(_) => "repeated",
        Err(Error::Insufficient { .. }) => "insufficient",
        Err(Error::Untracked(_)) => "untracked",
        Err(_) => "error",
    };
    metrics::counter!(crate::telemetry::metrics::INVENTORY_RESERVATIONS_TOTAL, "outcome" => label)
        .increment(1);
}

/// A stock actor's jobs, in the order they came: each run of reservations decided together, a
/// count applied where it stands.
async fn work(
    db: &Database,
    shop: &ShopId,
    sku: &Sku,
    jobs: Vec<Job>,
    ttl: Duration,
    require_tracking: bool,
) {
    let mut asks = Vec::new();
    for job in jobs {
        match job {
            Job::Reserve(ask) => asks.push(ask),
            Job::Count {
                change,
                dedupe,
                reply,
            } => {
                let before = std::mem::take(&mut asks);
                decide(db, shop, sku, before, ttl, require_tracking).await;
                let _ = reply.send(apply(db, shop, sku, change, dedupe.as_deref()).await);
            }
            Job::Settle {
                order_id,
                commit,
                reply,
            } => {
                let before = std::mem::take(&mut asks);
                decide(db, shop, sku, before, ttl, require_tracking).await;
                let _ = reply.send(settle(db, &order_id, commit).await);
            }
        }
    }
    decide(db, shop, sku, asks, ttl, require_tracking).await;
}

async fn settle(
    db: &Database,
    order_id: &OrderId,
    commit: bool,
) -> Result<usize, persistence::Error> {
    if commit {
        db.stock().commit(order_id.as_str()).await
    } else {
        db.stock().release(order_id.as_str()).await
    }
}

async fn apply(
    db: &Database,
    shop: &ShopId,
    sku: &Sku,
    change: Change,
    dedupe: Option<&str>,
) -> Result<StockLevel, Error> {
    let stock = db.stock();
    match change {
        Change::Set { on_hand, threshold } => {
            stock
                .set(shop.as_str(), sku.as_str(), on_hand, threshold, dedupe)
                .await
        }
        Change::Adjust(delta) => {
            stock
                .adjust(shop.as_str(), sku.as_str(), delta, dedupe)
                .await
        }
    }
}

/// A run of reservations: decided together in one transaction, in the order asked; if the
/// level moved under it or the batch could not be written, each ask is decided on its own.
async fn decide(
    db: &Database,
    shop: &ShopId,
    sku: &Sku,
    asks: Vec<Ask>,
    ttl: Duration,
    require_tracking: bool,
) {
    if asks.is_empty() {
        return;
    }
    let orders: Vec<(&str, i64)> = asks
        .iter()
        .map(|a| (a.order_id.as_str(), a.quantity))
        .collect();
    let decided = db
        .stock()
        .reserve_many(shop.as_str(), sku.as_str(), &orders, ttl, require_tracking)
        .await;
    match decided {
        Ok(Some(answers)) => {
            for (ask, answer) in asks.into_iter().zip(answers) {
                let _ = ask.reply.send(answer);
            }
        }
        outcome => {
            if let Err(e) = outcome {
                tracing::warn!(error = %e, %shop, sku = sku.as_str(), "a batch of reservations failed; deciding them one by one");
            }
            for ask in asks {
                let lines = [(sku.as_str(), ask.quantity)];
                let answer = db
                    .stock()
                    .reserve(
                        ask.order_id.as_str(),
                        shop.as_str(),
                        &lines,
                        ttl,
                        require_tracking,
                    )
                    .await;
                let _ = ask.reply.send(answer);
            }
        }
    }
}
