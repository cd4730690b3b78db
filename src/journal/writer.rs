//! The journal: group commit of order changes into the log.
//!
//! Actors hand it a [`Commit`] (audit events, the new snapshot, the dedupe key of the message,
//! the effects) and wait. One writer task takes whatever is queued, up to `journal.max_batch`
//! (an even share of it when other writers are free, see [`share`]), waiting at most
//! `journal.max_delay` for company, and writes it all at once; then it answers every waiter.
//! Nothing is acknowledged before its commit. While one batch commits the next one queues, so
//! under load batches grow by themselves and the cost of a commit is shared.
//!
//! **The journal is the log.** Every event row gets a position, handed out here when its batch
//! is formed, and the slot of its order. A commit's last row carries the dedupe key of the
//! delivery that caused it and the commit's effects; effects are never separate rows. A
//! delivery that records no event but asks for work writes one row without a sequence number;
//! one that changes nothing at all leaves only its key, in `webhook_inbox`.
//!
//! Several batches may be in flight at once (PostgreSQL), so positions can commit out of order.
//! The journal publishes a **watermark** ([`Journal::committed`]): every position at or below
//! it is settled (committed, or never will be). Subscriptions read only up to it, so none skips
//! an event that commits late with a smaller position. A single node hands out positions after
//! the log's largest at start-up; the nodes of a cluster draw them in blocks from a shared row
//! and read the watermark from the database (see [`super::positions`]).

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_rt::ArbiterHandle;
use metrics::{counter, histogram};
use tokio::sync::{mpsc, oneshot, watch};

use sea_orm::DbErr;

use super::annotations;
use super::commit::{Commit, Placed, Written, log_rows, rows_of};
use super::positions::{BLOCK, Floor, Positions};
use super::recent::Recent;
use super::snapshot::{self, Snapshots};
use super::stored::{StoredOrders, read_stored};
use super::tail::Watermark;
use super::{postgres, sqlite};
use crate::cluster::Membership;
use crate::config::Backend;
use crate::domain::OrderId;
use crate::persistence::{Database, EngineConnection};
use crate::telemetry::metrics::{
    CLUSTER_FENCED_COMMITS_TOTAL, JOURNAL_BATCH_SIZE, JOURNAL_COMMIT_SECONDS,
};

/// Commits queued beyond this many wait in their actors (backpressure), not in memory here.
const QUEUE_DEPTH: usize = 8192;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the journal is stopped")]
    Stopped,
    #[error("the journal could not write")]
    Write(#[source] std::sync::Arc<sea_orm::DbErr>),
    /// Cluster mode: this node does not hold the order's slot (any more): nothing was written.
    #[error("slot {slot} is not this node's")]
    NotOwner { slot: i16 },
}

/// The fewest commits a writer takes while other writers are free for the rest: each
/// statement costs PostgreSQL ~200 µs of fixed work (session 59), so an even share of a short
/// queue would cost more than running side by side saves (session 68's even share without a
/// floor: 29 µs per webhook at 64 connections). 48 did best of 16, 32, 48, 64 (session 71).
const SHARE_FLOOR: usize = 48;

/// How many commits a writer takes of the `queued` ones when `free` other writers wait for the
/// queue: an even share, but never fewer than [`SHARE_FLOOR`] nor more than `max`; all it may
/// (`max`) when no other writer is free. So commits that queued while every writer was in a
/// statement go to the database as whole batches if the database is busy, and side by side
/// in two or more statements if writers are idle.
fn share(queued: usize, free: usize, max: usize) -> usize {
    if free == 0 {
        return max;
    }
    queued.div_ceil(free + 1).max(SHARE_FLOOR).min(max)
}

/// How often a cluster node says its floor and reads the cluster's watermark.
const PUBLISH_EVERY: Duration = Duration::from_millis(50);

/// Cluster mode: the node whose slots the writers fence.
struct Cluster {
    membership: Membership,
}

type Shared = Arc<Mutex<Positions>>;

fn lock(positions: &Shared) -> std::sync::MutexGuard<'_, Positions> {
    positions
        .lock()
        .expect("the positions lock is never held across a panic")
}

/// Handle to the writer task. Cheap to clone.
#[derive(Clone)]
pub struct Journal {
    queue: mpsc::Sender<Job>,
    committed: Watermark,
    stored: Arc<StoredOrders>,
}

struct Job {
    commit: Commit,
    reply: oneshot::Sender<Result<Written, Error>>,
}

impl Journal {
    /// Starts `writers` writer tasks on a thread of their own, handing out positions after the
    /// log's largest. They end when every handle is dropped, after writing what was queued.
    /// Several writers overlap transactions, which PostgreSQL turns into throughput; SQLite has
    /// one writer at a time, so one is enough there. Concurrent batches never hold two commits
    /// of one order: an order's actor waits for its commit before it sends the next.
    pub async fn start(
        db: Database,
        max_batch: usize,
        max_delay: Duration,
        writers: usize,
    ) -> Result<Self, crate::persistence::Error> {
        Self::start_fenced(db, max_batch, max_delay, writers, None).await
    }

    /// [`Journal::start`] for a node of a cluster (`fence`: its membership): every batch
    /// presents the epochs of the slots it writes, checked where the rows land, and a commit of
    /// a slot this node does not hold at that epoch is written nowhere and answered
    /// [`Error::NotOwner`]. Positions come in blocks drawn from the database, and the
    /// watermark is the cluster's, read from the database every 50 ms.
    pub async fn start_fenced(
        db: Database,
        max_batch: usize,
        max_delay: Duration,
        writers: usize,
        fence: Option<Membership>,
    ) -> Result<Self, crate::persistence::Error> {
        Self::start_in(None, db, max_batch, max_delay, writers, fence).await
    }

    /// [`Journal::start_fenced`] whose writers run on `engine`'s arbiter (the one that also
    /// runs order actors, so that a commit and its answer never cross threads), or on a thread
    /// of their own if `None`.
    pub async fn start_in(
        engine: Option<&ArbiterHandle>,
        db: Database,
        max_batch: usize,
        max_delay: Duration,
        writers: usize,
        fence: Option<Membership>,
    ) -> Result<Self, crate::persistence::Error> {
        let (positions, committed_tx, committed, recent) = match &fence {
            None => {
                let end = db.log().end().await?;
                let (tx, rx) = watch::channel(end);
                (
                    Positions::after(end, tx),
                    None,
                    rx,
                    Some(Recent::after(end)),
                )
            }
            Some(membership) => {
                db.cluster().ensure_head().await?;
                // Whatever an earlier run of this node said, it writes nothing yet.
                db.cluster()
                    .publish_floor(
                        membership.node_id(),
                        membership.incarnation(),
                        None,
                        i64::MAX,
                    )
                    .await?;
                let settled = db.cluster().settled().await?;
                let (tx, rx) = watch::channel(settled);
                let recent = Recent::after(settled);
                (Positions::in_blocks(), Some(tx), rx, Some(recent))
            }
        };
        let positions: Shared = Arc::new(Mutex::new(positions));
        let stored = Arc::new(StoredOrders::noting(fence.clone()));
        tokio::spawn(read_stored(stored.clone(), db.clone()));
        let cluster = fence
            .clone()
            .map(|membership| Arc::new(Cluster { membership }));
        let (queue, jobs) = mpsc::channel(QUEUE_DEPTH);
        let jobs = Arc::new(Jobs {
            queue: tokio::sync::Mutex::new(jobs),
            free: AtomicUsize::new(0),
        });
        let watermark = Watermark::new(committed, fence, recent.clone());
        let writing_stored = stored.clone();
        let writing = async move {
            let (writing, written) = oneshot::channel::<()>();
            let publisher = match (&cluster, committed_tx) {
                (Some(cluster), Some(settled)) => Some(tokio::spawn(publish(
                    db.clone(),
                    cluster.clone(),
                    positions.clone(),
                    settled,
                    written,
                ))),
                _ => None,
            };
            let writers: Vec<_> = (0..writers.max(1))
                .map(|_| {
                    tokio::spawn(write_loop(
                        db.clone(),
                        cluster.clone(),
                        writing_stored.clone(),
                        jobs.clone(),
                        positions.clone(),
                        recent.clone(),
                        Batching {
                            max: max_batch.max(1),
                            delay: max_delay,
                        },
                    ))
                })
                .collect();
            for writer in writers {
                let _ = writer.await;
            }
            drop(writing);
            if let Some(publisher) = publisher {
                let _ = publisher.await;
            }
        };
        match engine {
            Some(engine) => {
                engine.spawn(writing);
            }
            None => {
                std::thread::Builder::new()
                    .name("journal".into())
                    .spawn(move || {
                        tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                            .expect("a current-thread runtime can be built")
                            .block_on(writing);
                    })
                    .expect("spawning the journal thread at start-up succeeds");
            }
        }
        Ok(Self {
            queue,
            committed: watermark,
            stored,
        })
    }

    /// True only if order `id` certainly has no stored snapshot, so its actor starts empty
    /// without loading one (see `journal/stored.rs`).
    pub fn surely_new(&self, id: &OrderId) -> bool {
        self.stored.surely_absent(id)
    }

    /// Waits until the journal has read which orders are stored, after which
    /// [`Journal::surely_new`] can be true (a cluster node: for the slots it held then).
    pub async fn stored_orders_read(&self) {
        self.stored.read().await;
    }

    /// Writes `commit` in the next batch and returns once it is durable (or known a duplicate).
    pub async fn commit(&self, commit: Commit) -> Result<Written, Error> {
        let (reply, answer) = oneshot::channel();
        // The queue has room but when the writers are far behind: only then is `send`'s future
        // (three quarters of this one's size, in every order actor's) needed, boxed.
        match self.queue.try_send(Job { commit, reply }) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(job)) => Box::pin(self.queue.send(job))
                .await
                .map_err(|_| Error::Stopped)?,
            Err(mpsc::error::TrySendError::Closed(_)) => return Err(Error::Stopped),
        }
        answer.await.map_err(|_| Error::Stopped)?
    }

    /// The watermark: every log position at or below it is settled. It changes after each
    /// batch (a cluster node: when the cluster's moves); subscriptions wait on it.
    pub fn committed(&self) -> Watermark {
        self.committed.clone()
    }
}

/// A cluster node's floor and the cluster's watermark: every 50 ms it says in the database the
/// lowest position this node may still write (if that changed), then reads the watermark of
/// every node's writes. When the writers are done, it says it writes nothing more and reads
/// the watermark a last time. It never holds up a writer drawing a block: the two statements
/// are ordered in the database instead (see `journal/positions.rs` and
/// `ClusterStore::publish_floor`).
async fn publish(
    db: Database,
    cluster: Arc<Cluster>,
    positions: Shared,
    settled: watch::Sender<i64>,
    mut written: oneshot::Receiver<()>,
) {
    let store = db.cluster();
    let (node, incarnation) = (
        cluster.membership.node_id(),
        cluster.membership.incarnation(),
    );
    let mut failing = false;
    let mut said: Option<Floor> = None;
    loop {
        let done = tokio::select! {
            _ = &mut written => true,
            () = tokio::time::sleep(PUBLISH_EVERY) => false,
        };
        let outcome = async {
            let floor = lock(&positions).floor();
            if let Some(floor) = floor.filter(|f| said.as_ref() != Some(f)) {
                store
                    .publish_floor(node, incarnation, floor.oldest, floor.next)
                    .await?;
                said = Some(floor);
            }
            store.settled().await
        }
        .await;
        match outcome {
            Ok(watermark) => {
                failing = false;
                settled.send_if_modified(|w| {
                    let moved = watermark > *w;
                    if moved {
                        *w = watermark;
                    }
                    moved
                });
            }
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(error = %e, "cluster: cannot say this node's log floor or read the watermark; retrying");
            }
            Err(_) => {}
        }
        if done {
            break;
        }
    }
}

/// Hands out `rows` positions, drawing a fresh block first when needed (cluster mode).
async fn take(
    db: &Database,
    cluster: Option<&Cluster>,
    positions: &Shared,
    rows: i64,
    generation: u64,
) -> Result<i64, crate::persistence::Error> {
    let floor = {
        let mut positions = lock(positions);
        if let Some(first) = positions.take(rows, generation) {
            return Ok(first);
        }
        positions.oldest_in_flight()
    };
    let cluster = cluster.expect("only a cluster node's positions come in blocks");
    let size = BLOCK.max(rows);
    let drawn = db
        .cluster()
        .draw(
            cluster.membership.node_id(),
            cluster.membership.incarnation(),
            size,
            floor,
        )
        .await;
    let mut positions = lock(positions);
    match drawn {
        Ok(first) => {
            positions.refill(first, size, generation);
            Ok(positions
                .take(rows, generation)
                .expect("a block just drawn for the batch holds it"))
        }
        Err(e) => {
            positions.not_drawn();
            Err(e)
        }
    }
}

/// The commits waiting for a writer, and how many writers wait for them.
struct Jobs {
    queue: tokio::sync::Mutex<mpsc::Receiver<Job>>,
    free: AtomicUsize,
}

/// How a writer gathers a batch: up to `max` commits, waiting at most `delay` for company.
#[derive(Clone, Copy)]
struct Batching {
    max: usize,
    delay: Duration,
}

async fn write_loop(
    db: Database,
    cluster: Option<Arc<Cluster>>,
    stored: Arc<StoredOrders>,
    jobs: Arc<Jobs>,
    positions: Shared,
    recent: Option<Arc<Recent>>,
    batching: Batching,
) {
    let engine = db.engine_connection();
    loop {
        // Collect a batch holding the queue; write it after letting go, so the next writer can
        // collect the next batch meanwhile.
        jobs.free.fetch_add(1, Ordering::Relaxed);
        let mut queue = jobs.queue.lock().await;
        jobs.free.fetch_sub(1, Ordering::Relaxed);
        let Some(first) = queue.recv().await else {
            break;
        };
        let mut batch = vec![first];
        let most = share(
            queue.len() + 1,
            jobs.free.load(Ordering::Relaxed),
            batching.max,
        );
        let deadline = tokio::time::Instant::now() + batching.delay;
        while batch.len() < most {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(mpsc::error::TryRecvError::Disconnected) => break,
                Err(mpsc::error::TryRecvError::Empty) => {
                    match tokio::time::timeout_at(deadline, queue.recv()).await {
                        Ok(Some(job)) => batch.push(job),
                        _ => break,
                    }
                }
            }
        }
        // A cluster node presents the epochs it holds now, read before the generation: a slot
        // taken since the block was drawn makes the batch draw a fresh one.
        let (fence, generation) = match cluster.as_deref() {
            Some(cluster) => {
                let fence = fence_of(&cluster.membership, &batch);
                (Some(fence), cluster.membership.generation())
            }
            None => (None, 0),
        };
        if fence.as_ref().is_some_and(|f| f.held.is_empty()) {
            drop(queue);
            for job in batch {
                let slot = job.commit.order.id.slot();
                counter!(CLUSTER_FENCED_COMMITS_TOTAL).increment(1);
                let _ = job.reply.send(Err(Error::NotOwner { slot }));
            }
            continue;
        }
        // Positions are handed out while the queue is held, so batches take them in turn.
        let rows: i64 = batch.iter().map(|j| rows_of(&j.commit)).sum();
        let start = match take(&db, cluster.as_deref(), &positions, rows, generation).await {
            Ok(start) => start,
            Err(e) => {
                drop(queue);
                tracing::error!(error = %e, "journal cannot draw log positions");
                let failed = Arc::new(DbErr::Custom(e.to_string()));
                for job in batch {
                    let _ = job.reply.send(Err(Error::Write(failed.clone())));
                }
                continue;
            }
        };
        drop(queue);
        stored.note(batch.iter().map(|job| &job.commit.order.id));
        let started = Instant::now();
        let at = chrono::Utc::now().fixed_offset();
        let size = batch.len();
        let mut next = start;
        let (placed, replies): (Vec<Placed>, Vec<_>) = batch
            .into_iter()
            .map(|j| {
                let position = next;
                next += rows_of(&j.commit);
                (Placed::new(j.commit, position), j.reply)
            })
            .collect();
        let outcomes = match write(&db, &engine, &placed, fence.as_ref()).await {
            Ok(outcomes) => outcomes,
            // One bad commit must not sink the others: retry each on its own (at the positions
            // it was given, which no other batch holds).
            Err(batch_error) if size > 1 => {
                tracing::warn!(error = %batch_error, size, "batch failed; retrying one by one");
                let mut each = Vec::with_capacity(size);
                for one in &placed {
                    each.push(
                        match write(&db, &engine, std::slice::from_ref(one), fence.as_ref()).await {
                            Ok(mut outcome) => outcome.remove(0),
                            Err(e) => Err(Error::Write(e.into())),
                        },
                    );
                }
                each
            }
            Err(e) => {
                tracing::error!(error = %e, "journal write failed");
                vec![Err(Error::Write(e.into()))]
            }
        };
        // The traces are handed on before the watermark moves: a reader woken by it finds them.
        for (placed, outcome) in placed.iter().zip(&outcomes) {
            if let (Some(trace), Ok(Written::Committed)) = (&placed.trace, outcome) {
                let rows = placed.position..placed.position + rows_of(&placed.commit);
                crate::telemetry::traces::carry(rows, trace);
            }
        }
        // The readers' copy of the rows goes in before the watermark moves past them.
        if let Some(recent) = &recent {
            let committed = placed
                .into_iter()
                .zip(&outcomes)
                .filter(|(_, outcome)| matches!(outcome, Ok(Written::Committed)))
                .map(|(placed, _)| placed);
            recent.record(committed, at);
        }
        lock(&positions).settle(start);
        histogram!(JOURNAL_BATCH_SIZE).record(size as f64);
        histogram!(JOURNAL_COMMIT_SECONDS).record(started.elapsed().as_secs_f64());
        for (reply, outcome) in replies.into_iter().zip(outcomes) {
            // A waiter that gave up (timeout) no longer cares; the write stands.
            let _ = reply.send(outcome);
        }
    }
    engine.close().await;
}

/// The slots of `batch` this node holds, at the epochs it holds them.
fn fence_of(membership: &Membership, batch: &[Job]) -> postgres::Fence {
    let mut slots: Vec<i16> = batch.iter().map(|j| j.commit.order.id.slot()).collect();
    slots.sort_unstable();
    slots.dedup();
    postgres::Fence {
        node: membership.node_id().to_owned(),
        held: slots
            .into_iter()
            .filter_map(|slot| membership.epoch(slot).map(|epoch| (slot, epoch)))
            .collect(),
    }
}

/// Writes one batch atomically; returns each commit's outcome, in order. With a `fence`, the
/// commits of slots it does not present are written nowhere (answered `NotOwner`), nor those
/// of slots the database no longer gives this node at the epoch presented.
async fn write(
    db: &Database,
    engine: &EngineConnection,
    placed: &[Placed],
    fence: Option<&postgres::Fence>,
) -> Result<Vec<Result<Written, Error>>, sea_orm::DbErr> {
    // The first commit of a key in the batch is the one written; any other is a duplicate.
    // Sized for the batch and hashed with foldhash: grown from empty, it was rehashed several
    // times in every batch, and hashed each key with SipHash (docs/PERFORMANCE.md, session 55).
    let mut keys =
        HashSet::with_capacity_and_hasher(placed.len(), foldhash::fast::RandomState::default());
    let first: Vec<bool> = placed
        .iter()
        .map(|c| c.inbox.as_ref().is_none_or(|e| keys.insert(&e.dedupe_key)))
        .collect();
    let held_here = |c: &Placed| {
        let slot = c.order.id.slot();
        fence.is_none_or(|f| f.held.iter().any(|(held, _)| *held == slot))
    };
    let candidates: Vec<&Placed> = placed
        .iter()
        .zip(&first)
        .filter_map(|(c, first)| (*first && held_here(c)).then_some(c))
        .collect();
    let batch = match db.backend() {
        Backend::Postgres => {
            let slots = slots_of(&candidates);
            let fence = fence.map(|f| postgres::Fence {
                node: f.node.clone(),
                held: f
                    .held
                    .iter()
                    .copied()
                    .filter(|(slot, _)| slots.contains(slot))
                    .collect(),
            });
            write_postgres(engine, &candidates, fence.as_ref()).await?
        }
        Backend::Sqlite => postgres::Batch {
            seen: write_sqlite(db, &candidates).await?,
            held: None,
        },
    };
    Ok(placed
        .iter()
        .zip(first)
        .map(|(c, first)| {
            let slot = c.order.id.slot();
            match &c.inbox {
                Some(_) if !first => Ok(Written::Duplicate),
                _ if !held_here(c) || batch.held.as_ref().is_some_and(|h| !h.contains(&slot)) => {
                    counter!(CLUSTER_FENCED_COMMITS_TOTAL).increment(1);
                    Err(Error::NotOwner { slot })
                }
                Some(entry) if batch.seen.contains(entry.dedupe_key.as_str()) => {
                    Ok(Written::Duplicate)
                }
                _ => Ok(Written::Committed),
            }
        })
        .collect())
}

/// The distinct slots of `placed`.
fn slots_of(placed: &[&Placed]) -> Vec<i16> {
    let mut slots: Vec<i16> = placed.iter().map(|c| c.order.id.slot()).collect();
    slots.sort_unstable();
    slots.dedup();
    slots
}

/// The commits whose key was not seen before, and the commands (which have none).
fn fresh<'a>(placed: &[&'a Placed], seen: &HashSet<String>) -> Vec<&'a Placed> {
    placed
        .iter()
        .copied()
        .filter(|c| {
            c.inbox
                .as_ref()
                .is_none_or(|e| !seen.contains(e.dedupe_key.as_str()))
        })
        .collect()
}

/// The commits that recorded events (only they move their order's snapshot).
fn with_events<'a>(placed: &[&'a Placed]) -> Vec<&'a Commit> {
    placed
        .iter()
        .filter(|c| !c.applied.is_empty())
        .map(|c| &c.commit)
        .collect()
}

/// SQLite: one transaction, one statement per table (see `json_rows`); returns the keys that
/// were already recorded.
async fn write_sqlite(db: &Database, placed: &[&Placed]) -> Result<HashSet<String>, DbErr> {
    let txn = db.begin_write().await?;
    let seen = sqlite::seen_keys(&txn, placed).await?;
    let fresh = fresh(placed, &seen);
    sqlite::insert_key_rows(&txn, &fresh).await?;
    sqlite::insert_log(&txn, &log_rows(&fresh)?).await?;
    let kept = with_events(&fresh);
    let snapshots = Snapshots::of(&kept);
    sqlite::upsert_narrow(&txn, &snapshots.narrow).await?;
    snapshot::upsert_wide(&txn, &snapshots.wide).await?;
    snapshot::replace_items(&txn, &kept).await?;
    annotations::write(&txn, &kept).await?;
    txn.commit().await?;
    Ok(seen)
}

/// PostgreSQL: one statement (see `postgres`), plus a transaction around it (on the writer's
/// own connection) only when a detail changed (the wide snapshot columns and the line items) or
/// a command tagged or prioritised; returns the keys that were already recorded and, fenced,
/// the slots still held.
async fn write_postgres(
    engine: &EngineConnection,
    placed: &[&Placed],
    fence: Option<&postgres::Fence>,
) -> Result<postgres::Batch, DbErr> {
    let recorded = with_events(placed);
    let snapshots = Snapshots::of(&recorded);
    if snapshots.wide.is_empty() && !annotations::any(&recorded) {
        return postgres::write_batch(engine, placed, &snapshots.narrow, fence).await;
    }
    let txn = engine.begin().await?;
    let written = async {
        let batch = postgres::write_batch(&txn, placed, &snapshots.narrow, fence).await?;
        let written: Vec<&Placed> = fresh(placed, &batch.seen)
            .into_iter()
            .filter(|c| {
                batch
                    .held
                    .as_ref()
                    .is_none_or(|h| h.contains(&c.order.id.slot()))
            })
            .collect();
        let kept = with_events(&written);
        snapshot::upsert_wide(&txn, &Snapshots::of(&kept).wide).await?;
        snapshot::replace_items(&txn, &kept).await?;
        annotations::write(&txn, &kept).await?;
        Ok(batch)
    }
    .await;
    match written {
        Ok(batch) => txn.end(true).await.map(|()| batch),
        Err(e) => {
            // The batch's own error says what went wrong; a failed rollback closes the
            // connection, which rolls back as well.
            let _ = txn.end(false).await;
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{SHARE_FLOOR, share};

    #[test]
    fn a_lone_free_writer_takes_all_it_may() {
        assert_eq!(share(1000, 0, 512), 512);
        assert_eq!(
            share(10, 0, 512),
            512,
            "and waits for more if it is told to wait"
        );
    }

    #[test]
    fn free_writers_split_a_long_queue_evenly() {
        assert_eq!(share(300, 1, 512), 150);
        assert_eq!(share(301, 2, 512), 101);
        assert_eq!(share(3000, 3, 512), 512, "never more than max_batch");
    }

    #[test]
    fn a_short_queue_is_not_split_below_the_floor() {
        assert_eq!(share(60, 3, 512), SHARE_FLOOR);
        assert_eq!(share(20, 3, 512), SHARE_FLOOR, "a short queue goes whole");
        assert_eq!(share(60, 3, 16), 16, "a smaller max_batch still bounds it");
    }
}
