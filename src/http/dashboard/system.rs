//! Stock (levels, reservations, low-stock flags, adjusting), shops (authorisation and its
//! expiry, where their sync stands) and the system (readiness, how far each reader of the log
//! is behind, dead letters, version; for administrators, the webhooks kept in quarantine and the
//! cluster's nodes and slots).

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::session::Viewer;
use super::{Who, back, page};
use crate::actors::RegistryHandle;
use crate::bus::Bus;
use crate::cluster::{Overview, overview};
use crate::domain::{ShopId, Sku};
use crate::http::Error;
use crate::http::cluster::ClusterMode;
use crate::integrations::tiktok::Topic;
use crate::persistence::{Database, QuarantineReason, QuarantinedWebhook};

/// Most units one adjustment moves, either way.
const MAX_UNITS: i64 = 1_000_000_000;

pub struct StockLine {
    shop: String,
    sku: String,
    on_hand: i64,
    reserved: i64,
    available: i64,
    threshold: String,
    low: bool,
}

#[derive(askama::Template)]
#[template(path = "stock.html")]
struct StockPage {
    who: Option<Who>,
    operate: bool,
    section: &'static str,
    csrf: String,
    flash: Option<String>,
    problem: Option<String>,
    lines: Vec<StockLine>,
    low_only: bool,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(in crate::http) struct StockQuery {
    /// Only SKUs at or under their low-stock threshold.
    #[serde(default)]
    low: bool,
    done: Option<String>,
    problem: Option<String>,
}

/// Stock per SKU, low ones flagged.
#[utoipa::path(
    tag = "dashboard",
    params(StockQuery),
    responses((status = 200, description = "The stock page", body = String, content_type = "text/html"))
)]
#[get("/stock")]
pub(in crate::http) async fn stock_page(
    viewer: Viewer,
    db: web::Data<Database>,
    query: web::Query<StockQuery>,
) -> Result<HttpResponse, Error> {
    let levels = db.stock().levels(&viewer.caller.scope, None).await?;
    let lines = levels
        .into_iter()
        .map(|l| StockLine {
            low: l.low_stock_threshold.is_some_and(|t| l.available <= t),
            shop: l.shop_id.as_str().to_owned(),
            sku: l.sku_id.as_str().to_owned(),
            on_hand: l.on_hand,
            reserved: l.reserved,
            available: l.available,
            threshold: l
                .low_stock_threshold
                .map_or_else(|| "—".to_owned(), |t| t.to_string()),
        })
        .filter(|l| !query.low || l.low)
        .collect();
    page(&StockPage {
        who: Some(viewer.who()),
        operate: viewer.caller.role.may_operate(),
        section: "stock",
        csrf: viewer.csrf.clone(),
        flash: query.done.clone(),
        problem: query.problem.clone(),
        lines,
        low_only: query.low,
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(in crate::http) struct AdjustForm {
    csrf: String,
    /// Units to add (negative: remove).
    delta: i64,
}

/// Adds or removes units of a SKU (never below zero).
#[utoipa::path(
    tag = "dashboard",
    params(("shop_id" = ShopId, Path), ("sku_id" = Sku, Path)),
    request_body(content = AdjustForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "Back to the stock page, saying what happened"))
)]
#[post("/stock/{shop_id}/{sku_id}/adjust")]
pub(in crate::http) async fn adjust(
    viewer: Viewer,
    db: web::Data<Database>,
    path: web::Path<(String, String)>,
    form: web::Form<AdjustForm>,
) -> Result<HttpResponse, Error> {
    viewer.operate(&form.csrf)?;
    let shop = ShopId::parse(&path.0)?;
    if !viewer.caller.scope.allows(&shop) {
        return Err(Error::NotFound(format!("stock of shop {shop}")));
    }
    let sku = Sku::parse(&path.1)?;
    let flash = if form.delta == 0 || form.delta.abs() > MAX_UNITS {
        (
            "problem",
            format!("Adjust by 1 to {MAX_UNITS} units, up or down."),
        )
    } else {
        match db
            .stock()
            .adjust(shop.as_str(), sku.as_str(), form.delta, None)
            .await
            .map_err(Error::from)
        {
            Ok(level) => {
                let detail = serde_json::json!({ "delta": form.delta, "on_hand": level.on_hand });
                let target = format!("stock {}", sku.as_str());
                let caller = &viewer.caller;
                caller
                    .audit(&db, "stock.adjusted", &target, Some(&shop), detail)
                    .await?;
                (
                    "done",
                    format!(
                        "{}: {} on hand, {} available",
                        sku.as_str(),
                        level.on_hand,
                        level.available
                    ),
                )
            }
            Err(e @ Error::Internal(_)) => return Err(e),
            Err(e) => ("problem", e.to_string()),
        }
    };
    Ok(back("/ui/stock", flash))
}

pub struct ShopLine {
    id: String,
    name: String,
    authorized: bool,
    expires: String,
    withdrawn: String,
    synced: String,
    repaired: i64,
}

/// A RabbitMQ queue: its name, messages waiting, consumers.
pub struct QueueLine {
    name: String,
    messages: u32,
    consumers: u32,
}

/// How many colours the slot map gives nodes before it repeats them.
const NODE_COLOURS: usize = 6;

/// A node of the cluster, as the system page lists it.
pub struct NodeLine {
    id: String,
    url: String,
    live: bool,
    heartbeat: String,
    slots: usize,
    /// Its colour on the slot map.
    colour: usize,
    /// The `cluster.lease` it runs with ("5 s"; "?" for a node of an earlier version).
    lease: String,
    /// Another lease than the node serving the page runs with.
    lease_differs: bool,
}

/// A slot on the slot map: its owner's colour (`unowned` without a live lease) and what a
/// pointer over it says.
pub struct SlotCell {
    class: String,
    title: String,
}

/// The cluster as an administrator sees it on the system page.
pub struct ClusterCard {
    /// `None`: cluster mode is off (a single node).
    node_id: Option<String>,
    unowned: usize,
    handoffs: i64,
    /// Messages kept for slots whose owner did not answer, not yet applied.
    parked: i64,
    nodes: Vec<NodeLine>,
    slots: Vec<SlotCell>,
    /// The slot map's text for a screen reader: slots per node.
    summary: String,
}

impl ClusterCard {
    fn off() -> Self {
        Self {
            node_id: None,
            unowned: 0,
            handoffs: 0,
            parked: 0,
            nodes: Vec::new(),
            slots: Vec::new(),
            summary: String::new(),
        }
    }

    /// The card for what `seen` says, from the node `node_id` (running with a lease of
    /// `lease_ms`), with `parked` messages waiting.
    fn of(node_id: &str, lease_ms: i64, seen: Overview, parked: i64) -> Self {
        let (unowned, handoffs) = (seen.unowned(), seen.handoffs());
        let mut nodes: Vec<_> = seen.nodes;
        nodes.sort_by(|a, b| a.node_id.cmp(&b.node_id));
        let colour_of = |owner: &str| {
            nodes
                .iter()
                .position(|n| n.node_id == owner)
                .map(|i| i % NODE_COLOURS)
        };
        let slots = seen
            .leases
            .iter()
            .map(|lease| match lease.owner.as_deref() {
                Some(owner) if lease.live() => SlotCell {
                    class: colour_of(owner).map_or("owner-other".into(), |c| format!("owner-{c}")),
                    title: format!("slot {}: {owner}, epoch {}", lease.slot, lease.epoch),
                },
                _ => SlotCell {
                    class: "unowned".into(),
                    title: format!("slot {}: no live owner, epoch {}", lease.slot, lease.epoch),
                },
            })
            .collect();
        let mut summary: Vec<String> = nodes
            .iter()
            .filter(|n| n.slots > 0)
            .map(|n| format!("{} holds {}", n.node_id, n.slots))
            .collect();
        if unowned > 0 {
            summary.push(format!("{unowned} without a live owner"));
        }
        let nodes = nodes
            .into_iter()
            .enumerate()
            .map(|(i, n)| NodeLine {
                lease: n
                    .lease_ms
                    .map_or_else(|| "?".to_owned(), |ms| format!("{} s", ms as f64 / 1000.0)),
                lease_differs: n.lease_ms.is_some_and(|ms| ms != lease_ms),
                heartbeat: heard(n.heartbeat_age_ms),
                live: n.live,
                slots: n.slots,
                colour: i % NODE_COLOURS,
                id: n.node_id,
                url: n.advertise_url,
            })
            .collect();
        Self {
            node_id: Some(node_id.to_owned()),
            unowned,
            handoffs,
            parked,
            nodes,
            slots,
            summary: format!("Slots by owner: {}.", summary.join(", ")),
        }
    }
}

/// How long ago a node was heard from, for a person: "80 ms ago", "3.2 s ago", "5 min ago".
fn heard(age_ms: i64) -> String {
    match age_ms.max(0) {
        ms @ 0..1_000 => format!("{ms} ms ago"),
        ms @ 1_000..60_000 => format!("{:.1} s ago", ms as f64 / 1000.0),
        ms => format!("{} min ago", ms / 60_000),
    }
}

/// The most of a kept body the system page shows (the API gives it whole).
const BODY_SHOWN: usize = 2_000;

/// How much of a kept body the system page reads: [`BODY_SHOWN`] characters are at most four
/// bytes each.
const HEAD_READ: u32 = 4 * BODY_SHOWN as u32;

/// How many kept webhooks the system page lists, newest first.
const KEPT_SHOWN: u64 = 10;

/// A webhook kept in quarantine, as the system page lists it.
pub struct KeptLine {
    id: i64,
    received: String,
    reason: &'static str,
    /// Answered 400 (its order waits for the poller), not kept for later.
    unreadable: bool,
    /// TikTok's `type` by name ("ORDER_STATUS_CHANGE", "type 99"), or "—" if it had none.
    kind: String,
    detail: String,
    /// The body's first [`BODY_SHOWN`] characters.
    body: String,
    bytes: usize,
    /// Whether `body` is only the start of it.
    cut: bool,
}

impl From<QuarantinedWebhook> for KeptLine {
    fn from(kept: QuarantinedWebhook) -> Self {
        // A body longer than what was read has more characters than are shown (at most four
        // bytes each).
        let cut = kept.body_bytes > HEAD_READ as usize || kept.body.chars().count() > BODY_SHOWN;
        Self {
            id: kept.id,
            received: kept.received_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            unreadable: kept.reason == QuarantineReason::Malformed,
            reason: match kept.reason {
                QuarantineReason::Malformed => "unreadable",
                QuarantineReason::UnhandledType => "type not handled",
            },
            kind: kept.event_type.map_or_else(
                || "—".to_owned(),
                |t| Topic::handled_name(t).map_or_else(|| format!("type {t}"), str::to_owned),
            ),
            detail: kept.detail,
            body: kept.body.chars().take(BODY_SHOWN).collect(),
            bytes: kept.body_bytes,
            cut,
        }
    }
}

/// The webhooks kept in quarantine, as an administrator sees them on the system page.
pub struct QuarantineCard {
    total: u64,
    newest: Vec<KeptLine>,
    /// More are kept than listed.
    more: bool,
}

#[derive(askama::Template)]
#[template(path = "system.html")]
struct SystemPage {
    who: Option<Who>,
    section: &'static str,
    csrf: String,
    flash: Option<String>,
    problem: Option<String>,
    ready: Result<(), String>,
    version: &'static str,
    log_end: i64,
    readers: Vec<(String, i64, i64)>,
    bus: &'static str,
    queues: Result<Vec<QueueLine>, String>,
    dead_letters: usize,
    shops: Vec<ShopLine>,
    /// Administrators only.
    cluster: Option<ClusterCard>,
    /// Administrators only.
    quarantine: Option<QuarantineCard>,
}

fn time(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(
        || "—".to_owned(),
        |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
    )
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(in crate::http) struct SystemQuery {
    /// What the last form did (shown once).
    done: Option<String>,
    /// Why the last form did nothing (shown once).
    problem: Option<String>,
}

/// Shops and how the daemon is doing.
#[utoipa::path(
    tag = "dashboard",
    params(SystemQuery),
    responses((status = 200, description = "The system page", body = String, content_type = "text/html"))
)]
#[get("/system")]
pub(in crate::http) async fn system_page(
    viewer: Viewer,
    db: web::Data<Database>,
    bus: web::Data<Bus>,
    mode: web::Data<ClusterMode>,
    query: web::Query<SystemQuery>,
) -> Result<HttpResponse, Error> {
    let scope = &viewer.caller.scope;
    let cluster = match (&mode.0, viewer.caller.require_admin()) {
        (_, Err(_)) => None,
        (None, Ok(())) => Some(ClusterCard::off()),
        (Some((membership, lease)), Ok(())) => Some(ClusterCard::of(
            membership.node_id(),
            i64::try_from(lease.as_millis()).unwrap_or(i64::MAX),
            overview(&db, *lease).await?,
            db.parked().count().await?,
        )),
    };
    let quarantine = match viewer.caller.require_admin() {
        Err(_) => None,
        Ok(()) => {
            let webhooks = db.webhooks();
            let (total, newest) = futures_util::try_join!(
                webhooks.quarantine_count(),
                webhooks.quarantined(KEPT_SHOWN, Some(HEAD_READ))
            )?;
            Some(QuarantineCard {
                total,
                more: total > newest.len() as u64,
                newest: newest.into_iter().map(KeptLine::from).collect(),
            })
        }
    };
    let ready = db.readiness().await.map_err(|e| e.to_string());
    let log = db.log();
    let (log_end, checkpoints, letters, shops) = futures_util::try_join!(
        async { Ok::<_, Error>(log.end().await?) },
        async { Ok(log.checkpoints().await?) },
        async { Ok(db.runs().dead_letters(scope, 500).await?) },
        async { Ok(db.shops().list(scope).await?) },
    )?;
    let queues = bus
        .queues()
        .await
        .map(|depths| {
            depths
                .into_iter()
                .map(|q| QueueLine {
                    name: q.name,
                    messages: q.messages,
                    consumers: q.consumers,
                })
                .collect()
        })
        .map_err(|e| e.to_string());
    let shops = shops
        .into_iter()
        .map(|shop| ShopLine {
            synced: time(shop.synced_until),
            repaired: shop.sync_repaired,
            expires: time(shop.authorization_expires_at),
            withdrawn: time(shop.deauthorized_at),
            id: shop.id.as_str().to_owned(),
            name: shop.name,
            authorized: shop.authorized,
        })
        .collect();
    page(&SystemPage {
        who: Some(viewer.who()),
        section: "system",
        csrf: viewer.csrf.clone(),
        flash: query.done.clone(),
        problem: query.problem.clone(),
        ready,
        version: env!("CARGO_PKG_VERSION"),
        readers: checkpoints
            .into_iter()
            .map(|(name, at)| (name, at, (log_end - at).max(0)))
            .collect(),
        log_end,
        bus: bus.kind(),
        queues,
        dead_letters: letters.len(),
        shops,
        cluster,
        quarantine,
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(in crate::http) struct ReplayForm {
    csrf: String,
}

/// Reads a kept webhook again (administrators): back to the system page, saying what became
/// of it.
#[utoipa::path(
    tag = "dashboard",
    params(("id" = i64, Path, description = "A quarantined webhook's id")),
    request_body(content = ReplayForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "Back to the system page, saying what happened"))
)]
#[post("/system/quarantine/{id}/replay")]
pub(in crate::http) async fn replay_kept(
    viewer: Viewer,
    db: web::Data<Database>,
    registry: web::Data<RegistryHandle>,
    path: web::Path<i64>,
    form: web::Form<ReplayForm>,
) -> Result<HttpResponse, Error> {
    viewer.operate(&form.csrf)?;
    let id = path.into_inner();
    let flash = match crate::http::webhooks::replay_kept(&viewer.caller, &db, &registry, id).await {
        Ok(replayed) => (
            "done",
            format!(
                "Webhook #{id} read again and taken in: {}.",
                replayed.result
            ),
        ),
        Err(e @ (Error::Internal(_) | Error::Forbidden(_))) => return Err(e),
        Err(e) => ("problem", e.to_string()),
    };
    Ok(back("/ui/system", flash))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::Node;
    use crate::persistence::LeaseRow;

    fn node(id: &str, slots: usize) -> Node {
        Node {
            node_id: id.to_owned(),
            advertise_url: format!("http://{id}:8080"),
            live: true,
            heartbeat_age_ms: 120,
            slots,
            lease_ms: Some(if id == "node-b" { 10_000 } else { 5_000 }),
        }
    }

    fn lease(slot: i16, owner: &str, expires_in_ms: i64) -> LeaseRow {
        LeaseRow {
            slot,
            owner: Some(owner.to_owned()),
            epoch: 3,
            expires_in_ms: Some(expires_in_ms),
        }
    }

    #[test]
    fn the_slot_map_colours_slots_by_owner_and_marks_the_ones_between_owners() {
        let seen = Overview {
            // Listed most recently heard first, as the store reads them; coloured by name.
            nodes: vec![node("node-b", 1), node("node-a", 1)],
            leases: vec![
                lease(0, "node-a", 4_000),
                lease(1, "node-b", 4_000),
                lease(2, "node-c", -10),
            ],
        };
        let card = ClusterCard::of("node-a", 5_000, seen, 2);
        let classes: Vec<&str> = card.slots.iter().map(|s| s.class.as_str()).collect();
        assert_eq!(classes, ["owner-0", "owner-1", "unowned"]);
        assert_eq!(card.slots[1].title, "slot 1: node-b, epoch 3");
        assert_eq!(card.slots[2].title, "slot 2: no live owner, epoch 3");
        assert_eq!(
            card.summary,
            "Slots by owner: node-a holds 1, node-b holds 1, 1 without a live owner."
        );
        assert_eq!((card.unowned, card.handoffs, card.parked), (1, 6, 2));
        assert_eq!(card.nodes[0].id, "node-a");
        assert_eq!(card.nodes[0].heartbeat, "120 ms ago");
        let leases: Vec<_> = card
            .nodes
            .iter()
            .map(|n| (n.lease.as_str(), n.lease_differs))
            .collect();
        assert_eq!(
            leases,
            [("5 s", false), ("10 s", true)],
            "a node on another lease stands out"
        );
    }

    fn kept(event_type: Option<i64>, body: String) -> QuarantinedWebhook {
        QuarantinedWebhook {
            id: 7,
            reason: QuarantineReason::UnhandledType,
            detail: "why".into(),
            event_type,
            body_bytes: body.len(),
            body,
            received_at: DateTime::from_timestamp(1_765_000_000, 0).unwrap(),
        }
    }

    #[test]
    fn a_kept_webhook_names_its_type_and_shows_the_start_of_a_long_body() {
        let line = KeptLine::from(kept(Some(16), "é".repeat(BODY_SHOWN + 1)));
        assert_eq!(line.kind, "type 16");
        assert_eq!(line.reason, "type not handled");
        assert!(!line.unreadable);
        assert!(line.cut);
        assert_eq!(
            line.body.chars().count(),
            BODY_SHOWN,
            "cut between characters"
        );
        assert_eq!(
            line.bytes,
            2 * (BODY_SHOWN + 1),
            "the size is the body's, in bytes"
        );
        assert_eq!(line.received, "2025-12-06 05:46:40 UTC");

        let line = KeptLine::from(kept(Some(1), "{}".into()));
        assert_eq!(
            (line.kind.as_str(), line.cut),
            ("ORDER_STATUS_CHANGE", false)
        );
        assert_eq!(KeptLine::from(kept(None, "x".into())).kind, "—");

        // Only the head of a longer body was read: the page says it is cut, even where the
        // head's characters fill the line exactly.
        let mut head = kept(Some(16), "😀".repeat(BODY_SHOWN));
        head.body_bytes = HEAD_READ as usize + 4;
        let line = KeptLine::from(head);
        assert!(line.cut && line.body.chars().count() == BODY_SHOWN);
        assert_eq!(line.bytes, HEAD_READ as usize + 4);
    }

    #[test]
    fn a_heartbeat_reads_in_the_unit_a_person_would_use() {
        assert_eq!(heard(80), "80 ms ago");
        assert_eq!(heard(3_250), "3.2 s ago");
        assert_eq!(heard(300_000), "5 min ago");
        assert_eq!(heard(-5), "0 ms ago", "a clock a little ahead reads as now");
    }
}
