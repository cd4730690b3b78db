//! The journal: group commit of order changes into the log.
//!
//! Actors hand it a [`Commit`] (audit events, the new snapshot, the dedupe key of the message,
//! the effects) and wait. One writer task takes whatever is queued, up to `journal.max_batch`,
//! waiting at most `journal.max_delay` for company, and writes it all at once; then it answers
//! every waiter. Nothing is acknowledged before its commit. While one batch commits the next one
//! queues, so under load batches grow by themselves and the cost of a commit is shared.
//!
//! **The journal is the log.** Every event row gets a position, handed out here when its batch
//! is formed, and the slot of its order. A commit's last row carries the dedupe key of the
//! delivery that caused it and the commit's effects; effects are never separate rows. A
//! delivery that records no event but asks for work writes one row without a sequence number;
//! one that changes nothing at all leaves only its key, in `webhook_inbox`.
//!
//! Several batches may be in flight at once (PostgreSQL), so positions can commit out of order.
//! The journal knows which batches are in flight and publishes a **watermark**
//! ([`Journal::committed`]): every position at or below it is settled (committed, or never
//! will be). Subscriptions read only up to it, so none skips an event that commits late with a
//! smaller position. Positions start after the log's largest at start-up; one process writes a
//! log (a cluster has to hand out position blocks from a shared sequence instead).

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use metrics::histogram;
use tokio::sync::{mpsc, oneshot, watch};

use sea_orm::DbErr;

use super::annotations;
use super::commit::{Commit, Placed, Written, log_rows, rows_of};
use super::snapshot::{self, Snapshots};
use super::{postgres, sqlite};
use crate::cluster::Membership;
use crate::config::Backend;
use crate::persistence::Database;
use crate::telemetry::metrics::{JOURNAL_BATCH_SIZE, JOURNAL_COMMIT_SECONDS};

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

/// Handle to the writer task. Cheap to clone.
#[derive(Clone)]
pub struct Journal {
    queue: mpsc::Sender<Job>,
    committed: watch::Receiver<i64>,
}

/// Positions handed out and the batches still being written, shared by the writers.
struct Positions {
    /// The next position to hand out.
    next: i64,
    /// The first position of every batch being written, with how many batches start there (a
    /// batch that writes no row starts where the next one does).
    in_flight: BTreeMap<i64, usize>,
    /// The watermark, published after every batch.
    committed: watch::Sender<i64>,
}

impl Positions {
    /// Hands out `rows` positions to a batch about to be written; returns the first.
    fn take(&mut self, rows: i64) -> i64 {
        let first = self.next;
        self.next += rows;
        *self.in_flight.entry(first).or_default() += 1;
        first
    }

    /// The batch that started at `first` is written (or failed for good): below the oldest
    /// batch still in flight, everything is settled.
    fn settle(&mut self, first: i64) {
        if let Some(count) = self.in_flight.get_mut(&first) {
            *count -= 1;
            if *count == 0 {
                self.in_flight.remove(&first);
            }
        }
        let watermark = match self.in_flight.first_key_value() {
            Some((oldest, _)) => oldest - 1,
            None => self.next - 1,
        };
        self.committed.send_if_modified(|w| {
            let moved = watermark > *w;
            if moved {
                *w = watermark;
            }
            moved
        });
    }
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
    /// [`Error::NotOwner`].
    pub async fn start_fenced(
        db: Database,
        max_batch: usize,
        max_delay: Duration,
        writers: usize,
        fence: Option<Membership>,
    ) -> Result<Self, crate::persistence::Error> {
        let end = db.log().end().await?;
        let (committed_tx, committed) = watch::channel(end);
        let positions = Arc::new(Mutex::new(Positions {
            next: end + 1,
            in_flight: BTreeMap::new(),
            committed: committed_tx,
        }));
        let (queue, jobs) = mpsc::channel(QUEUE_DEPTH);
        let jobs = Arc::new(tokio::sync::Mutex::new(jobs));
        // The writers get a thread of their own: building a batch's statements must not wait
        // behind whatever else shares a runtime thread (HTTP, actors, a load generator).
        std::thread::Builder::new()
            .name("journal".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a current-thread runtime can be built");
                runtime.block_on(async move {
                    let writers: Vec<_> = (0..writers.max(1))
                        .map(|_| {
                            tokio::spawn(write_loop(
                                db.clone(),
                                fence.clone(),
                                jobs.clone(),
                                positions.clone(),
                                max_batch.max(1),
                                max_delay,
                            ))
                        })
                        .collect();
                    for writer in writers {
                        let _ = writer.await;
                    }
                });
            })
            .expect("spawning the journal thread at start-up succeeds");
        Ok(Self { queue, committed })
    }

    /// Writes `commit` in the next batch and returns once it is durable (or known a duplicate).
    pub async fn commit(&self, commit: Commit) -> Result<Written, Error> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Job { commit, reply })
            .await
            .map_err(|_| Error::Stopped)?;
        answer.await.map_err(|_| Error::Stopped)?
    }

    /// The watermark: every log position at or below it is settled. It changes after each
    /// batch; subscriptions wait on it.
    pub fn committed(&self) -> watch::Receiver<i64> {
        self.committed.clone()
    }
}

async fn write_loop(
    db: Database,
    fence: Option<Membership>,
    jobs: Arc<tokio::sync::Mutex<mpsc::Receiver<Job>>>,
    positions: Arc<Mutex<Positions>>,
    max_batch: usize,
    max_delay: Duration,
) {
    loop {
        // Collect a batch holding the queue; write it after letting go, so the next writer can
        // collect the next batch meanwhile.
        let mut jobs = jobs.lock().await;
        let Some(first) = jobs.recv().await else {
            break;
        };
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + max_delay;
        while batch.len() < max_batch {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(mpsc::error::TryRecvError::Disconnected) => break,
                Err(mpsc::error::TryRecvError::Empty) => {
                    match tokio::time::timeout_at(deadline, jobs.recv()).await {
                        Ok(Some(job)) => batch.push(job),
                        _ => break,
                    }
                }
            }
        }
        // Positions are handed out while the queue is held, so batches take them in turn.
        let rows: i64 = batch.iter().map(|j| rows_of(&j.commit)).sum();
        let start = positions
            .lock()
            .expect("the positions lock is never held across a panic")
            .take(rows);
        drop(jobs);
        let started = Instant::now();
        let size = batch.len();
        let mut next = start;
        let (placed, replies): (Vec<Placed>, Vec<_>) = batch
            .into_iter()
            .map(|j| {
                let position = next;
                next += rows_of(&j.commit);
                (
                    Placed {
                        commit: j.commit,
                        position,
                    },
                    j.reply,
                )
            })
            .collect();
        let outcomes = match write(&db, &placed, fence.as_ref()).await {
            Ok(outcomes) => outcomes,
            // One bad commit must not sink the others: retry each on its own (at the positions
            // it was given, which no other batch holds).
            Err(batch_error) if size > 1 => {
                tracing::warn!(error = %batch_error, size, "batch failed; retrying one by one");
                let mut each = Vec::with_capacity(size);
                for one in &placed {
                    each.push(
                        match write(&db, std::slice::from_ref(one), fence.as_ref()).await {
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
        positions
            .lock()
            .expect("the positions lock is never held across a panic")
            .settle(start);
        histogram!(JOURNAL_BATCH_SIZE).record(size as f64);
        histogram!(JOURNAL_COMMIT_SECONDS).record(started.elapsed().as_secs_f64());
        for (placed, outcome) in placed.iter().zip(&outcomes) {
            if let (Some(trace), Ok(Written::Committed)) = (&placed.trace, outcome) {
                let rows = placed.position..placed.position + rows_of(&placed.commit);
                crate::telemetry::traces::carry(rows, trace);
            }
        }
        for (reply, outcome) in replies.into_iter().zip(outcomes) {
            // A waiter that gave up (timeout) no longer cares; the write stands.
            let _ = reply.send(outcome);
        }
    }
}

/// Writes one batch atomically; returns each commit's outcome, in order. With a `fence`, the
/// commits of slots this node does not hold are written nowhere (answered `NotOwner`).
async fn write(
    db: &Database,
    placed: &[Placed],
    fence: Option<&Membership>,
) -> Result<Vec<Result<Written, Error>>, sea_orm::DbErr> {
    // The first commit of a key in the batch is the one written; any other is a duplicate.
    let mut keys = HashSet::new();
    let first: Vec<bool> = placed
        .iter()
        .map(|c| c.inbox.as_ref().is_none_or(|e| keys.insert(&e.dedupe_key)))
        .collect();
    let held_here = |c: &Placed| fence.is_none_or(|f| f.epoch(c.order.id.slot()).is_some());
    let candidates: Vec<&Placed> = placed
        .iter()
        .zip(&first)
        .filter_map(|(c, first)| (*first && held_here(c)).then_some(c))
        .collect();
    let batch = match db.backend() {
        Backend::Postgres => {
            let fence = fence.map(|f| postgres::Fence {
                node: f.node_id().to_owned(),
                held: slots_of(&candidates)
                    .into_iter()
                    .filter_map(|slot| f.epoch(slot).map(|epoch| (slot, epoch)))
                    .collect(),
            });
            write_postgres(db, &candidates, fence.as_ref()).await?
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
                    Err(Error::NotOwner { slot })
                }
                Some(entry) if batch.seen.contains(&entry.dedupe_key) => Ok(Written::Duplicate),
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
                .is_none_or(|e| !seen.contains(&e.dedupe_key))
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

/// PostgreSQL: one statement (see `postgres`), plus a transaction around it only when a detail
/// changed (the wide snapshot columns and the line items) or a command tagged or prioritised;
/// returns the keys that were already recorded and, fenced, the slots still held.
async fn write_postgres(
    db: &Database,
    placed: &[&Placed],
    fence: Option<&postgres::Fence>,
) -> Result<postgres::Batch, DbErr> {
    let recorded = with_events(placed);
    let snapshots = Snapshots::of(&recorded);
    if snapshots.wide.is_empty() && !annotations::any(&recorded) {
        return postgres::write_batch(&db.conn, placed, &snapshots.narrow, fence).await;
    }
    let txn = db.begin_write().await?;
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
    txn.commit().await?;
    Ok(batch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn positions(end: i64) -> (Positions, watch::Receiver<i64>) {
        let (committed, watermark) = watch::channel(end);
        let positions = Positions {
            next: end + 1,
            in_flight: BTreeMap::new(),
            committed,
        };
        (positions, watermark)
    }

    #[test]
    fn the_watermark_waits_for_a_batch_that_commits_late_with_smaller_positions() {
        let (mut p, watermark) = positions(10);
        let early = p.take(3); // 11..=13
        let late = p.take(2); // 14..=15
        assert_eq!((early, late), (11, 14));
        // The later batch commits first: nothing past 10 is settled yet.
        p.settle(late);
        assert_eq!(*watermark.borrow(), 10);
        p.settle(early);
        assert_eq!(*watermark.borrow(), 15);
    }

    #[test]
    fn a_batch_that_writes_nothing_does_not_release_the_batch_sharing_its_start() {
        let (mut p, watermark) = positions(0);
        let empty = p.take(0);
        let full = p.take(4);
        assert_eq!(empty, full, "both start at 1");
        p.settle(empty);
        assert_eq!(*watermark.borrow(), 0, "the full batch is still in flight");
        p.settle(full);
        assert_eq!(*watermark.borrow(), 4);
    }
}
