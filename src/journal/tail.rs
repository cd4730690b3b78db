//! Following the log: subscriptions instead of outbox rows.
//!
//! Every consumer of what orders do (the relay to the bus, the detail fetcher, the workflow
//! starter) is a [`Tail`]: it reads the log's rows that carry effects, in position order, after
//! its own durable checkpoint, and only up to the journal's watermark (every position at or below
//! it is settled), so it never skips an event that commits late with a smaller position. The
//! journal wakes it after each commit (a `watch` on the watermark); after a restart it resumes
//! from its checkpoint. It reads the rows the journal just wrote from memory
//! ([`super::recent`]) when they are all held, else from the database ([`super::log`]).
//!
//! A checkpoint is a row per (subscription, slot), saved at most once a second (also when the
//! log goes quiet), and when stopped: a crash repeats at most that second of effects, which every consumer
//! tolerates (its effect is idempotent by message id or its own key), and a busy log costs one
//! small write a second per subscription instead of one per entry. A single node reads every
//! slot. A node of a cluster reads only the slots it holds, each from its own checkpoint (a slot
//! it takes resumes where its last owner saved), and saves a slot's checkpoint only while the
//! lease row still names it at the epoch it holds: a node that lost a slot cannot move it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::log::Entry;
use super::recent::Recent;
use crate::cluster::Membership;
use crate::domain::SLOTS;
use crate::persistence::{Database, EngineConnection, Error};

/// How often a busy subscription writes its checkpoint.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// What a subscription does with what it reads: the log's entries, and — once a second — the
/// outbox rows it also works off (work it parked, or rows owed from before the log).
pub trait Consumer {
    /// Handles the entries of one read; the tail moves past them once this succeeds.
    fn consume(&mut self, entries: &[Entry]) -> impl Future<Output = Result<(), Error>> + Send;
    /// The outbox's rows for this subscription.
    fn owed(&mut self) -> impl Future<Output = Result<(), Error>> + Send;
}

/// What a [`Tail`] read: the entries with effects, and the position they reach (everything up to
/// it was read, entries without effects included).
#[derive(Debug)]
pub struct Batch {
    pub entries: Vec<Entry>,
    pub upto: i64,
}

/// The journal's watermark as the log's readers follow it and, on a node of a cluster, the
/// slots that node holds (its tails read only those).
#[derive(Clone)]
pub struct Watermark {
    receiver: watch::Receiver<i64>,
    fence: Option<Membership>,
    /// The rows this node's journal just wrote.
    recent: Option<Arc<Recent>>,
}

impl Watermark {
    pub(crate) fn new(
        receiver: watch::Receiver<i64>,
        fence: Option<Membership>,
        recent: Option<Arc<Recent>>,
    ) -> Self {
        Self {
            receiver,
            fence,
            recent,
        }
    }

    /// The rows this node's journal just wrote, held for the log's readers.
    pub fn recent(&self) -> Option<&Arc<Recent>> {
        self.recent.as_ref()
    }

    /// To wait on: every position at or below its value is settled.
    pub fn receiver(&self) -> watch::Receiver<i64> {
        self.receiver.clone()
    }

    /// Its value now.
    pub fn now(&self) -> i64 {
        *self.receiver.borrow()
    }

    /// A cluster node's membership (the slots it holds); `None` on a single node.
    pub fn fence(&self) -> Option<&Membership> {
        self.fence.as_ref()
    }
}

/// One subscription's reader of the log.
pub struct Tail {
    db: Database,
    /// Where it reads the log when `recent` does not hold the rows: a connection that never
    /// plans a sequential scan (the read is a range of positions, and a plan made while the
    /// table's statistics were stale scanned and sorted it: 54 ms for 5,000 rows, not 2).
    reads: EngineConnection,
    name: &'static str,
    /// The journal's watermark.
    committed: watch::Receiver<i64>,
    /// A cluster node's membership: the tail reads only the slots it holds.
    fence: Option<Membership>,
    /// The rows the journal just wrote, read instead of the database when it holds them.
    recent: Option<Arc<Recent>>,
    /// Per slot: every row after this position is this node's own, so in `recent` (a single
    /// node: 0; a cluster node: the log's head when it took the slot, less one).
    own_after: Vec<i64>,
    /// Per slot: everything at or below has been handled (kept up for the slots read).
    positions: Vec<i64>,
    /// Per slot: the checkpoint as stored.
    saved: Vec<i64>,
    /// The slots read, with the epochs they were held at (every slot, at 0, on a single node).
    reading: Vec<(i16, i64)>,
    /// The membership's generation when `reading` was taken.
    generation: u64,
    saved_at: Instant,
    /// The least time between two reads that found the tail caught up (see [`Tail::every`]).
    every: Duration,
    /// When the tail last read everything there was.
    caught_up_at: Option<tokio::time::Instant>,
}

impl Tail {
    /// Opens subscription `name` at its checkpoints.
    pub async fn open(
        db: Database,
        name: &'static str,
        watermark: Watermark,
    ) -> Result<Self, Error> {
        let mut tail = Self {
            reads: db.engine_connection(),
            db,
            name,
            committed: watermark.receiver,
            fence: watermark.fence,
            recent: watermark.recent,
            own_after: vec![0; SLOTS as usize],
            positions: vec![0; SLOTS as usize],
            saved: vec![0; SLOTS as usize],
            reading: Vec::new(),
            generation: 0,
            saved_at: Instant::now(),
            every: Duration::ZERO,
            caught_up_at: None,
        };
        if tail.fence.is_none() {
            tail.reading = (0..SLOTS as i16).map(|slot| (slot, 0)).collect();
            let all: Vec<i16> = (0..SLOTS as i16).collect();
            tail.load(&all).await?;
        } else {
            tail.refresh().await?;
        }
        Ok(tail)
    }

    /// Reads the checkpoints of `slots` as stored.
    async fn load(&mut self, slots: &[i16]) -> Result<(), Error> {
        if slots.is_empty() {
            return Ok(());
        }
        for (slot, at) in self.db.log().slot_checkpoints(self.name, slots).await? {
            self.positions[slot as usize] = at;
            self.saved[slot as usize] = at;
        }
        Ok(())
    }

    /// A cluster node: reads the slots held now; a slot taken since the last read resumes at
    /// its checkpoint as its last owner saved it.
    async fn refresh(&mut self) -> Result<(), Error> {
        let Some(fence) = &self.fence else {
            return Ok(());
        };
        // The generation first: a slot taken after it is read wakes the tail again.
        let generation = fence.generation();
        let held = fence.held();
        let taken: Vec<i16> = held
            .iter()
            .filter(|h| !self.reading.contains(h))
            .map(|(slot, _)| *slot)
            .collect();
        if !taken.is_empty() {
            // Read after the slot was taken: its earlier owners wrote below it.
            let head = self.db.cluster().head().await?;
            for slot in &taken {
                self.own_after[*slot as usize] = head - 1;
            }
        }
        self.load(&taken).await?;
        self.reading = held;
        self.generation = generation;
        Ok(())
    }

    /// Reads at most once per `every` while it keeps up: the commits of that time are read
    /// together, as the journal writes them together. Without it a busy journal wakes the tail
    /// after every batch, and each wake is a query (and the consumer's own writes, each a
    /// durable commit). A tail that is behind reads again at once.
    pub fn every(mut self, every: Duration) -> Self {
        self.every = every;
        self
    }

    /// Opens subscription `name`, reading at most once per `every` (see [`Tail::every`]),
    /// trying again every second while the database cannot say where it stands; `None` if told
    /// to stop first.
    pub async fn open_or_stop(
        db: &Database,
        name: &'static str,
        watermark: &Watermark,
        every: Duration,
        stop: &mut crate::shutdown::Stop,
    ) -> Option<Self> {
        loop {
            match Self::open(db.clone(), name, watermark.clone()).await {
                Ok(tail) => return Some(tail.every(every)),
                Err(e) => {
                    tracing::warn!(subscription = name, error = %e, "cannot read the subscription's checkpoint");
                    if stop.sleep(Duration::from_secs(1)).await {
                        return None;
                    }
                }
            }
        }
    }

    /// Feeds `consumer` until stopped: every read of the log, and once a second its outbox rows;
    /// a failure is logged and tried again after a second (the tail does not move past what
    /// failed). On stop, or when the journal is gone, the checkpoint is saved.
    pub async fn follow(
        mut self,
        limit: u64,
        consumer: &mut impl Consumer,
        stop: &mut crate::shutdown::Stop,
    ) {
        let mut owed_at = tokio::time::Instant::now();
        loop {
            if tokio::time::Instant::now() >= owed_at {
                owed_at = tokio::time::Instant::now() + Duration::from_secs(1);
                if let Err(e) = consumer.owed().await {
                    tracing::warn!(subscription = self.name, error = ?anyhow::Error::from(e), "cannot work off the outbox");
                }
            }
            if let Err(e) = self.save_if_idle().await {
                tracing::warn!(subscription = self.name, error = %e, "cannot save the checkpoint");
            }
            // Only the wait is raced: reading, consuming and saving run to completion.
            let ready = tokio::select! {
                ready = self.ready() => ready,
                () = tokio::time::sleep_until(owed_at) => continue,
                () = stop.stopped() => break,
            };
            if !ready {
                break;
            }
            let handled = match self.next(limit).await {
                Ok(Some(batch)) => match consumer.consume(&batch.entries).await {
                    Ok(()) => self.advance(batch.upto).await,
                    Err(e) => Err(e),
                },
                Ok(None) => break,
                Err(e) => Err(e),
            };
            if let Err(e) = handled {
                tracing::warn!(subscription = self.name, error = ?anyhow::Error::from(e), "cannot handle the log");
                if stop.sleep(Duration::from_secs(1)).await {
                    break;
                }
            }
        }
        if let Err(e) = self.save().await {
            tracing::warn!(subscription = self.name, error = %e, "cannot save the checkpoint; the last second is repeated after the restart");
        }
        self.close().await;
    }

    /// Ends its own connection politely (the server logs no lost client).
    pub async fn close(self) {
        self.reads.close().await;
    }

    /// Where the tail stands: everything at or below was handled, in every slot it reads (a
    /// cluster node holding no slot stands at the watermark).
    pub fn position(&self) -> i64 {
        self.reading
            .iter()
            .map(|(slot, _)| self.positions[*slot as usize])
            .min()
            .unwrap_or_else(|| self.committed())
    }

    /// The journal's watermark now, copied out: the watch's guard is never held across
    /// another read of it. A second read while the first one's guard is held waits behind the
    /// journal's next write, which waits for the first guard (session 41's frozen cluster
    /// node: one holding no slot read the watermark twice in one expression).
    pub fn committed(&self) -> i64 {
        *self.committed.borrow()
    }

    /// Whether this cluster node took slots since the tail last looked.
    fn took_slots(&self) -> bool {
        self.fence
            .as_ref()
            .is_some_and(|f| f.generation() != self.generation)
    }

    /// Waits until the journal has settled something past the tail's position (at most once
    /// per `every` while the tail keeps up), or this node took slots; `false` once the journal
    /// is gone and everything it committed was read. Cancel-safe: it only waits, so it may be
    /// raced against timers and stop signals. Everything that touches the database
    /// ([`Tail::next`], [`Tail::advance`], [`Tail::save_if_idle`]) must run to completion: a
    /// transaction cancelled while it begins can leave its pooled connection inside an open
    /// transaction, where later autocommit statements stay invisible to other connections
    /// until something commits it — on PostgreSQL that hid whole journal batches from the
    /// readers of the log.
    pub async fn ready(&mut self) -> bool {
        loop {
            if self.committed() > self.position() || self.took_slots() {
                if let Some(at) = self.caught_up_at {
                    tokio::time::sleep_until(at + self.every).await;
                }
                return true;
            }
            self.committed.borrow_and_update();
            // A cluster node also looks for slots taken once a second, the log quiet or not.
            let wait = if self.fence.is_some() {
                Duration::from_secs(1)
            } else {
                Duration::MAX
            };
            if let Ok(Err(_)) = tokio::time::timeout(wait, self.committed.changed()).await {
                // The journal stopped; a last look settles anything it published on the way.
                return self.committed() > self.position();
            }
        }
    }

    /// Saves a checkpoint left behind while the tail has caught up, at most once a second
    /// like a busy tail in [`Tail::advance`] (a tail that keeps up with a busy log is caught up
    /// after every read: saving each time rewrote its rows many times a second).
    pub async fn save_if_idle(&mut self) -> Result<(), Error> {
        if self.committed() <= self.position()
            && self.saved_at.elapsed() >= CHECKPOINT_EVERY
            && !self.unsaved().is_empty()
        {
            self.save().await?;
        }
        Ok(())
    }

    /// The next entries past the tail's position, at most `limit`, once [`Tail::ready`];
    /// `None` once the journal is gone and everything it committed was read.
    pub async fn next(&mut self, limit: u64) -> Result<Option<Batch>, Error> {
        if !self.ready().await {
            return Ok(None);
        }
        let watermark = *self.committed.borrow_and_update();
        self.refresh().await?;
        let slots: Vec<i16> = self.reading.iter().map(|(slot, _)| *slot).collect();
        let Some(low) = slots.iter().map(|s| self.positions[*s as usize]).min() else {
            self.caught_up_at = Some(tokio::time::Instant::now());
            return Ok(Some(Batch {
                entries: Vec::new(),
                upto: watermark,
            }));
        };
        let own = slots
            .iter()
            .all(|s| self.positions[*s as usize] >= self.own_after[*s as usize]);
        let mut reading = [false; SLOTS as usize];
        for slot in &slots {
            reading[*slot as usize] = true;
        }
        let held = self.recent.as_ref().filter(|_| own).and_then(|recent| {
            recent.entries(low, watermark, limit, |slot| reading[slot as usize])
        });
        let rows = match held {
            Some(rows) => rows,
            None => {
                let only = self.fence.is_some().then_some(slots.as_slice());
                self.db
                    .log()
                    .after_on(&self.reads, low, watermark, limit, only)
                    .await?
            }
        };
        let upto = match rows.last() {
            Some(last) if rows.len() as u64 >= limit => {
                self.caught_up_at = None;
                last.position
            }
            _ => {
                self.caught_up_at = Some(tokio::time::Instant::now());
                watermark
            }
        };
        // A slot read from further back than the others: what it handled is not read again.
        let entries = rows
            .into_iter()
            .filter(|e| e.position > self.positions[e.slot as usize])
            .collect();
        Ok(Some(Batch { entries, upto }))
    }

    /// Everything up to `upto` is handled, in every slot read; saves the checkpoints if the
    /// last save is a second old.
    pub async fn advance(&mut self, upto: i64) -> Result<(), Error> {
        for (slot, _) in &self.reading {
            let at = &mut self.positions[*slot as usize];
            *at = (*at).max(upto);
        }
        if self.saved_at.elapsed() >= CHECKPOINT_EVERY {
            self.save().await?;
        }
        Ok(())
    }

    /// The slots read whose position moved past their stored checkpoint.
    fn unsaved(&self) -> Vec<(i16, i64)> {
        self.reading
            .iter()
            .map(|(slot, _)| (*slot, self.positions[*slot as usize]))
            .filter(|(slot, at)| *at > self.saved[*slot as usize])
            .collect()
    }

    /// Saves the checkpoints now (e.g. when stopping); a cluster node only those of slots it
    /// still holds at the epochs it read them.
    pub async fn save(&mut self) -> Result<(), Error> {
        let unsaved = self.unsaved();
        if !unsaved.is_empty() {
            let fence = self
                .fence
                .as_ref()
                .map(|f| (f.node_id(), self.reading.as_slice()));
            self.db
                .log()
                .save_checkpoints(self.name, &unsaved, fence)
                .await?;
            for (slot, at) in unsaved {
                self.saved[slot as usize] = at;
            }
        }
        self.saved_at = Instant::now();
        Ok(())
    }
}
