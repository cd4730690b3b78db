//! An order's page: status and stage, items and money, recipient, the audit timeline with
//! causes, the workflow run, shipment and reservations, and the commands a person gives it,
//! each checked against the version the page showed.

use std::collections::HashMap;

use actix_web::{HttpResponse, get, post, web};
use serde::Deserialize;

use super::orders::{Row, ShopNames};
use super::session::Viewer;
use super::{Who, back, page};
use crate::commands::{self, Command, Commands, RejectReasons};
use crate::domain::{
    Address, AfterSale, AfterSaleKind, Answer, Event, LineItem, Money, OrderId, ShopId, Tag,
    request,
};
use crate::http::Error;
use crate::integrations::shipping::Shipping;
use crate::persistence::{Database, HistoryEntry};
use crate::workflow::run::Status as RunStatus;

/// Line items alike (one SKU at one price in one package) as one line: TikTok sends a line
/// item per unit.
pub struct ItemLine {
    /// The seller's own code for the SKU, when TikTok has one.
    seller_sku: Option<String>,
    sku: String,
    product: String,
    quantity: u32,
    price: String,
    package: String,
}

impl ItemLine {
    /// The same SKU, product, price and package: one more unit of the same line.
    fn alike(&self, other: &Self) -> bool {
        (&self.sku, &self.product, &self.price, &self.package)
            == (&other.sku, &other.product, &other.price, &other.package)
    }
}

/// `items` as lines of alike units, in the order TikTok listed them.
fn item_lines(items: &[LineItem]) -> Vec<ItemLine> {
    let mut lines: Vec<ItemLine> = Vec::new();
    for item in items {
        let line = ItemLine {
            seller_sku: item.seller_sku.clone().filter(|s| !s.trim().is_empty()),
            sku: item.sku.as_str().to_owned(),
            product: item.product_label(),
            quantity: 1,
            price: item.sale_price.map(shown).unwrap_or_default(),
            package: item.package_id.clone().unwrap_or_default(),
        };
        match lines.iter_mut().find(|l| l.alike(&line)) {
            Some(alike) => alike.quantity += 1,
            None => lines.push(line),
        }
    }
    lines
}

/// One of TikTok's deadlines for the order, for a person: when, how far off, and whether it
/// was missed.
pub struct DeadlineLine {
    label: &'static str,
    at: String,
    at_iso: String,
    /// "in 1 d 4 h", "35 min ago".
    relative: String,
    missed: bool,
}

/// `seconds` from now as a person says it, to the two largest units: "in 1 d 4 h", "in 35
/// min", "2 h 5 min ago"; under a minute either way, "now".
fn relative(seconds: i64) -> String {
    let n = seconds.unsigned_abs();
    let (d, h, m) = (n / 86_400, n % 86_400 / 3_600, n % 3_600 / 60);
    let span = match (d, h, m) {
        (0, 0, 0) => return "now".to_owned(),
        (0, 0, m) => format!("{m} min"),
        (0, h, 0) => format!("{h} h"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, 0, _) => format!("{d} d"),
        (d, h, _) => format!("{d} d {h} h"),
    };
    if seconds > 0 {
        format!("in {span}")
    } else {
        format!("{span} ago")
    }
}

/// A time TikTok gave in unix seconds, as the page shows times.
fn moment(unix: i64) -> Option<(String, String)> {
    let at = chrono::DateTime::from_timestamp(unix, 0)?;
    Some((at.format("%Y-%m-%d %H:%M UTC").to_string(), at.to_rfc3339()))
}

pub struct HistoryLine {
    at: String,
    at_iso: String,
    kind: String,
    change: Option<String>,
    cause: String,
}

/// A buyer's request awaiting the seller.
pub struct RequestLine {
    /// TikTok's `cancel_id` or `return_id`.
    id: String,
    summary: String,
    status: String,
    /// When TikTok last changed it.
    since: Option<(String, String)>,
    cancellation: bool,
    /// The seller's answer since TikTok last reported it, which TikTok has yet to confirm.
    answered: Option<String>,
    /// TikTok's reasons to reject it for (code, text); none if TikTok could not list them now,
    /// when the reason is typed.
    reasons: Vec<(String, String)>,
}

/// A history entry about a buyer's request: TikTok's report of it, or the seller's answer.
fn request_event(entry: &HistoryEntry) -> Option<Event> {
    if !matches!(
        entry.kind.as_str(),
        "cancellation_updated" | "return_updated" | "request_answered" | "answer_failed"
    ) {
        return None;
    }
    Event::deserialize(&entry.payload).ok()
}

/// The requests still waiting for the seller, each with the answer given since TikTok last
/// reported it (an answer TikTok refused is no answer).
fn open_requests(events: &[Option<Event>]) -> Vec<RequestLine> {
    let mut answers: HashMap<&str, &Answer> = HashMap::new();
    for event in events.iter().flatten() {
        match event {
            Event::AfterSaleUpdated { update } => {
                answers.remove(update.id.as_str());
            }
            Event::RequestAnswered { answer } => {
                answers.insert(&answer.request, answer);
            }
            Event::AnswerFailed { request, .. } => {
                answers.remove(request.as_str());
            }
            _ => {}
        }
    }
    let updates = events.iter().flatten().filter_map(|e| match e {
        Event::AfterSaleUpdated { update } => Some(update.clone()),
        _ => None,
    });
    request::latest(updates)
        .into_iter()
        .filter(AfterSale::awaits_seller)
        .map(|r| RequestLine {
            summary: r.summary(),
            status: r.status.clone(),
            since: moment(r.time),
            cancellation: r.kind == AfterSaleKind::Cancellation,
            answered: answers.get(r.id.as_str()).map(|a| a.summary()),
            reasons: Vec::new(),
            id: r.id,
        })
        .collect()
}

/// Fills in TikTok's reasons to reject each request for, asked together (kept a while, so a
/// page rendered again asks nothing); a request TikTok cannot list them for within a second
/// keeps none, and its reason is typed.
async fn offer_reasons(commands: &Commands, shop: &ShopId, lines: &mut [RequestLine]) {
    let asked = lines.iter().map(|line| {
        let wait = RejectReasons::PAGE_WAIT;
        commands.reasons.within(wait, shop, &line.id, &line.status)
    });
    let listed = futures_util::future::join_all(asked).await;
    for (line, reasons) in lines.iter_mut().zip(listed) {
        if let Some(reasons) = reasons {
            line.reasons = reasons
                .iter()
                .map(|r| (r.name.clone(), r.text.clone()))
                .collect();
        }
    }
}

/// A request event's line in the order's history.
fn request_change(event: &Event) -> Option<String> {
    match event {
        Event::AfterSaleUpdated { update } => {
            Some(format!("{}: {}", update.summary(), update.status))
        }
        Event::RequestAnswered { answer } => Some(answer.summary()),
        Event::AnswerFailed { request, error } => {
            Some(format!("TikTok refused the answer to {request}: {error}"))
        }
        _ => None,
    }
}

pub struct RunView {
    template: String,
    status: String,
    error: Option<String>,
    steps: Vec<StepLine>,
}

pub struct StepLine {
    name: String,
    action: String,
    status: String,
    attempts: i32,
    detail: String,
}

pub struct ShipmentView {
    state: String,
    carrier: String,
    tracking: String,
    label: Option<String>,
    /// TikTok ships it: its label can be fetched from TikTok.
    tiktok: bool,
}

/// The recipient as a label prints it, and TikTok's fields as they came.
pub struct RecipientView {
    address: Address,
    raw: String,
}

pub struct ReservationLine {
    sku: String,
    quantity: i64,
    state: String,
    expires: String,
}

#[derive(askama::Template)]
#[template(path = "order.html")]
struct OrderPage {
    who: Option<Who>,
    operate: bool,
    section: &'static str,
    csrf: String,
    order: Row,
    done: Option<String>,
    problem: Option<String>,
    tags: Vec<String>,
    items: Vec<ItemLine>,
    money: Vec<(&'static str, String)>,
    deadlines: Vec<DeadlineLine>,
    /// What the buyer wrote with the order.
    buyer_message: Option<String>,
    /// A pre-order's release: when the product comes out.
    release: Option<(String, String)>,
    recipient: Option<RecipientView>,
    history: Vec<HistoryLine>,
    /// The cancellation and return requests TikTok waits for the seller to answer.
    open_requests: Vec<RequestLine>,
    run: Option<RunView>,
    run_failed: bool,
    cancellable: bool,
    shipment: Option<ShipmentView>,
    reservations: Vec<ReservationLine>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(in crate::http) struct Flash {
    /// What the last command did.
    done: Option<String>,
    /// Why the last command was refused.
    problem: Option<String>,
    /// The version the page shows: if the order is still at it, 204 (the live page keeps what
    /// it has, including what the person is typing).
    seen: Option<i64>,
}

fn shown(m: Money) -> String {
    format!("{m} {}", m.currency())
}

/// The order's page.
#[utoipa::path(
    tag = "dashboard",
    params(("order_id" = OrderId, Path, description = "A TikTok order id"), Flash),
    responses((status = 200, description = "The order's page", body = String, content_type = "text/html"))
)]
#[get("/orders/{order_id}")]
pub(in crate::http) async fn show(
    viewer: Viewer,
    db: web::Data<Database>,
    commands: web::Data<Commands>,
    path: web::Path<OrderId>,
    flash: web::Query<Flash>,
) -> Result<HttpResponse, Error> {
    let id = path.into_inner();
    let scope = &viewer.caller.scope;
    let record = db
        .orders()
        .detail(scope, &id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("order {id}")))?;
    if flash.seen == Some(record.order.version) {
        return Ok(HttpResponse::NoContent().finish());
    }
    let (history, run, shipment, reservations, names) = futures_util::try_join!(
        async { Ok::<_, Error>(db.orders().history(scope, &id).await?.unwrap_or_default()) },
        async { Ok(db.runs().of_order(&id).await?) },
        async { Ok(db.shipments().get(&id).await?) },
        async { Ok(db.stock().reservation(id.as_str()).await?) },
        ShopNames::of(&db, &viewer),
    )?;
    let detail = record.detail.as_ref();
    let items = detail.map(|d| item_lines(&d.items)).unwrap_or_default();
    let now = chrono::Utc::now().timestamp();
    let deadlines = detail
        .map(|d| d.deadlines())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|deadline| {
            let (at, at_iso) = moment(deadline.at)?;
            Some(DeadlineLine {
                label: deadline.milestone.label(),
                at,
                at_iso,
                relative: relative(deadline.at - now),
                missed: deadline.missed(&record.order.status, now),
            })
        })
        .collect();
    let buyer_message = detail
        .and_then(|d| d.buyer_message.clone())
        .filter(|m| !m.trim().is_empty());
    let release = detail
        .filter(|d| d.order_type.as_deref() == Some("PRE_ORDER"))
        .and_then(|d| d.release_date)
        .and_then(moment);
    let money = detail
        .and_then(|d| d.payment.as_ref())
        .map(|p| {
            let mut lines = vec![
                ("Subtotal", shown(p.sub_total)),
                ("Shipping", shown(p.shipping_fee)),
                ("Seller discount", shown(p.seller_discount)),
                ("Platform discount", shown(p.platform_discount)),
            ];
            if let Some(tax) = p.tax {
                lines.push(("Tax", shown(tax)));
            }
            lines.push(("Total", shown(p.total_amount)));
            lines
        })
        .unwrap_or_default();
    let recipient = detail
        .and_then(|d| d.recipient.as_ref())
        .map(|r| RecipientView {
            address: Address::of(r),
            raw: serde_json::to_string_pretty(r).unwrap_or_default(),
        });
    let events: Vec<Option<Event>> = history.iter().map(request_event).collect();
    let mut open_requests = open_requests(&events);
    if viewer.caller.role.may_operate() {
        offer_reasons(&commands, &record.order.shop_id, &mut open_requests).await;
    }
    let history = history
        .into_iter()
        .zip(events)
        .map(|(e, event)| HistoryLine {
            at: e.at.format("%Y-%m-%d %H:%M:%S").to_string(),
            at_iso: e.at.to_rfc3339(),
            change: match (&e.from_stage, &e.to_stage, &e.to_status) {
                (Some(from), Some(to), _) if from != to => {
                    Some(format!("{} → {}", from.as_str(), to.as_str()))
                }
                (None, Some(to), Some(status)) => Some(format!("{status}, {}", to.as_str())),
                _ => event.as_ref().and_then(request_change),
            },
            kind: e.kind,
            cause: e.cause,
        })
        .collect();
    let run_failed = run
        .as_ref()
        .is_some_and(|(r, _)| r.status == RunStatus::Failed);
    let run = run.map(|(r, steps)| RunView {
        template: r.template,
        status: r.status.as_str().to_owned(),
        error: r.last_error,
        steps: steps
            .into_iter()
            .map(|s| StepLine {
                name: s.name,
                action: s.action,
                status: s.status.as_str().to_owned(),
                attempts: s.attempts,
                detail: s.detail.unwrap_or_default(),
            })
            .collect(),
    });
    let cancellable = record.order.status.seller_may_cancel();
    page(&OrderPage {
        who: Some(viewer.who()),
        operate: viewer.caller.role.may_operate(),
        section: "orders",
        csrf: viewer.csrf.clone(),
        order: Row::from(&record.order).named(&names),
        done: flash.done.clone(),
        problem: flash.problem.clone(),
        tags: record.tags,
        items,
        money,
        deadlines,
        buyer_message,
        release,
        recipient,
        history,
        open_requests,
        run,
        run_failed,
        cancellable,
        shipment: shipment.map(|s| ShipmentView {
            state: s.state.to_string(),
            carrier: s.carrier.unwrap_or_default(),
            tracking: s.tracking_number.unwrap_or_default(),
            label: s.label_url,
            tiktok: s.provider == crate::domain::ShipmentProvider::Tiktok,
        }),
        reservations: reservations
            .into_iter()
            .map(|r| ReservationLine {
                sku: r.sku_id.as_str().to_owned(),
                quantity: r.quantity,
                state: r.state.to_string(),
                expires: r.expires_at.format("%Y-%m-%d %H:%M").to_string(),
            })
            .collect(),
    })
}

/// A command's form: the page's form token, the version it showed, and what the command takes.
#[derive(Deserialize, utoipa::ToSchema)]
pub(in crate::http) struct CommandForm {
    csrf: String,
    version: i64,
    reason: Option<String>,
    add: Option<String>,
    remove: Option<String>,
    /// `approve` and `reject`: the buyer's request answered.
    request: Option<String>,
}

fn tags(raw: Option<&str>) -> Result<Vec<Tag>, Error> {
    raw.map(str::trim)
        .filter(|t| !t.is_empty())
        .map(Tag::parse)
        .transpose()
        .map(|t| t.into_iter().collect())
        .map_err(Error::from)
}

/// Hold, release, tag, cancel or retry the order, at the version the page showed; back to the
/// order's page saying what happened (a conflict says the order moved on).
/// The order's shipping label: fetched from TikTok the first time (TikTok shipping), then a
/// redirect to it; back to the order's page saying why if there is none.
#[utoipa::path(
    tag = "dashboard",
    params(("order_id" = OrderId, Path, description = "A TikTok order id")),
    responses((status = 303, description = "To the label, or back to the order's page"))
)]
#[get("/orders/{order_id}/label")]
pub(in crate::http) async fn fetch_label(
    viewer: Viewer,
    db: web::Data<Database>,
    shipping: web::Data<Shipping>,
    path: web::Path<OrderId>,
) -> Result<HttpResponse, Error> {
    let id = viewer.caller.visible_order(&db, path.into_inner()).await?;
    let page = format!("/ui/orders/{id}");
    Ok(match shipping.label(&id).await {
        Ok(Some(url)) => HttpResponse::SeeOther()
            .insert_header((actix_web::http::header::LOCATION, url))
            .finish(),
        Ok(None) => back(&page, ("problem", "This order has no label yet".into())),
        Err(e) => back(
            &page,
            (
                "problem",
                format!(
                    "TikTok did not give the label: {}",
                    crate::telemetry::error_chain(&e)
                ),
            ),
        ),
    })
}

#[utoipa::path(
    tag = "dashboard",
    params(
        ("order_id" = OrderId, Path, description = "A TikTok order id"),
        ("action" = String, Path, description = "`hold`, `release`, `tags`, `cancel`, `retry`, `approve` or `reject` (a buyer's request)"),
    ),
    request_body(content = CommandForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "Back to the order's page, with what happened"))
)]
#[post("/orders/{order_id}/{action}")]
pub(in crate::http) async fn command(
    viewer: Viewer,
    commands: web::Data<Commands>,
    path: web::Path<(OrderId, String)>,
    form: web::Form<CommandForm>,
) -> Result<HttpResponse, Error> {
    viewer.operate(&form.csrf)?;
    let (id, action) = path.into_inner();
    let reason =
        || commands::reason(form.reason.as_deref().unwrap_or_default()).map_err(Error::from);
    let formed = match action.as_str() {
        "hold" => reason().map(|reason| (Command::Hold { reason }, "Held")),
        "release" => Ok((Command::Release, "Released")),
        "cancel" => reason().map(|reason| {
            (
                Command::Cancel { reason },
                "TikTok accepted the cancellation",
            )
        }),
        "retry" => Ok((Command::RetryWorkflow, "The workflow runs again")),
        verb @ ("approve" | "reject") => Command::answer(
            form.request.as_deref().unwrap_or_default(),
            verb == "approve",
            form.reason.as_deref(),
        )
        .map(|command| (command, "Your answer went to TikTok"))
        .map_err(Error::from),
        "tags" => tags(form.add.as_deref()).and_then(|add| {
            let remove = tags(form.remove.as_deref())?;
            if add.is_empty() && remove.is_empty() {
                return Err(Error::BadRequest("give a tag to add or remove".into()));
            }
            Ok((Command::Tag { add, remove }, "Tags changed"))
        }),
        other => return Err(Error::NotFound(format!("order action {other}"))),
    };
    let who = viewer.caller.who();
    let outcome = match formed {
        Ok((command, done)) => commands
            .run(who, id.clone(), form.version, command)
            .await
            .map(|_| done)
            .map_err(Error::from),
        Err(e) => Err(e),
    };
    let flash = match outcome {
        Ok(done) => ("done", done.to_owned()),
        Err(Error::Conflict(_)) => (
            "problem",
            "This order changed after the page showed it, so nothing was done. Here it is as it \
             stands now; try again if it still applies."
                .to_owned(),
        ),
        Err(e @ (Error::Internal(_) | Error::NotFound(_))) => return Err(e),
        Err(e) => ("problem", e.to_string()),
    };
    Ok(back(&format!("/ui/orders/{id}"), flash))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_from_now_reads_in_its_two_largest_units() {
        assert_eq!(relative(30), "now");
        assert_eq!(relative(-59), "now");
        assert_eq!(relative(35 * 60), "in 35 min");
        assert_eq!(relative(-(2 * 3_600 + 5 * 60)), "2 h 5 min ago");
        assert_eq!(relative(3 * 3_600), "in 3 h");
        assert_eq!(relative(86_400 + 4 * 3_600 + 59), "in 1 d 4 h");
        assert_eq!(relative(-3 * 86_400 - 30 * 60), "3 d ago");
    }
}
