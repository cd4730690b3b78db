//! The log's newest rows, kept in memory by the journal that wrote them.
//!
//! Every reader of the log (the relay, the detail fetcher, the workflow starter, the live
//! stream) used to read back from the database, after each commit, the rows this process had
//! just written: a query per reader per wake, and each row's JSON decoded again. The journal
//! now records what each batch committed here *before* it moves the watermark, so everything a
//! reader may see — every position after [`Recent`]'s start and at or below the watermark — is
//! here if it was committed. A reader asks for a range; `None` means part of it is no longer
//! (or never was) held — a reader behind by more than [`CAPACITY`] rows, or resuming from a
//! checkpoint older than this process — and it reads the database as before.
//!
//! A node of a cluster holds the rows it wrote too. A tail there reads only the slots the node
//! holds, and in a slot it took, the rows its earlier owners wrote lie below the log's head as
//! it stood when the slot was taken: the tail reads those from the database, and from memory
//! once it is past them (see `Tail`). The live stream tells every slot, so on a cluster node
//! it reads the database.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, FixedOffset};
use metrics::counter;

use super::commit::{Commit, Placed, rows_of};
use super::log::{Change, Entry, Posted};
use crate::domain::{OrderId, OrderStatus, ShopId, Stage};
use crate::telemetry::metrics::LOG_READS_TOTAL;

/// Log rows held; older ones are forgotten (a reader that far behind reads the database).
pub const CAPACITY: usize = 8192;

/// The rows themselves, shared by the journal (which records) and the log's readers.
pub struct Recent {
    state: Mutex<State>,
}

struct State {
    /// Every row committed after this position is held (up to the watermark).
    after: i64,
    rows: BTreeMap<i64, Row>,
}

/// One log row as the readers see it: an audit event tells the live stream, and the commit's
/// last row carries its effects.
struct Row {
    change: Option<Held>,
    entry: Option<Entry>,
}

/// An audit event as held: what it shares with its commit's other rows is taken from the
/// commit, not copied, and a [`Change`] is made of it only when a reader asks (the live
/// stream, while someone watches). Recording it so costs the journal's writer one allocation
/// per commit rather than six per row.
struct Held {
    position: i64,
    version: i64,
    kind: &'static str,
    status: OrderStatus,
    stage: Stage,
    origin: Arc<Origin>,
}

/// What the audit events of one commit share.
struct Origin {
    order_id: OrderId,
    shop_id: ShopId,
    cause: String,
    at: DateTime<FixedOffset>,
}

impl Held {
    fn change(&self) -> Change {
        Change {
            position: self.position,
            order_id: self.origin.order_id.as_str().to_owned(),
            shop_id: self.origin.shop_id.as_str().to_owned(),
            version: self.version,
            kind: self.kind.to_owned(),
            status: self.status.as_str().to_owned(),
            stage: self.stage.as_str().to_owned(),
            cause: self.origin.cause.clone(),
            at: self.origin.at,
        }
    }
}

impl Recent {
    /// Holds the rows committed after `after` (the log's end when the journal starts).
    pub(super) fn after(after: i64) -> Arc<Self> {
        for source in ["memory", "database"] {
            counter!(LOG_READS_TOTAL, "source" => source).increment(0);
        }
        Arc::new(Self {
            state: Mutex::new(State {
                after,
                rows: BTreeMap::new(),
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Single inserts and removes: a panic cannot leave the map half-updated.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records the rows of `committed` (commits written in one batch, at `at`), taking what
    /// they own rather than copying it. Must run before the watermark passes them.
    pub(super) fn record(
        &self,
        committed: impl IntoIterator<Item = Placed>,
        at: DateTime<FixedOffset>,
    ) {
        let mut rows = Vec::new();
        for placed in committed {
            rows_of_commit(placed, at, &mut rows);
        }
        let mut state = self.lock();
        for (position, row) in rows {
            if position > state.after {
                state.rows.insert(position, row);
            }
        }
        while state.rows.len() > CAPACITY {
            if let Some((position, _)) = state.rows.pop_first() {
                state.after = state.after.max(position);
            }
        }
    }

    /// The rows with effects after `after`, up to and including `upto`, oldest first, at most
    /// `limit`, of the slots `of` admits; `None` if not all of them are held.
    pub fn entries(
        &self,
        after: i64,
        upto: i64,
        limit: u64,
        of: impl Fn(i16) -> bool,
    ) -> Option<Vec<Entry>> {
        self.read(after, upto, limit, |row| {
            row.entry.as_ref().filter(|entry| of(entry.slot)).cloned()
        })
    }

    /// The audit events after `after`, up to and including `upto`, oldest first, at most
    /// `limit`; `None` if not all of them are held.
    pub fn changes(&self, after: i64, upto: i64, limit: u64) -> Option<Vec<Change>> {
        self.read(after, upto, limit, |row| {
            row.change.as_ref().map(Held::change)
        })
    }

    fn read<T>(
        &self,
        after: i64,
        upto: i64,
        limit: u64,
        part: impl Fn(&Row) -> Option<T>,
    ) -> Option<Vec<T>> {
        let state = self.lock();
        if after < state.after {
            drop(state);
            counter!(LOG_READS_TOTAL, "source" => "database").increment(1);
            return None;
        }
        let found = if after >= upto {
            Vec::new()
        } else {
            state
                .rows
                .range(after + 1..=upto)
                .filter_map(|(_, row)| part(row))
                .take(usize::try_from(limit).unwrap_or(usize::MAX))
                .collect()
        };
        drop(state);
        counter!(LOG_READS_TOTAL, "source" => "memory").increment(1);
        Some(found)
    }
}

/// The rows one commit wrote, as the log's readers read them back, appended to `rows`.
fn rows_of_commit(placed: Placed, at: DateTime<FixedOffset>, rows: &mut Vec<(i64, Row)>) {
    let count = rows_of(&placed);
    if count == 0 {
        return;
    }
    let last = placed.position + count - 1;
    let Commit {
        order,
        applied,
        cause,
        effects,
        ..
    } = placed.commit;
    let slot = order.id.slot();
    let entry = (!effects.is_empty()).then(|| Entry {
        position: last,
        slot,
        effects: effects
            .into_iter()
            .zip(placed.effects_json)
            .map(|(effect, json)| Posted::committed(effect, json))
            .collect(),
        created_at: at,
    });
    let first = rows.len();
    if !applied.is_empty() {
        let origin = Arc::new(Origin {
            order_id: order.id,
            shop_id: order.shop_id,
            cause,
            at,
        });
        rows.extend(applied.into_iter().enumerate().map(|(i, applied)| {
            let position = placed.position + i as i64;
            let held = Held {
                position,
                version: applied.seq,
                kind: applied.event.kind(),
                status: applied.status_after,
                stage: applied.stage_after,
                origin: origin.clone(),
            };
            (
                position,
                Row {
                    change: Some(held),
                    entry: None,
                },
            )
        }));
    }
    match rows[first..].last_mut() {
        Some((_, row)) => row.entry = entry,
        None => rows.push((
            last,
            Row {
                change: None,
                entry,
            },
        )),
    }
}
