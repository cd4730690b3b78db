//! The journal: group commit of order changes.
//!
//! Actors hand it a [`Commit`] (audit events, the new snapshot, the inbox row that dedupes the
//! message, the outbox rows of its effects) and wait. One writer task takes whatever is queued,
//! up to `journal.max_batch`, waiting at most `journal.max_delay` for company, and writes it all
//! in one transaction with a few multi-row statements; then it answers every waiter. Nothing is
//! acknowledged before its commit. While one batch commits the next one queues, so under load
//! batches grow by themselves and the cost of a commit (an fsync) is shared.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use metrics::histogram;
use tokio::sync::{mpsc, oneshot};

use sea_orm::DbErr;

use super::orders::{self, Snapshots};
use super::{Database, json_rows, unnest};
use crate::config::Backend;
use crate::domain::{Applied, Effect, Order};
use crate::telemetry::metrics::{JOURNAL_BATCH_SIZE, JOURNAL_COMMIT_SECONDS};

/// Commits queued beyond this many wait in their actors (backpressure), not in memory here.
const QUEUE_DEPTH: usize = 8192;

/// One actor's change to one order.
#[derive(Debug, Clone)]
pub struct Commit {
    /// The order after the change.
    pub order: Order,
    /// The events of the change, with their sequence numbers.
    pub applied: Vec<Applied>,
    /// `webhook:<id>`, `poll`, `user:<key>`, `rule:<workflow/step>`, `integration:<name>`.
    pub cause: String,
    /// Dedupe row for a message from outside; `None` for commands.
    pub inbox: Option<InboxEntry>,
    pub effects: Vec<Effect>,
}

#[derive(Debug, Clone)]
pub struct InboxEntry {
    pub dedupe_key: String,
    pub event_type: i32,
}

/// What happened to a commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Written and durable.
    Committed,
    /// Its dedupe key was already in the inbox: nothing was written.
    Duplicate,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the journal is stopped")]
    Stopped,
    #[error("the journal could not write")]
    Write(#[source] std::sync::Arc<sea_orm::DbErr>),
}

/// Handle to the writer task. Cheap to clone.
#[derive(Clone)]
pub struct Journal {
    queue: mpsc::Sender<Job>,
}

struct Job {
    commit: Commit,
    reply: oneshot::Sender<Result<Outcome, Error>>,
}

impl Journal {
    /// Starts `writers` writer tasks on the current runtime. They end when every handle is
    /// dropped, after writing what was queued. Several writers overlap transactions, which
    /// PostgreSQL turns into throughput; SQLite has one writer at a time, so one is enough there.
    /// Concurrent batches never hold two commits of one order: an order's actor waits for its
    /// commit before it sends the next.
    pub fn start(db: Database, max_batch: usize, max_delay: Duration, writers: usize) -> Self {
        let (queue, jobs) = mpsc::channel(QUEUE_DEPTH);
        let jobs = std::sync::Arc::new(tokio::sync::Mutex::new(jobs));
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
                                jobs.clone(),
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
        Self { queue }
    }

    /// Writes `commit` in the next batch and returns once it is durable (or known a duplicate).
    pub async fn commit(&self, commit: Commit) -> Result<Outcome, Error> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Job { commit, reply })
            .await
            .map_err(|_| Error::Stopped)?;
        answer.await.map_err(|_| Error::Stopped)?
    }
}

async fn write_loop(
    db: Database,
    jobs: std::sync::Arc<tokio::sync::Mutex<mpsc::Receiver<Job>>>,
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
        drop(jobs);
        let started = Instant::now();
        let size = batch.len();
        let (commits, replies): (Vec<Commit>, Vec<_>) =
            batch.into_iter().map(|j| (j.commit, j.reply)).unzip();
        let outcomes = match write(&db, &commits).await {
            Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
            // One bad commit must not sink the others: retry each on its own.
            Err(batch_error) if size > 1 => {
                tracing::warn!(error = %batch_error, size, "batch failed; retrying one by one");
                let mut each = Vec::with_capacity(size);
                for commit in &commits {
                    each.push(
                        write(&db, std::slice::from_ref(commit))
                            .await
                            .map(|mut o| o.remove(0))
                            .map_err(|e| Error::Write(e.into())),
                    );
                }
                each
            }
            Err(e) => {
                tracing::error!(error = %e, "journal write failed");
                vec![Err(Error::Write(e.into()))]
            }
        };
        histogram!(JOURNAL_BATCH_SIZE).record(size as f64);
        histogram!(JOURNAL_COMMIT_SECONDS).record(started.elapsed().as_secs_f64());
        for (reply, outcome) in replies.into_iter().zip(outcomes) {
            // A waiter that gave up (timeout) no longer cares; the write stands.
            let _ = reply.send(outcome);
        }
    }
}

/// Writes one batch atomically; returns each commit's outcome, in order.
async fn write(db: &Database, commits: &[Commit]) -> Result<Vec<Outcome>, sea_orm::DbErr> {
    // The first commit of a key in the batch is the one written; any other is a duplicate.
    let mut keys = HashSet::new();
    let first: Vec<bool> = commits
        .iter()
        .map(|c| c.inbox.as_ref().is_none_or(|e| keys.insert(&e.dedupe_key)))
        .collect();
    let candidates: Vec<&Commit> = commits
        .iter()
        .zip(&first)
        .filter_map(|(c, first)| first.then_some(c))
        .collect();
    let inserted = match db.backend() {
        Backend::Postgres => write_postgres(db, &candidates).await?,
        Backend::Sqlite => write_sqlite(db, &candidates).await?,
    };
    Ok(commits
        .iter()
        .zip(first)
        .map(|(c, first)| match &c.inbox {
            Some(entry) if !first || !inserted.contains(&entry.dedupe_key) => Outcome::Duplicate,
            _ => Outcome::Committed,
        })
        .collect())
}

/// The commits whose inbox key was new, and the commands (which have none).
fn fresh<'a>(commits: &[&'a Commit], inserted: &HashSet<String>) -> Vec<&'a Commit> {
    commits
        .iter()
        .copied()
        .filter(|c| {
            c.inbox
                .as_ref()
                .is_none_or(|e| inserted.contains(&e.dedupe_key))
        })
        .collect()
}

/// The commits that recorded events (the others only remember their inbox key).
fn with_events<'a>(commits: &[&'a Commit]) -> Vec<&'a Commit> {
    commits
        .iter()
        .copied()
        .filter(|c| !c.applied.is_empty())
        .collect()
}

/// SQLite: one transaction, one statement per table (see `json_rows`); returns the inbox keys
/// inserted.
async fn write_sqlite(db: &Database, commits: &[&Commit]) -> Result<HashSet<String>, DbErr> {
    let txn = db.begin_write().await?;
    let inserted = json_rows::insert_inbox(&txn, commits).await?;
    // Effects stand on their own: an address change records no event but must still fetch.
    let fresh = fresh(commits, &inserted);
    // Commits with no events only record their inbox row.
    let kept = with_events(&fresh);
    let snapshots = Snapshots::of(&kept);
    json_rows::insert_events(&txn, &kept).await?;
    json_rows::upsert_narrow(&txn, &snapshots.narrow).await?;
    orders::upsert_wide(&txn, &snapshots.wide).await?;
    orders::replace_items(&txn, &kept).await?;
    json_rows::insert_outbox(&txn, &fresh).await?;
    txn.commit().await?;
    Ok(inserted)
}

/// PostgreSQL: one statement (see `unnest`), plus a transaction around it only when a detail
/// changed (the wide snapshot columns and the line items); returns the inbox keys inserted.
async fn write_postgres(db: &Database, commits: &[&Commit]) -> Result<HashSet<String>, DbErr> {
    let with_events = with_events(commits);
    let snapshots = Snapshots::of(&with_events);
    if snapshots.wide.is_empty() {
        return unnest::write_batch(&db.conn, commits, &snapshots.narrow).await;
    }
    let txn = db.begin_write().await?;
    let inserted = unnest::write_batch(&txn, commits, &snapshots.narrow).await?;
    let kept = fresh(&with_events, &inserted);
    orders::upsert_wide(&txn, &Snapshots::of(&kept).wide).await?;
    orders::replace_items(&txn, &kept).await?;
    txn.commit().await?;
    Ok(inserted)
}
