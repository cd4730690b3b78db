//! `GET /api/v1/cluster` (admin keys): the nodes, the slots each holds and every slot's lease.
//! A single node (cluster mode off) says so and lists nothing.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;

use super::{Caller, Error};
use crate::cluster::{Membership, overview};
use crate::persistence::Database;

/// This node's membership, if cluster mode is on.
pub struct ClusterMode(pub Option<(Membership, std::time::Duration)>);

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct ClusterBody {
    /// `cluster.enabled` on this node.
    enabled: bool,
    /// The node that answered.
    node_id: Option<String>,
    /// Slots without a live lease (between owners, or no node alive).
    unowned_slots: usize,
    nodes: Vec<NodeBody>,
    slots: Vec<SlotBody>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct NodeBody {
    node_id: String,
    /// Where the other nodes reach it.
    advertise_url: String,
    /// Heard from within one lease.
    live: bool,
    /// Milliseconds since its last heartbeat (database clock).
    heartbeat_age_ms: i64,
    /// Slots it holds a live lease on.
    slots: usize,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct SlotBody {
    slot: i16,
    owner: Option<String>,
    /// Grows at every change of owner; a write presents the epoch it holds.
    epoch: i64,
    /// Milliseconds until the lease ends (negative: ended); absent if never held.
    expires_in_ms: Option<i64>,
}

/// The cluster: its nodes, the slots each holds, every slot's lease.
#[utoipa::path(
    tag = "cluster",
    responses((status = 200, description = "The cluster as this node sees it", body = ClusterBody))
)]
#[get("/cluster")]
pub(super) async fn status(
    caller: Caller,
    db: web::Data<Database>,
    mode: web::Data<ClusterMode>,
) -> Result<HttpResponse, Error> {
    caller.require_admin()?;
    let Some((membership, lease)) = &mode.0 else {
        return Ok(HttpResponse::Ok().json(ClusterBody {
            enabled: false,
            node_id: None,
            unowned_slots: 0,
            nodes: Vec::new(),
            slots: Vec::new(),
        }));
    };
    let seen = overview(&db, *lease).await?;
    Ok(HttpResponse::Ok().json(ClusterBody {
        enabled: true,
        node_id: Some(membership.node_id().to_owned()),
        unowned_slots: seen.unowned(),
        nodes: seen
            .nodes
            .into_iter()
            .map(|n| NodeBody {
                node_id: n.node_id,
                advertise_url: n.advertise_url,
                live: n.live,
                heartbeat_age_ms: n.heartbeat_age_ms,
                slots: n.slots,
            })
            .collect(),
        slots: seen
            .leases
            .into_iter()
            .map(|l| SlotBody {
                slot: l.slot,
                owner: l.owner,
                epoch: l.epoch,
                expires_in_ms: l.expires_in_ms,
            })
            .collect(),
    }))
}
