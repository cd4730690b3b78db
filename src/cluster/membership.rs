//! This node in the cluster: its heartbeat, the slots it holds and the rounds that move them.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use metrics::{counter, gauge};

use super::SlotMoves;
use super::placement::{self, Slot};
use crate::config::ClusterSettings;
use crate::domain::SLOTS;
use crate::persistence::{self, Database};
use crate::telemetry::metrics::{CLUSTER_HANDOFFS_TOTAL, CLUSTER_SLOTS_HELD};

/// Slots given back per round at most: a join moves working slots in steps.
const MAX_MOVES: usize = 64;

/// Another node holding a slot: where it is reached, and the epoch it holds the slot at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub url: String,
    pub epoch: i64,
}

/// This node's membership. Cheap to clone: clones share it.
#[derive(Clone)]
pub struct Membership {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    node_id: String,
    /// This process, as the node's row names it: random per start (see [`Membership::claim`]).
    incarnation: String,
    /// Whether the node's row was this process's at the last heartbeat.
    claimed: AtomicBool,
    /// The live nodes whose `cluster.lease` differs from this one's, as the last round saw them.
    disagreeing: std::sync::Mutex<Vec<String>>,
    advertise_url: String,
    lease: Duration,
    heartbeat: Duration,
    /// The epoch of each slot held, 0 for a slot not held (epochs start at 1).
    epochs: Vec<AtomicI64>,
    /// Raised every time slots are taken, before their epochs are held (see
    /// [`Membership::generation`]).
    generation: AtomicU64,
    /// Each slot's owner as the last round saw it, when that is another live node: where a
    /// message for one of its orders is forwarded.
    owners: std::sync::RwLock<Vec<Option<Owner>>>,
    /// Told of every move, before this node writes a slot it took and after it stopped writing
    /// one it gave back or lost.
    moves: OnceLock<Arc<dyn SlotMoves>>,
}

impl Membership {
    pub fn new(db: Database, settings: &ClusterSettings, listen: SocketAddr) -> Self {
        let node_id = if settings.node_id.is_empty() {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_else(|_| "node".to_owned());
            format!("{host}-{}", listen.port())
        } else {
            settings.node_id.clone()
        };
        let advertise_url = if settings.advertise_url.is_empty() {
            format!("http://{listen}")
        } else {
            settings.advertise_url.trim_end_matches('/').to_owned()
        };
        Self {
            inner: Arc::new(Inner {
                db,
                node_id,
                incarnation: uuid::Uuid::new_v4().simple().to_string(),
                claimed: AtomicBool::new(false),
                disagreeing: std::sync::Mutex::new(Vec::new()),
                advertise_url,
                lease: settings.lease,
                heartbeat: settings.heartbeat,
                epochs: (0..SLOTS).map(|_| AtomicI64::new(0)).collect(),
                generation: AtomicU64::new(0),
                owners: std::sync::RwLock::new(vec![None; SLOTS as usize]),
                moves: OnceLock::new(),
            }),
        }
    }

    /// Who to tell when slots move (the order engine, once it is started).
    pub fn on_moves(&self, moves: Arc<dyn SlotMoves>) {
        let _ = self.inner.moves.set(moves);
    }

    async fn moved(&self, slots: Vec<i16>) {
        if let (Some(moves), false) = (self.inner.moves.get(), slots.is_empty()) {
            moves.moved(slots).await;
        }
    }

    pub fn node_id(&self) -> &str {
        &self.inner.node_id
    }

    /// This process, as the node's row names it while it holds the row.
    pub fn incarnation(&self) -> &str {
        &self.inner.incarnation
    }

    /// The epoch at which this node holds `slot`, if it does.
    pub fn epoch(&self, slot: i16) -> Option<i64> {
        let epoch = self.inner.epochs.get(slot as usize)?.load(Ordering::SeqCst);
        (epoch > 0).then_some(epoch)
    }

    /// How many times this node has taken slots. Raised before the epochs of slots taken are
    /// held: a reader that saw a slot's new epoch and then reads the generation sees it
    /// raised (the journal draws fresh log positions then; see `journal::positions`).
    pub fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::SeqCst)
    }

    /// Every slot held, with its epoch.
    pub fn held(&self) -> Vec<(i16, i64)> {
        (0..SLOTS as i16)
            .filter_map(|slot| self.epoch(slot).map(|epoch| (slot, epoch)))
            .collect()
    }

    /// The other node that holds `slot` (as of the last round), and its epoch.
    pub fn owner(&self, slot: i16) -> Option<Owner> {
        let owners = self
            .inner
            .owners
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        owners.get(slot as usize)?.clone()
    }

    fn hold(&self, slot: i16, epoch: i64) {
        self.inner.epochs[slot as usize].store(epoch, Ordering::SeqCst);
    }

    fn drop_slot(&self, slot: i16) {
        self.inner.epochs[slot as usize].store(0, Ordering::SeqCst);
    }

    /// Makes the node's row this process's before it serves: a second process started with the
    /// node id of one still running would take that one's slots at every round (and it its), so
    /// it is refused, naming `cluster.node_id`. A row whose process has stopped beating (killed,
    /// and restarted at once) is this process's once it has been silent for a lease.
    pub async fn claim(&self) -> Result<(), ClaimError> {
        let store = self.inner.db.cluster();
        let deadline = Instant::now() + self.inner.lease + self.inner.heartbeat;
        let mut waiting = false;
        loop {
            if self.beat().await? {
                if waiting {
                    tracing::info!(node_id = %self.inner.node_id, "cluster: the node id's earlier process went silent; joining as it");
                }
                return Ok(());
            }
            let other = store
                .nodes()
                .await?
                .into_iter()
                .find(|n| n.node_id == self.inner.node_id);
            let (url, age_ms) = other.map_or((String::new(), 0), |n| {
                (n.advertise_url, n.heartbeat_age_ms)
            });
            if Instant::now() >= deadline {
                return Err(ClaimError::Taken {
                    node_id: self.inner.node_id.clone(),
                    url,
                    age_ms,
                });
            }
            if !waiting {
                waiting = true;
                tracing::warn!(node_id = %self.inner.node_id, other = %url, heard_ms_ago = age_ms, "cluster: another process has this node id; waiting up to a lease for it to go silent");
            }
            tokio::time::sleep(self.inner.heartbeat).await;
        }
    }

    /// Says this node is alive, as this process; `false` when another process holds the node's
    /// row. Logs when that changes.
    async fn beat(&self) -> Result<bool, persistence::Error> {
        let inner = &self.inner;
        let claimed = inner
            .db
            .cluster()
            .heartbeat(
                &inner.node_id,
                &inner.advertise_url,
                &inner.incarnation,
                inner.lease,
            )
            .await?;
        if inner.claimed.swap(claimed, Ordering::SeqCst) && !claimed {
            tracing::error!(node_id = %inner.node_id, "cluster: another process took this node id (cluster.node_id must differ on every node) while this one was silent for a lease; this one holds no slot while that one runs");
        }
        Ok(claimed)
    }

    /// The live nodes running with another `cluster.lease` than this one, as the last round saw
    /// them. Nodes judge each other's liveness (and so how soon a dead node's slots move) by
    /// their own lease: it must be the same on every node.
    pub fn disagreeing(&self) -> Vec<String> {
        self.inner
            .disagreeing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Notes the live nodes whose lease differs from `lease_ms`, and warns when they change.
    fn compare_leases(&self, nodes: &[persistence::NodeRow], lease_ms: i64) {
        let now: Vec<String> = nodes
            .iter()
            .filter(|n| n.heartbeat_age_ms < lease_ms && n.lease_ms.is_some_and(|l| l != lease_ms))
            .map(|n| format!("{} ({} ms)", n.node_id, n.lease_ms.unwrap_or_default()))
            .collect();
        let mut seen = self
            .inner
            .disagreeing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if *seen != now && !now.is_empty() {
            tracing::warn!(this_node_ms = lease_ms, others = ?now, "cluster: nodes run with another cluster.lease than this one; set the same on every node (liveness and failover are judged by it)");
        }
        *seen = now;
    }

    /// Joins, then runs a round every `cluster.heartbeat` until stopped; then gives every slot
    /// back and leaves, so the other nodes take them at once (their next round).
    pub async fn run(self, mut stop: crate::shutdown::Stop) {
        let store = self.inner.db.cluster();
        if let Err(e) = store.ensure_slots().await {
            tracing::error!(error = %e, "cluster: cannot make the slots' lease rows");
        }
        tracing::info!(node_id = %self.inner.node_id, url = %self.inner.advertise_url, "cluster: joining");
        let mut renewed = Instant::now();
        let mut rounds: u64 = 0;
        loop {
            if let Err(e) = self.round(&mut renewed).await {
                tracing::warn!(error = %e, "cluster: round failed");
            }
            if renewed.elapsed() >= self.inner.lease {
                // Not renewed for a whole lease: another node may hold these slots by now.
                self.lose_all("its leases could not be renewed for a whole lease");
            }
            rounds += 1;
            if rounds.is_multiple_of(100)
                && let Err(e) = store.forget_silent(self.inner.lease * 12).await
            {
                tracing::warn!(error = %e, "cluster: cannot forget silent nodes");
            }
            if stop.sleep(self.inner.heartbeat).await {
                break;
            }
        }
        self.leave().await;
    }

    /// One round: say alive, renew, give back the slots placed elsewhere, take the free ones
    /// placed here.
    async fn round(&self, renewed: &mut Instant) -> Result<(), persistence::Error> {
        let store = self.inner.db.cluster();
        let me = self.inner.node_id.as_str();
        if !self.beat().await? {
            // Another process is this node now: what this one held, it holds no more.
            self.lose_all("another process holds this node id");
            return Ok(());
        }
        let held = self.held();
        let started = Instant::now();
        let kept = store.renew(me, &held, self.inner.lease).await?;
        *renewed = started;
        let mut lost = Vec::new();
        for (slot, _) in held.iter().filter(|(slot, _)| !kept.contains(slot)) {
            self.drop_slot(*slot);
            lost.push(*slot);
            counter!(CLUSTER_HANDOFFS_TOTAL, "change" => "lost").increment(1);
            tracing::warn!(slot, "cluster: slot taken over by another node");
        }
        self.moved(lost).await;
        let lease_ms = i64::try_from(self.inner.lease.as_millis()).unwrap_or(i64::MAX);
        let nodes = store.nodes().await?;
        let live: Vec<&str> = nodes
            .iter()
            .filter(|n| n.heartbeat_age_ms < lease_ms)
            .map(|n| n.node_id.as_str())
            .collect();
        self.compare_leases(&nodes, lease_ms);
        let leases = store.leases().await?;
        let urls: std::collections::HashMap<&str, &str> = nodes
            .iter()
            .filter(|n| n.heartbeat_age_ms < lease_ms)
            .map(|n| (n.node_id.as_str(), n.advertise_url.as_str()))
            .collect();
        let owners: Vec<Option<Owner>> = leases
            .iter()
            .map(|l| {
                let node = l.owner.as_deref().filter(|o| *o != me && l.live())?;
                Some(Owner {
                    url: (*urls.get(node)?).to_owned(),
                    epoch: l.epoch,
                })
            })
            .collect();
        *self
            .inner
            .owners
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = owners;
        let slots: Vec<Slot> = leases
            .iter()
            .map(|l| Slot {
                slot: l.slot,
                owner: l.owner.as_deref(),
                live: l.live(),
                held: self.epoch(l.slot).is_some(),
            })
            .collect();
        let moves = placement::moves(me, &live, &slots, MAX_MOVES);
        if !moves.release.is_empty() {
            // Stop writing them first: the journal presents only epochs still held.
            let giving: Vec<(i16, i64)> = moves
                .release
                .iter()
                .filter_map(|slot| self.epoch(*slot).map(|e| (*slot, e)))
                .collect();
            for (slot, _) in &giving {
                self.drop_slot(*slot);
            }
            self.moved(giving.iter().map(|(slot, _)| *slot).collect())
                .await;
            let released = store.release(me, &giving).await?;
            counter!(CLUSTER_HANDOFFS_TOTAL, "change" => "released").increment(released);
            tracing::info!(
                slots = giving.len(),
                "cluster: slots given back to the nodes they are placed on"
            );
        }
        if !moves.acquire.is_empty() {
            let taken = store.acquire(me, &moves.acquire, self.inner.lease).await?;
            // What the engine holds of these slots may be behind another node's commits.
            self.moved(taken.iter().map(|(slot, _)| *slot).collect())
                .await;
            if !taken.is_empty() {
                self.inner.generation.fetch_add(1, Ordering::SeqCst);
            }
            for (slot, epoch) in &taken {
                self.hold(*slot, *epoch);
            }
            counter!(CLUSTER_HANDOFFS_TOTAL, "change" => "acquired").increment(taken.len() as u64);
            if !taken.is_empty() {
                tracing::info!(slots = taken.len(), "cluster: slots taken");
            }
        }
        gauge!(CLUSTER_SLOTS_HELD).set(self.held().len() as f64);
        Ok(())
    }

    fn lose_all(&self, why: &str) {
        let held = self.held();
        if held.is_empty() {
            return;
        }
        for (slot, _) in &held {
            self.drop_slot(*slot);
        }
        counter!(CLUSTER_HANDOFFS_TOTAL, "change" => "lost").increment(held.len() as u64);
        gauge!(CLUSTER_SLOTS_HELD).set(0.0);
        tracing::error!(slots = held.len(), why, "cluster: every slot dropped");
    }

    /// Gives every slot back and removes this node's row.
    async fn leave(&self) {
        let held = self.held();
        for (slot, _) in &held {
            self.drop_slot(*slot);
        }
        let store = self.inner.db.cluster();
        match store.release(&self.inner.node_id, &held).await {
            Ok(n) => {
                counter!(CLUSTER_HANDOFFS_TOTAL, "change" => "released").increment(n);
                tracing::info!(slots = n, "cluster: slots given back on leaving");
            }
            Err(e) => {
                tracing::warn!(error = %e, "cluster: cannot give the slots back; they free when their leases end")
            }
        }
        if let Err(e) = store
            .leave(&self.inner.node_id, &self.inner.incarnation)
            .await
        {
            tracing::warn!(error = %e, "cluster: cannot remove this node's row");
        }
        gauge!(CLUSTER_SLOTS_HELD).set(0.0);
    }
}

/// Why a node cannot join.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    #[error(
        "another process is running as cluster.node_id = \"{node_id}\" (at {url}, heard from {age_ms} ms ago); give every node its own cluster.node_id, or stop that process first"
    )]
    Taken {
        node_id: String,
        url: String,
        age_ms: i64,
    },
    #[error("cannot join the cluster: {0}")]
    Storage(#[from] persistence::Error),
}
