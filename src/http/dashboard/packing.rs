//! Packing slips to print: for the orders ticked on the orders page, all orders matching its
//! search, or one order from its page. The first sheet is the pick list (each SKU's units over
//! every slip); then a sheet per order, most urgent first: the shop, the order, TikTok's
//! ready-to-ship deadline, the recipient as a label prints it, the items one line per SKU with a
//! box to tick, the buyer's note, and, in a box no packer can miss, why the parcel must not
//! leave yet when it must not. Prices are left off: a slip travels in the parcel. A key that may
//! change orders is offered to tag the printed orders (`slip-printed` unless it says otherwise),
//! through the bulk actions' confirmation, so that the next list can leave them out.

use actix_web::{HttpResponse, get, web};
use serde::Deserialize;

use super::orders::ShopNames;
use super::session::Viewer;
use super::{Who, page};
use crate::domain::{
    Address, AfterSale, OrderId, PackLine, Search, hold_back, pick_list, slip_lines,
};
use crate::http::Error;
use crate::persistence::{Database, OrderFilter, OrderView};

/// The most slips one page prints.
pub const MAX_SLIPS: usize = 200;

/// Which orders' slips: `ids` (comma-separated), else every order matching `q`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(in crate::http) struct Which {
    /// Order ids, comma-separated.
    ids: Option<String>,
    /// A search in the order query syntax (when no `ids`).
    q: Option<String>,
}

impl Which {
    /// Where the slips of the orders a bulk form chose are printed.
    pub(super) fn href(ids: &[String], q: &str) -> String {
        let query = if ids.is_empty() {
            serde_urlencoded::to_string([("q", q)])
        } else {
            serde_urlencoded::to_string([("ids", ids.join(","))])
        };
        format!("/ui/packing-slips?{}", query.unwrap_or_default())
    }
}

/// One order's sheet.
pub struct Slip {
    id: String,
    shop: String,
    ordered: String,
    ship_by: Option<String>,
    /// Why the parcel must not leave yet, if it must not.
    hold: Option<String>,
    address: Option<Address>,
    lines: Vec<PackLine>,
    units: u32,
    note: Option<String>,
    /// TikTok's detail has not been fetched: nothing to pack from yet.
    no_detail: bool,
}

impl Slip {
    fn of(view: &OrderView, names: &ShopNames, request: Option<&AfterSale>) -> Self {
        let order = &view.order;
        let detail = view.detail.as_ref();
        let lines = detail.map(|d| slip_lines(&d.items)).unwrap_or_default();
        Self {
            id: order.id.as_str().to_owned(),
            shop: names
                .name(order.shop_id.as_str())
                .map_or_else(|| format!("Shop {}", order.shop_id), str::to_owned),
            // When the buyer ordered, as TikTok says; else when this daemon first heard of it.
            ordered: detail
                .and_then(|d| d.create_time)
                .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
                .unwrap_or(view.created_at)
                .format("%Y-%m-%d")
                .to_string(),
            ship_by: order
                .ship_by
                .map(|at| at.format("%Y-%m-%d %H:%M UTC").to_string()),
            hold: hold_back(
                &order.status,
                order.stage,
                order.stage_reason.as_deref(),
                detail.is_some(),
                request,
            ),
            address: detail
                .and_then(|d| d.recipient.as_ref())
                .map(Address::of)
                .filter(|a| !a.is_empty()),
            units: lines.iter().map(|l| l.units).sum(),
            lines,
            note: detail
                .and_then(|d| d.buyer_message.clone())
                .filter(|m| !m.trim().is_empty()),
            no_detail: detail.is_none(),
        }
    }
}

#[derive(askama::Template)]
#[template(path = "packing_slips.html")]
struct SlipsPage {
    who: Option<Who>,
    section: &'static str,
    picks: Vec<PackLine>,
    /// Units on the pick list.
    units: u32,
    /// Slips whose parcel may leave (the pick list's), and those held back.
    ready: usize,
    held: usize,
    slips: Vec<Slip>,
    /// Why nothing is printed: a bad id, or too many orders.
    problem: Option<String>,
    /// Whether the key may change orders: then the page offers to tag the slips' orders.
    operate: bool,
    csrf: String,
    /// The orders whose slips may leave, comma-separated (what the tag form tags).
    ready_ids: String,
}

/// The orders `which` names, as `viewer` may see them: an id it may not see is not found, and
/// a search matching more than [`MAX_SLIPS`] is refused rather than cut short.
async fn chosen(viewer: &Viewer, db: &Database, which: &Which) -> Result<Vec<OrderView>, Error> {
    let scope = &viewer.caller.scope;
    if let Some(ids) = which.ids.as_deref().filter(|ids| !ids.trim().is_empty()) {
        let mut ids = ids
            .split(',')
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(OrderId::parse)
            .collect::<Result<Vec<_>, _>>()?;
        // An order named twice gets one slip.
        let mut seen = std::collections::HashSet::new();
        ids.retain(|id| seen.insert(id.clone()));
        if ids.len() > MAX_SLIPS {
            return Err(Error::BadRequest(format!(
                "{} orders asked for: one page prints at most {MAX_SLIPS} slips",
                ids.len()
            )));
        }
        let orders = db.orders();
        let views =
            futures_util::future::try_join_all(ids.iter().map(|id| orders.view(scope, id))).await?;
        let missing: Vec<&str> = ids
            .iter()
            .zip(&views)
            .filter(|(_, view)| view.is_none())
            .map(|(id, _)| id.as_str())
            .collect();
        if !missing.is_empty() {
            return Err(Error::NotFound(format!("order {}", missing.join(", "))));
        }
        return Ok(views.into_iter().flatten().collect());
    }
    let filter = OrderFilter {
        search: Some(Search::parse(which.q.as_deref().unwrap_or_default())?),
        limit: MAX_SLIPS as u64 + 1,
        ..OrderFilter::default()
    };
    let views = db.orders().list_views(scope, &filter).await?;
    if views.len() > MAX_SLIPS {
        return Err(Error::BadRequest(format!(
            "more than {MAX_SLIPS} orders match: narrow the search (one page prints at most {MAX_SLIPS} slips)"
        )));
    }
    Ok(views)
}

/// The packing slips of the orders asked for, with their pick list, to print.
#[utoipa::path(
    tag = "dashboard",
    params(Which),
    responses((status = 200, description = "The pick list and a slip per order", body = String, content_type = "text/html"))
)]
#[get("/packing-slips")]
pub(in crate::http) async fn packing_slips(
    viewer: Viewer,
    db: web::Data<Database>,
    which: web::Query<Which>,
) -> Result<HttpResponse, Error> {
    let (chosen, shops) = futures_util::join!(chosen(&viewer, &db, &which), async {
        db.shops().list(&viewer.caller.scope).await
    });
    let mut views = match chosen {
        Ok(views) => views,
        // Said on the page, with the way back, rather than as a bare error.
        Err(Error::BadRequest(why)) => {
            let mut response = page(&SlipsPage {
                who: Some(viewer.who()),
                section: "orders",
                picks: Vec::new(),
                units: 0,
                ready: 0,
                held: 0,
                slips: Vec::new(),
                problem: Some(why),
                operate: false,
                csrf: String::new(),
                ready_ids: String::new(),
            })?;
            *response.status_mut() = actix_web::http::StatusCode::BAD_REQUEST;
            return Ok(response);
        }
        Err(other) => return Err(other),
    };
    let shops = shops?;
    // The most urgent first: by TikTok's ready-to-ship deadline, orders without one last.
    views.sort_by(|a, b| {
        let key = |v: &OrderView| {
            (
                v.order.ship_by.is_none(),
                v.order.ship_by,
                v.order.id.clone(),
            )
        };
        key(a).cmp(&key(b))
    });
    let names = ShopNames::from(&shops[..]);
    let ids: Vec<&str> = views.iter().map(|v| v.order.id.as_str()).collect();
    let requests = db.requests().open(&ids).await?;
    let slips: Vec<Slip> = views
        .iter()
        .map(|v| Slip::of(v, &names, requests.get(v.order.id.as_str())))
        .collect();
    let picks = pick_list(
        slips
            .iter()
            .filter(|s| s.hold.is_none())
            .map(|s| s.lines.as_slice()),
    );
    let held = slips.iter().filter(|s| s.hold.is_some()).count();
    let ready_ids = slips
        .iter()
        .filter(|s| s.hold.is_none())
        .map(|s| s.id.as_str())
        .collect::<Vec<_>>()
        .join(",");
    page(&SlipsPage {
        who: Some(viewer.who()),
        section: "orders",
        units: picks.iter().map(|p| p.units).sum(),
        picks,
        ready: slips.len() - held,
        held,
        slips,
        problem: None,
        operate: viewer.caller.role.may_operate(),
        csrf: viewer.csrf.clone(),
        ready_ids,
    })
}
