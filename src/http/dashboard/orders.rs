//! The orders page: filters and the search syntax, saved views as tabs, cursor pages, a count
//! that stops at 10,000, and rows that update live (changed rows in place, newer ones on top)
//! without disturbing the rest of the page.

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::{HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};

use super::session::Viewer;
use super::{Who, page};
use crate::domain::{Deadline, Milestone, OrderId, OrderStatus, Search, ShopId, Stage};
use crate::http::Error;
use crate::persistence::{Database, OrderFilter, OrderSummary, Shop, cursor_of, parse_cursor};

/// Rows per page.
const PAGE: u64 = 50;
/// The count stops here ("10,000+").
const COUNT_CAP: u64 = 10_000;

/// The "Late to ship" tab's link (the analytics page's overdue count opens it).
pub fn late_to_ship() -> String {
    VIEWS
        .iter()
        .find(|(name, _)| *name == "Late to ship")
        .map(|(_, q)| view_href(q))
        .unwrap_or_default()
}

/// A view's link: the list with its search and no other filter.
fn view_href(q: &str) -> String {
    format!(
        "/ui/orders?{}",
        encoded(&Filters {
            q: q.to_owned(),
            ..Filters::default()
        })
    )
}

/// Views every list has, as tabs: a name and its search.
const VIEWS: [(&str, &str); 7] = [
    ("All", ""),
    ("Needs attention", "stage:exception"),
    // A cancellation, return or replacement the buyer asked for, or a returned parcel on its
    // way, that TikTok waits for the seller to answer.
    ("Buyer requests", "request:open"),
    ("On hold", "stage:on_hold"),
    ("To ship", "status:AWAITING_SHIPMENT -stage:on_hold"),
    // The orders whose ready-to-ship deadline is missed, as `Deadline::missed` says (and each
    // row's "late" mark): passed, at a status short of AWAITING_COLLECTION.
    (
        "Late to ship",
        "ship_by:<now (status:UNPAID OR status:ON_HOLD OR status:AWAITING_SHIPMENT OR status:PARTIALLY_SHIPPING)",
    ),
    ("Shipped", "stage:shipped"),
];

const STATUSES: [&str; 8] = [
    "UNPAID",
    "ON_HOLD",
    "AWAITING_SHIPMENT",
    "AWAITING_COLLECTION",
    "IN_TRANSIT",
    "DELIVERED",
    "COMPLETED",
    "CANCELLED",
];
const STAGES: [&str; 11] = [
    "received",
    "validated",
    "stock_reserved",
    "label_purchased",
    "shipped",
    "in_transit",
    "delivered",
    "completed",
    "on_hold",
    "cancelled",
    "exception",
];

/// The list's filters, as the form and its links carry them.
#[derive(Deserialize, Serialize, Default, Clone, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(in crate::http) struct Filters {
    /// A search in the order query syntax.
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub stage: String,
    #[serde(default)]
    pub shop: String,
    #[serde(default)]
    pub tag: String,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(in crate::http) struct Paging {
    /// The cursor of the previous page's last row.
    after: Option<String>,
    /// Only rows changed after the row with this cursor (what the live list adds on top).
    newer: Option<String>,
}

/// One row of the list.
pub struct Row {
    pub id: String,
    pub shop: String,
    /// The shop's name, where the list shows whose order it is (an administrator's).
    pub shop_name: Option<String>,
    pub status: String,
    pub stage: String,
    pub reason: Option<String>,
    pub version: i64,
    pub total: String,
    /// TikTok's ready-to-ship deadline ("—" without one), and whether it passed with the
    /// order not yet ready to ship.
    pub ship_by: String,
    pub ship_by_iso: String,
    pub late: bool,
    pub updated: String,
    pub updated_iso: String,
}

impl From<&OrderSummary> for Row {
    fn from(o: &OrderSummary) -> Self {
        Self {
            id: o.id.as_str().to_owned(),
            shop: o.shop_id.as_str().to_owned(),
            shop_name: None,
            status: o.status.to_string(),
            stage: o.stage.as_str().to_owned(),
            reason: o.stage_reason.clone(),
            version: o.version,
            total: o
                .total
                .map_or_else(|| "—".to_owned(), |m| format!("{m} {}", m.currency())),
            ship_by: o.ship_by.map_or_else(
                || "—".to_owned(),
                |at| at.format("%Y-%m-%d %H:%M").to_string(),
            ),
            ship_by_iso: o.ship_by.map(|at| at.to_rfc3339()).unwrap_or_default(),
            late: o.ship_by.is_some_and(|at| {
                Deadline {
                    milestone: Milestone::ReadyToShip,
                    at: at.timestamp(),
                }
                .missed(&o.status, chrono::Utc::now().timestamp())
            }),
            updated: o.updated_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            updated_iso: o.updated_at.to_rfc3339(),
        }
    }
}

impl Row {
    /// The row with its shop's name, if `names` has one.
    pub fn named(mut self, names: &ShopNames) -> Self {
        self.shop_name = names.0.get(&self.shop).cloned();
        self
    }
}

/// The names of the shops an administrator sees, by id (a shop's own session sees only its
/// own orders, and no shop column): its lists say whose each order is by name.
#[derive(Default)]
pub struct ShopNames(HashMap<String, String>);

impl ShopNames {
    pub async fn of(db: &Database, viewer: &Viewer) -> Result<Self, Error> {
        Ok(Self::from(&shown_shops(db, viewer).await?[..]))
    }

    /// Shop `id`'s name, if it has one.
    pub fn name(&self, id: &str) -> Option<&str> {
        self.0.get(id).map(String::as_str)
    }

    fn rows(&self, orders: &[OrderSummary]) -> Vec<Row> {
        orders.iter().map(|o| Row::from(o).named(self)).collect()
    }
}

impl From<&[Shop]> for ShopNames {
    fn from(shops: &[Shop]) -> Self {
        Self(
            shops
                .iter()
                .filter(|s| !s.name.trim().is_empty())
                .map(|s| (s.id.as_str().to_owned(), s.name.clone()))
                .collect(),
        )
    }
}

/// The shops whose orders a list names: every shop for an administrator; none for a shop's
/// own session.
async fn shown_shops(db: &Database, viewer: &Viewer) -> Result<Vec<Shop>, Error> {
    if !show_shop(viewer) {
        return Ok(Vec::new());
    }
    Ok(db.shops().list(&viewer.caller.scope).await?)
}

/// A shop the filter offers: its id, and how it is shown.
pub struct ShopChoice {
    id: String,
    label: String,
}

pub struct Tab {
    name: String,
    href: String,
    current: bool,
    /// A saved view's id (it can be removed); `None` for the built-in ones.
    saved: Option<i64>,
}

#[derive(askama::Template)]
#[template(path = "orders.html")]
struct OrdersPage {
    who: Option<Who>,
    operate: bool,
    section: &'static str,
    tabs: Vec<Tab>,
    filters: Filters,
    statuses: &'static [&'static str],
    stages: &'static [&'static str],
    shops: Vec<ShopChoice>,
    problem: Option<String>,
    /// Whether the count is asked for after the page (it may read up to 10,001 index entries;
    /// the page itself reads 50 rows).
    counting: bool,
    rows: Vec<Row>,
    show_shop: bool,
    live: bool,
    query: String,
    top: String,
    next: Option<String>,
    paged: bool,
    csrf: String,
    search: String,
    /// The packing slips of the orders the filters match.
    slips: String,
    actions: &'static [(&'static str, &'static str)],
}

#[derive(askama::Template)]
#[template(path = "order_rows.html")]
struct RowsFragment {
    rows: Vec<Row>,
    show_shop: bool,
    operate: bool,
}

#[derive(askama::Template)]
#[template(path = "order_row.html")]
struct RowFragment {
    row: Row,
    show_shop: bool,
    operate: bool,
}

/// The filters as one search: the query box ANDed with the status, stage, shop and tag chosen;
/// and its text (what a bulk action over "all matching" is given).
fn search_of(filters: &Filters) -> Result<(Option<Search>, String), Error> {
    let mut terms = Vec::new();
    if !filters.q.trim().is_empty() {
        terms.push(format!("({})", filters.q.trim()));
    }
    if !filters.status.is_empty() {
        terms.push(format!("status:{}", OrderStatus::parse(&filters.status)));
    }
    if !filters.stage.is_empty() {
        terms.push(format!("stage:{}", Stage::parse(&filters.stage)?.as_str()));
    }
    if !filters.shop.is_empty() {
        terms.push(format!("shop:{}", ShopId::parse(&filters.shop)?));
    }
    if !filters.tag.trim().is_empty() {
        terms.push(format!("tag:\"{}\"", filters.tag.trim()));
    }
    if terms.is_empty() {
        return Ok((None, String::new()));
    }
    let text = terms.join(" ");
    Ok((Some(Search::parse(&text)?), text))
}

fn order_filter(filters: &Filters) -> Result<(OrderFilter, String), Error> {
    let (search, text) = search_of(filters)?;
    let filter = OrderFilter {
        shop: (!filters.shop.is_empty())
            .then(|| ShopId::parse(&filters.shop))
            .transpose()?,
        search,
        limit: PAGE,
        ..OrderFilter::default()
    };
    Ok((filter, text))
}

fn encoded(filters: &Filters) -> String {
    serde_urlencoded::to_string(filters).unwrap_or_default()
}

fn show_shop(viewer: &Viewer) -> bool {
    matches!(viewer.caller.scope, crate::domain::Scope::Admin)
}

/// The orders, newest change first.
#[utoipa::path(
    tag = "dashboard",
    params(Filters, Paging),
    responses((status = 200, description = "The orders page", body = String, content_type = "text/html"))
)]
#[get("/orders")]
pub(in crate::http) async fn list(
    viewer: Viewer,
    db: web::Data<Database>,
    filters: web::Query<Filters>,
    paging: web::Query<Paging>,
) -> Result<HttpResponse, Error> {
    let filters = filters.into_inner();
    let query = encoded(&filters);
    let bare = filters.status.is_empty()
        && filters.stage.is_empty()
        && filters.tag.is_empty()
        && filters.shop.is_empty();
    let mut tabs: Vec<Tab> = VIEWS
        .iter()
        .map(|(name, q)| Tab {
            name: (*name).to_owned(),
            href: view_href(q),
            current: bare && filters.q == *q,
            saved: None,
        })
        .collect();
    for view in db.views().of_key(viewer.caller.key_id).await? {
        tabs.push(Tab {
            current: view.filters == query,
            href: format!("/ui/orders?{}", view.filters),
            name: view.name,
            saved: Some(view.id),
        });
    }
    let known = shown_shops(&db, &viewer).await?;
    let names = ShopNames::from(&known[..]);
    // A shop is offered by its name; by its id too where two share a name, or it has none.
    let shared = |name: &str| names.0.values().filter(|n| *n == name).count() > 1;
    let mut shops: Vec<ShopChoice> = known
        .iter()
        .map(|s| ShopChoice {
            label: match names.0.get(s.id.as_str()) {
                Some(name) if !shared(name) => name.clone(),
                Some(name) => format!("{name} ({})", s.id),
                None => s.id.to_string(),
            },
            id: s.id.as_str().to_owned(),
        })
        .collect();
    shops.sort_by_key(|s| s.label.to_lowercase());
    let mut listing = OrdersPage {
        who: Some(viewer.who()),
        operate: viewer.caller.role.may_operate(),
        section: "orders",
        tabs,
        filters: filters.clone(),
        statuses: &STATUSES,
        stages: &STAGES,
        shops,
        problem: None,
        counting: true,
        rows: Vec::new(),
        show_shop: show_shop(&viewer),
        live: paging.after.is_none(),
        query: query.clone(),
        top: String::new(),
        next: None,
        paged: paging.after.is_some(),
        csrf: viewer.csrf.clone(),
        search: String::new(),
        slips: String::new(),
        actions: &super::bulk::ACTIONS,
    };
    let mut filter = match order_filter(&filters) {
        Ok((filter, text)) => {
            listing.slips = super::packing::Which::href(&[], &text);
            listing.search = text;
            filter
        }
        Err(e) => {
            listing.problem = Some(e.to_string());
            listing.live = false;
            listing.counting = false;
            return page(&listing);
        }
    };
    filter.after = paging
        .after
        .as_deref()
        .map(parse_cursor)
        .transpose()
        .map_err(Error::from)?;
    let orders = db.orders().list(&viewer.caller.scope, &filter).await?;
    listing.top = orders.first().map(cursor_of).unwrap_or_default();
    listing.next = (orders.len() as u64 == PAGE)
        .then(|| orders.last())
        .flatten()
        .map(|last| format!("/ui/orders?{query}&after={}", cursor_of(last)));
    listing.rows = names.rows(&orders);
    page(&listing)
}

#[derive(askama::Template)]
#[template(path = "order_count.html")]
struct CountFragment {
    count: String,
}

/// How many orders match the filters, counting no further than 10,000 ("10,000+"): asked for
/// by the page once it is shown, so a large count never delays the list.
#[utoipa::path(
    tag = "dashboard",
    params(Filters),
    responses((status = 200, description = "The count", body = String, content_type = "text/html"))
)]
#[get("/orders/count")]
pub(in crate::http) async fn count(
    viewer: Viewer,
    db: web::Data<Database>,
    filters: web::Query<Filters>,
) -> Result<HttpResponse, Error> {
    let (filter, _) = order_filter(&filters)?;
    let counted = db
        .orders()
        .count_upto(&viewer.caller.scope, &filter, COUNT_CAP)
        .await?;
    page(&CountFragment {
        count: if counted > COUNT_CAP {
            "10,000+".into()
        } else {
            counted.to_string()
        },
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(in crate::http) struct ViewForm {
    csrf: String,
    /// What the tab says (1 to 64 characters).
    name: String,
    /// The filters, as the list's query string.
    filters: String,
}

/// Saves the list's filters as a view (a tab); the same name again replaces it.
#[utoipa::path(
    tag = "dashboard",
    request_body(content = ViewForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "Back to the list, on the saved view"))
)]
#[post("/views")]
pub(in crate::http) async fn save_view(
    viewer: Viewer,
    db: web::Data<Database>,
    form: web::Form<ViewForm>,
) -> Result<HttpResponse, Error> {
    viewer.check(&form.csrf)?;
    let name = form.name.trim();
    if name.is_empty() || name.chars().count() > 64 {
        return Err(Error::BadRequest(
            "a view's name is 1 to 64 characters".into(),
        ));
    }
    // Only the filters the list knows, re-encoded: nothing else rides along.
    let filters: Filters = serde_urlencoded::from_str(&form.filters)
        .map_err(|e| Error::BadRequest(format!("filters: {e}")))?;
    order_filter(&filters)?;
    let filters = encoded(&filters);
    db.views()
        .save(viewer.caller.key_id, name, &filters)
        .await?
        .map_err(Error::NotAllowed)?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, format!("/ui/orders?{filters}")))
        .finish())
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(in crate::http) struct RemoveForm {
    csrf: String,
}

/// Removes a saved view.
#[utoipa::path(
    tag = "dashboard",
    params(("id" = i64, Path)),
    request_body(content = RemoveForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "Back to the list"))
)]
#[post("/views/{id}/remove")]
pub(in crate::http) async fn remove_view(
    viewer: Viewer,
    db: web::Data<Database>,
    path: web::Path<i64>,
    form: web::Form<RemoveForm>,
) -> Result<HttpResponse, Error> {
    viewer.check(&form.csrf)?;
    if !db.views().remove(viewer.caller.key_id, *path).await? {
        return Err(Error::NotFound(format!("view {path}")));
    }
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/ui/orders"))
        .finish())
}

/// Rows changed after the one with cursor `newer` (newest first), for the live list to put on
/// top; 204 when there are none. `HX-Trigger: {"rowsTop": …}` gives the new top's cursor.
#[utoipa::path(
    tag = "dashboard",
    params(Filters, Paging),
    responses(
        (status = 200, description = "Table rows", body = String, content_type = "text/html"),
        (status = 204, description = "Nothing newer"),
    )
)]
#[get("/orders/rows")]
pub(in crate::http) async fn rows(
    viewer: Viewer,
    db: web::Data<Database>,
    filters: web::Query<Filters>,
    paging: web::Query<Paging>,
) -> Result<HttpResponse, Error> {
    let (mut filter, _) = order_filter(&filters)?;
    if let Some(newer) = paging.newer.as_deref().filter(|n| !n.is_empty()) {
        filter.after = Some(parse_cursor(newer)?);
        filter.oldest_first = true;
    }
    let mut orders = db.orders().list(&viewer.caller.scope, &filter).await?;
    if filter.oldest_first {
        orders.reverse();
    }
    let Some(top) = orders.first().map(cursor_of) else {
        return Ok(HttpResponse::NoContent().finish());
    };
    let names = ShopNames::of(&db, &viewer).await?;
    let mut response = page(&RowsFragment {
        rows: names.rows(&orders),
        show_shop: show_shop(&viewer),
        operate: viewer.caller.role.may_operate(),
    })?;
    let trigger = serde_json::json!({ "rowsTop": top }).to_string();
    response.headers_mut().insert(
        header::HeaderName::from_static("hx-trigger"),
        header::HeaderValue::from_str(&trigger).map_err(|e| Error::Internal(e.into()))?,
    );
    Ok(response)
}

/// One order's row, as it stands now (a live update of a row on the page).
#[utoipa::path(
    tag = "dashboard",
    params(("order_id" = OrderId, Path, description = "A TikTok order id")),
    responses((status = 200, description = "The row", body = String, content_type = "text/html"))
)]
#[get("/orders/{order_id}/row")]
pub(in crate::http) async fn one_row(
    viewer: Viewer,
    db: web::Data<Database>,
    path: web::Path<OrderId>,
) -> Result<HttpResponse, Error> {
    let id = path.into_inner();
    let view = db
        .orders()
        .view(&viewer.caller.scope, &id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("order {id}")))?;
    let names = ShopNames::of(&db, &viewer).await?;
    page(&RowFragment {
        row: Row::from(&view.order).named(&names),
        show_shop: show_shop(&viewer),
        operate: viewer.caller.role.may_operate(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_late_tab_holds_the_statuses_a_ready_to_ship_deadline_is_missed_at() {
        let (_, query) = VIEWS
            .iter()
            .find(|(name, _)| *name == "Late to ship")
            .unwrap();
        Search::parse(query).expect("the tab's query reads");
        for status in OrderStatus::KNOWN {
            assert_eq!(
                query.contains(&format!("status:{status} "))
                    || query.contains(&format!("status:{status})")),
                !Milestone::ReadyToShip.reached(&status),
                "{status}"
            );
        }
    }
}
