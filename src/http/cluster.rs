//! `GET /api/v1/cluster` (admin keys): the nodes, the slots each holds and every slot's lease.
//! A single node (cluster mode off) says so and lists nothing. And the nodes' internal routes,
//! `POST /internal/v1/stream` and `POST /internal/v1/submit`: messages another node forwarded
//! to the owner of their orders' slots (`actors::forward`).

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Serialize;
use tokio::sync::mpsc;

use super::{Caller, Error};
use crate::actors::forward::{self, Forwarded, MAX_FORWARD_BATCH, SECRET_HEADER};
use crate::actors::{Forwarder, RegistryHandle};
use crate::cluster::{Membership, overview};
use crate::domain::OrderId;
use crate::persistence::Database;
use crate::shutdown::Stop;

/// Fires when this node starts to stop: its streams take no more messages.
pub struct Stopping(pub Stop);

/// This node's forwarder, if the caller presents the cluster's secret: 404 when cluster mode
/// is off, 401 without the secret.
fn authenticated<'a>(
    req: &HttpRequest,
    registry: &'a RegistryHandle,
) -> Result<&'a Forwarder, Error> {
    let Some(forwarder) = registry.forwarder() else {
        return Err(Error::NotFound("this route (cluster mode is off)".into()));
    };
    let presented = req
        .headers()
        .get(SECRET_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !forwarder.authentic(presented) {
        return Err(Error::InvalidCredentials);
    }
    Ok(forwarder)
}

/// A stream of messages another node forwards here: the body is a line of JSON per message,
/// the response a line per answer, written as each is done (in any order; each carries its
/// message's `seq`). The stream lasts as long as the sender keeps it open; when this node
/// stops, it answers what it read and ends the response. 401 without the cluster's secret; 404
/// when cluster mode is off.
#[utoipa::path(
    tag = "cluster",
    request_body(content = String, content_type = "application/x-ndjson", description = "One line per message, `{\"seq\": <its number on this stream>, \"order_id\": <the order>, \"epoch\": <the epoch the sender saw this node hold its slot at>, \"envelope\": <the message>}`, with the cluster's secret in `x-creatorflow-cluster-secret`"),
    responses(
        (status = 200, description = "One line per answer, as each is done: `{\"seq\": <the message's>, \"answer\": <done, rejected, not_owner or unavailable>}`", content_type = "application/x-ndjson"),
        (status = 401, description = "Without the cluster's secret", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Cluster mode is off", body = super::openapi::Problem, content_type = "application/problem+json")
    )
)]
#[post("/internal/v1/stream")]
pub(super) async fn stream(
    req: HttpRequest,
    body: web::Payload,
    registry: web::Data<RegistryHandle>,
    stopping: web::Data<Stopping>,
) -> Result<HttpResponse, Error> {
    authenticated(&req, &registry)?;
    let (answers, mut written) = mpsc::channel(64);
    actix_web::rt::spawn(forward::serve_stream(
        body,
        registry.get_ref().clone(),
        stopping.0.clone(),
        answers,
    ));
    let written = futures_util::stream::poll_fn(move |cx| written.poll_recv(cx).map(|c| c.map(Ok)));
    Ok(HttpResponse::Ok()
        .content_type("application/x-ndjson")
        .streaming::<_, std::convert::Infallible>(written))
}

/// Messages another node forwarded here in one request (nodes of earlier versions; this one
/// streams them: `POST /internal/v1/stream`), each presenting the epoch at which it saw this node
/// hold the order's slot, with the cluster's secret. Answered 200 with what became of each, in
/// order (including `not_owner` when this node does not hold the slot at that epoch); 401
/// without the secret; 404 when cluster mode is off.
#[utoipa::path(
    tag = "cluster",
    request_body(content = String, content_type = "application/json", description = "`[{\"order_id\": <the order>, \"epoch\": <the epoch the sender saw this node hold its slot at>, \"envelope\": <the message>}, …]`, with the cluster's secret in `x-creatorflow-cluster-secret`"),
    responses(
        (status = 200, description = "What became of each message, in order: `done` (with the engine's reply), `rejected`, `not_owner` or `unavailable`", content_type = "application/json"),
        (status = 400, description = "Not a list of forwarded messages", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Without the cluster's secret", body = super::openapi::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Cluster mode is off", body = super::openapi::Problem, content_type = "application/problem+json")
    )
)]
#[post("/internal/v1/submit")]
pub(super) async fn submit(
    req: HttpRequest,
    body: web::Bytes,
    registry: web::Data<RegistryHandle>,
) -> Result<HttpResponse, Error> {
    let forwarder = authenticated(&req, &registry)?;
    // Nothing is read before the secret is checked.
    let messages: Vec<Forwarded> = serde_json::from_slice(&body)
        .map_err(|e| Error::BadRequest(format!("not a list of forwarded messages: {e}")))?;
    if messages.len() > MAX_FORWARD_BATCH {
        return Err(Error::BadRequest(format!(
            "{} forwarded messages in one request; at most {MAX_FORWARD_BATCH}",
            messages.len()
        )));
    }
    let mut orders = Vec::with_capacity(messages.len());
    for message in messages {
        let id = OrderId::parse(&message.order_id)
            .map_err(|e| Error::BadRequest(format!("order_id: {e}")))?;
        orders.push((id, message));
    }
    let (registry, membership) = (&registry, forwarder.membership());
    let answers = futures_util::future::join_all(orders.into_iter().map(|(id, message)| {
        forward::outcome(registry, membership, id, message.epoch, message.envelope)
    }))
    .await;
    Ok(HttpResponse::Ok().json(answers))
}

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
    /// Times a slot changed hands since the cluster first ran (each take after a slot's first
    /// raised its epoch).
    handoffs: i64,
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
    /// The `cluster.lease` it runs with, in milliseconds; every node should run with the same
    /// (absent for a node of an earlier version).
    lease_ms: Option<i64>,
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
            handoffs: 0,
            nodes: Vec::new(),
            slots: Vec::new(),
        }));
    };
    let seen = overview(&db, *lease).await?;
    Ok(HttpResponse::Ok().json(ClusterBody {
        enabled: true,
        node_id: Some(membership.node_id().to_owned()),
        unowned_slots: seen.unowned(),
        handoffs: seen.handoffs(),
        nodes: seen
            .nodes
            .into_iter()
            .map(|n| NodeBody {
                node_id: n.node_id,
                advertise_url: n.advertise_url,
                live: n.live,
                heartbeat_age_ms: n.heartbeat_age_ms,
                slots: n.slots,
                lease_ms: n.lease_ms,
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
