//! Which orders may have a stored snapshot, so that a new order's actor starts empty without
//! asking the database.
//!
//! On a single node the journal is the only writer of order snapshots. Once it has read the id
//! of every stored order (in pages, in the background at start) and noted every order it was
//! asked to write since (before writing it), an order it does not know is certainly not stored:
//! its actor needs no activation load. Under a burst of new orders those loads were ~7% of the
//! daemon's CPU per webhook and a round trip before each new order's first commit. Until the
//! ids are read, every activation asks the database as before.
//!
//! A node of a cluster writes a slot's orders only while it holds the slot, and once it holds
//! it at an epoch no other node writes that slot (the fence). So after it took a slot, a read
//! of every stored id that starts then covers whatever the slot's earlier owners wrote: the slot
//! is known at that epoch. A slot lost and taken back is known again only after a fresh read.
//!
//! Ids are kept as 64-bit hashes, 10-19 bytes per stored order (a hash table of `u64`; 18 MiB
//! for a million): two ids with one hash only cost the second a load. Nothing is ever
//! forgotten, so no stored order is ever taken for new. (Were one taken for new all the same,
//! its first commit would collide with its stored events on `(order_id, seq)`: refused, and the
//! actor would reload.)

use std::collections::HashSet;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use crate::cluster::Membership;
use crate::domain::{OrderId, SLOTS, slot_of_hash, stable_hash};
use crate::persistence::Database;

/// Ids read per query.
const PAGE: u64 = 10_000;

/// How often a cluster node looks for slots it took and does not know yet.
const LOOK_EVERY: Duration = Duration::from_millis(200);

/// `known_at` of a slot not known at any epoch.
const NOT_KNOWN: i64 = 0;

pub(super) struct StoredOrders {
    ids: Mutex<HashSet<u64>>,
    /// A cluster node's membership: a slot is known only at the epoch it was read at.
    membership: Option<Membership>,
    /// Per slot, the epoch at which every stored id of its orders had been read (a single node
    /// uses epoch 1 for every slot, once the ids are read).
    known_at: Vec<AtomicI64>,
    read: watch::Sender<bool>,
}

impl StoredOrders {
    /// Notes every order written from now on; [`read_stored`] adds the stored ones (for the
    /// slots `membership` holds, on a cluster node).
    pub(super) fn noting(membership: Option<Membership>) -> Self {
        Self {
            ids: Mutex::default(),
            membership,
            known_at: (0..SLOTS).map(|_| AtomicI64::new(NOT_KNOWN)).collect(),
            read: watch::channel(false).0,
        }
    }

    fn ids(&self) -> std::sync::MutexGuard<'_, HashSet<u64>> {
        self.ids
            .lock()
            .expect("the known ids' lock is never held across a panic")
    }

    /// The epoch the node holds `slot` at now (1 on a single node).
    fn epoch(&self, slot: i16) -> Option<i64> {
        match &self.membership {
            Some(membership) => membership.epoch(slot),
            None => Some(1),
        }
    }

    /// Notes orders about to be written (before writing, so that an order whose write fails or
    /// whose outcome is unknown is still taken for stored).
    pub(super) fn note<'a>(&self, ids: impl IntoIterator<Item = &'a OrderId>) {
        self.ids().extend(ids.into_iter().map(OrderId::stable_hash));
    }

    /// True only if `id` certainly has no stored snapshot.
    pub(super) fn surely_absent(&self, id: &OrderId) -> bool {
        let hash = id.stable_hash();
        let slot = slot_of_hash(hash);
        let known = self.known_at[slot as usize].load(Ordering::SeqCst);
        known != NOT_KNOWN && self.epoch(slot) == Some(known) && !self.ids().contains(&hash)
    }

    /// Waits until the stored ids have been read once (a cluster node: for the slots it held).
    pub(super) async fn read(&self) {
        let mut read = self.read.subscribe();
        let _ = read.wait_for(|read| *read).await;
    }

    /// The slots held and not known at the epoch they are held at.
    fn unknown(&self) -> Vec<(i16, i64)> {
        (0..SLOTS as i16)
            .filter_map(|slot| {
                let epoch = self.epoch(slot)?;
                (self.known_at[slot as usize].load(Ordering::SeqCst) != epoch)
                    .then_some((slot, epoch))
            })
            .collect()
    }
}

/// Reads the id of every stored order into `stored`, a page at a time, and marks the slots
/// known; on a cluster node again whenever it holds slots it does not know (every
/// `LOOK_EVERY`), until the journal is gone. A read that fails is retried (meanwhile
/// activations load, as before).
pub(super) async fn read_stored(stored: Arc<StoredOrders>, db: Database) {
    let mut failing = false;
    // Only this task holds it once the journal's handles and writers are gone.
    while Arc::strong_count(&stored) > 1 {
        // The epochs are read before the ids: what the slots' earlier owners wrote was committed
        // before this node took them, so the read finds it.
        let unknown = stored.unknown();
        if unknown.is_empty() {
            tokio::time::sleep(LOOK_EVERY).await;
            continue;
        }
        match read_all(&stored, &db).await {
            Ok(()) => {
                failing = false;
                for (slot, epoch) in unknown {
                    stored.known_at[slot as usize].store(epoch, Ordering::SeqCst);
                }
                stored.read.send_replace(true);
                if stored.membership.is_none() {
                    return;
                }
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "cannot read the stored orders' ids; activations load meanwhile; retrying");
                }
                failing = true;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

async fn read_all(stored: &StoredOrders, db: &Database) -> Result<(), crate::persistence::Error> {
    let mut after = String::new();
    loop {
        let ids = db.orders().ids_after(&after, PAGE).await?;
        stored.ids().extend(ids.iter().map(|id| stable_hash(id)));
        match ids.last() {
            Some(id) if ids.len() == PAGE as usize => after.clone_from(id),
            _ => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> OrderId {
        OrderId::parse(s).unwrap()
    }

    #[test]
    fn nothing_is_absent_until_the_stored_ids_are_read_and_a_noted_order_never_is() {
        let stored = StoredOrders::noting(None);
        stored.note([&id("1")]);
        assert!(!stored.surely_absent(&id("2")), "not read yet");
        assert_eq!(stored.unknown().len(), SLOTS as usize);
        for (slot, epoch) in stored.unknown() {
            stored.known_at[slot as usize].store(epoch, Ordering::SeqCst);
        }
        assert!(stored.unknown().is_empty());
        assert!(stored.surely_absent(&id("2")));
        assert!(!stored.surely_absent(&id("1")));
        stored.note([&id("2")]);
        assert!(!stored.surely_absent(&id("2")));
    }
}
