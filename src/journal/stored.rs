//! Which orders may have a stored snapshot, so that a new order's actor starts empty without
//! asking the database.
//!
//! On a single node the journal is the only writer of order snapshots. Once it has read the id
//! of every stored order (in pages, in the background at start) and noted every order it was
//! asked to write since (before writing it), an order it does not know is certainly not stored:
//! its actor needs no activation load. Under a burst of new orders those loads were ~7% of the
//! daemon's CPU per webhook and a round trip before each new order's first commit. Until the
//! ids are read, and on the nodes of a cluster (other nodes write the same table), every
//! activation asks the database as before.
//!
//! Ids are kept as 64-bit hashes, ~16 bytes per stored order: two ids with one hash only cost
//! the second a load. Nothing is ever forgotten, so no stored order is ever taken for new.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::watch;

use crate::domain::{OrderId, fingerprint};
use crate::persistence::Database;

/// Ids read per query at start.
const PAGE: u64 = 10_000;

pub(super) struct StoredOrders {
    /// `None`: a cluster node, which always asks the database.
    known: Option<Mutex<Known>>,
    read: watch::Sender<bool>,
}

#[derive(Default)]
struct Known {
    /// Every stored order's id has been read (and added to `ids`).
    complete: bool,
    ids: HashSet<u64>,
}

impl StoredOrders {
    /// Knows nothing, and never will: every activation loads.
    pub(super) fn unknown() -> Self {
        Self {
            known: None,
            read: watch::channel(false).0,
        }
    }

    /// Notes every order written from now on; [`read_stored`] adds the stored ones.
    pub(super) fn noting() -> Self {
        Self {
            known: Some(Mutex::default()),
            read: watch::channel(false).0,
        }
    }

    fn known(&self) -> Option<std::sync::MutexGuard<'_, Known>> {
        let known = self.known.as_ref()?;
        Some(
            known
                .lock()
                .expect("the known ids' lock is never held across a panic"),
        )
    }

    /// Notes orders about to be written (before writing, so that an order whose write fails or
    /// whose outcome is unknown is still taken for stored).
    pub(super) fn note<'a>(&self, ids: impl IntoIterator<Item = &'a OrderId>) {
        if let Some(mut known) = self.known() {
            known
                .ids
                .extend(ids.into_iter().map(|id| fingerprint(id.as_str())));
        }
    }

    /// True only if `id` certainly has no stored snapshot.
    pub(super) fn surely_absent(&self, id: &OrderId) -> bool {
        self.known()
            .is_some_and(|known| known.complete && !known.ids.contains(&fingerprint(id.as_str())))
    }

    /// Waits until the stored ids are read (never, on a cluster node).
    pub(super) async fn read(&self) {
        let mut read = self.read.subscribe();
        let _ = read.wait_for(|read| *read).await;
    }
}

/// Reads the id of every stored order into `stored`, a page at a time, retrying after a failure
/// (meanwhile activations load, as before).
pub(super) async fn read_stored(stored: std::sync::Arc<StoredOrders>, db: Database) {
    let mut after = String::new();
    let mut failing = false;
    loop {
        match db.orders().ids_after(&after, PAGE).await {
            Ok(ids) => {
                failing = false;
                let last = ids.len() < PAGE as usize;
                if let Some(id) = ids.last() {
                    after.clone_from(id);
                }
                let Some(mut known) = stored.known() else {
                    return;
                };
                known.ids.extend(ids.iter().map(|id| fingerprint(id)));
                if last {
                    known.complete = true;
                    drop(known);
                    stored.read.send_replace(true);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> OrderId {
        OrderId::parse(s).unwrap()
    }

    #[test]
    fn nothing_is_absent_until_the_stored_ids_are_read_and_a_noted_order_never_is() {
        let stored = StoredOrders::noting();
        stored.note([&id("1")]);
        assert!(!stored.surely_absent(&id("2")), "not read yet");
        stored.known().unwrap().complete = true;
        assert!(stored.surely_absent(&id("2")));
        assert!(!stored.surely_absent(&id("1")));
        stored.note([&id("2")]);
        assert!(!stored.surely_absent(&id("2")));
    }

    #[test]
    fn a_cluster_node_knows_nothing() {
        let stored = StoredOrders::unknown();
        stored.note([&id("1")]);
        assert!(!stored.surely_absent(&id("2")));
    }
}
