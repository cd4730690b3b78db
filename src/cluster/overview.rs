//! The cluster as an operator sees it: the nodes, whether each is alive, how many slots each
//! holds, and every slot's lease (`GET /api/v1/cluster`, `creatorflow cluster status`).

use std::time::Duration;

use crate::persistence::{self, Database, LeaseRow};

/// One node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub node_id: String,
    pub advertise_url: String,
    /// Heard from within one lease.
    pub live: bool,
    pub heartbeat_age_ms: i64,
    /// Slots it holds a live lease on.
    pub slots: usize,
    /// The `cluster.lease` it runs with, in milliseconds (`None`: a node of an earlier version).
    pub lease_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overview {
    pub nodes: Vec<Node>,
    pub leases: Vec<LeaseRow>,
}

impl Overview {
    /// Slots nobody holds a live lease on (between owners, or no node alive).
    pub fn unowned(&self) -> usize {
        self.leases.iter().filter(|l| !l.live()).count()
    }

    /// Times a slot changed hands since the cluster first ran: every take raises the slot's
    /// epoch, and the first take of a slot is no handoff.
    pub fn handoffs(&self) -> i64 {
        self.leases.iter().map(|l| (l.epoch - 1).max(0)).sum()
    }
}

/// Reads the nodes and leases; `lease`: how recent a heartbeat makes a node alive.
pub async fn overview(db: &Database, lease: Duration) -> Result<Overview, persistence::Error> {
    let store = db.cluster();
    let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
    let leases = store.leases().await?;
    let nodes = store
        .nodes()
        .await?
        .into_iter()
        .map(|n| Node {
            live: n.heartbeat_age_ms < lease_ms,
            slots: leases
                .iter()
                .filter(|l| l.live() && l.owner.as_deref() == Some(n.node_id.as_str()))
                .count(),
            node_id: n.node_id,
            advertise_url: n.advertise_url,
            heartbeat_age_ms: n.heartbeat_age_ms,
            lease_ms: n.lease_ms,
        })
        .collect();
    Ok(Overview { nodes, leases })
}
