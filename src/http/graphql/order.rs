//! An order as GraphQL shows it: its snapshot and detail, and what hangs off it (tags, history,
//! workflow run, shipment, stock reservations), each read when asked for.

use async_graphql::connection::{Connection, Edge};
use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, ID, Json, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::errors::{bad_input, fail};
use super::limits;
use super::loaders::{HistoryLoader, HistoryPage, RequestsLoader, TagsLoader};
use crate::commands::Commands;
use crate::domain::{Detail, Money as DomainMoney};
use crate::http::Caller;
use crate::http::orders::RequestBody as BuyerRequest;
use crate::http::requests::RejectReasonBody as RejectReason;
use crate::persistence::{Database, HistoryEntry, OrderView};

/// An order of a shop, as the daemon last recorded it.
pub struct Order(pub OrderView);

/// An amount in a currency, exact: `amount` is a decimal string (`"12.50"`), never a float.
#[derive(SimpleObject)]
#[graphql(name = "Money")]
pub struct Money {
    amount: String,
    /// ISO 4217 (`USD`, `GBP`).
    currency_code: String,
}

impl From<DomainMoney> for Money {
    fn from(m: DomainMoney) -> Self {
        Self {
            amount: m.to_string(),
            currency_code: m.currency().to_string(),
        }
    }
}

fn money(m: Option<DomainMoney>) -> Option<Money> {
    m.map(Money::from)
}

/// What the buyer pays, and how it adds up.
#[derive(SimpleObject)]
pub struct Payment {
    total: Money,
    subtotal: Money,
    shipping_fee: Money,
    seller_discount: Money,
    platform_discount: Money,
    tax: Option<Money>,
    original_total_product_price: Option<Money>,
    original_shipping_fee: Option<Money>,
    shipping_fee_seller_discount: Option<Money>,
    shipping_fee_platform_discount: Option<Money>,
    retail_delivery_fee: Option<Money>,
}

/// One unit of a SKU (TikTok lists each unit as its own line).
#[derive(SimpleObject)]
pub struct LineItem {
    id: String,
    sku: String,
    seller_sku: Option<String>,
    product_id: Option<String>,
    product_name: Option<String>,
    sku_name: Option<String>,
    sale_price: Option<Money>,
    original_price: Option<Money>,
    display_status: Option<String>,
    package_id: Option<String>,
}

/// One audit event: what changed, why (`cause`: the webhook, rule, user or integration), when.
#[derive(SimpleObject)]
pub struct HistoryEvent {
    /// 1 for the event that created the order, then 2, 3, …: the version it left the order at.
    seq: i64,
    kind: String,
    from_status: Option<String>,
    to_status: Option<String>,
    from_stage: Option<String>,
    to_stage: Option<String>,
    cause: String,
    payload: Json<serde_json::Value>,
    at: DateTime<Utc>,
}

impl From<HistoryEntry> for HistoryEvent {
    fn from(e: HistoryEntry) -> Self {
        Self {
            seq: e.seq,
            kind: e.kind,
            from_status: e.from_status.map(|s| s.to_string()),
            to_status: e.to_status.map(|s| s.to_string()),
            from_stage: e.from_stage.map(|s| s.as_str().to_owned()),
            to_stage: e.to_stage.map(|s| s.as_str().to_owned()),
            cause: e.cause,
            payload: Json(e.payload),
            at: e.at,
        }
    }
}

/// The order's workflow run: which template, where it is, and every step so far.
#[derive(SimpleObject)]
pub struct WorkflowRun {
    template: String,
    status: String,
    /// The step it is at (0-based).
    step: i32,
    attempts: i32,
    last_error: Option<String>,
    /// The SKU a `waiting` run waits for.
    waiting_for: Option<String>,
    next_at: DateTime<Utc>,
    priority: i32,
    steps: Vec<WorkflowStep>,
}

#[derive(SimpleObject)]
pub struct WorkflowStep {
    id: i64,
    name: String,
    action: String,
    status: String,
    attempts: i32,
    detail: Option<String>,
    finished_at: DateTime<Utc>,
}

/// The order's shipment and label.
#[derive(SimpleObject)]
pub struct Shipment {
    provider: String,
    provider_shipment_id: Option<String>,
    package_id: Option<String>,
    carrier: Option<String>,
    tracking_number: Option<String>,
    label_url: Option<String>,
    state: String,
    updated_at: DateTime<Utc>,
}

/// Units of a SKU held for the order.
#[derive(SimpleObject)]
pub struct Reservation {
    sku: String,
    quantity: i64,
    /// Whether the SKU's stock is tracked (an untracked SKU reserves nothing).
    tracked: bool,
    state: String,
    expires_at: DateTime<Utc>,
}

impl Order {
    fn detail(&self) -> Option<&Detail> {
        self.0.detail.as_ref()
    }
}

#[Object]
impl Order {
    async fn id(&self) -> ID {
        ID(self.0.order.id.as_str().to_owned())
    }

    async fn shop_id(&self) -> &str {
        self.0.order.shop_id.as_str()
    }

    /// TikTok's status (`AWAITING_SHIPMENT`, …).
    async fn status(&self) -> String {
        self.0.order.status.to_string()
    }

    /// Where fulfilment is (`validated`, `stock_reserved`, `on_hold`, `exception`, `shipped`, …).
    async fn stage(&self) -> &str {
        self.0.order.stage.as_str()
    }

    async fn stage_reason(&self) -> Option<&str> {
        self.0.order.stage_reason.as_deref()
    }

    /// Rises by one with every event; commands take the version they expect.
    async fn version(&self) -> i64 {
        self.0.order.version
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.order.updated_at
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// The total, once TikTok's detail named it.
    async fn total(&self) -> Option<Money> {
        money(self.0.order.total)
    }

    /// The money breakdown, once TikTok's detail gave it.
    async fn payment(&self) -> Option<Payment> {
        let p = self.detail()?.payment.as_ref()?;
        Some(Payment {
            total: p.total_amount.into(),
            subtotal: p.sub_total.into(),
            shipping_fee: p.shipping_fee.into(),
            seller_discount: p.seller_discount.into(),
            platform_discount: p.platform_discount.into(),
            tax: money(p.tax),
            original_total_product_price: money(p.original_total_product_price),
            original_shipping_fee: money(p.original_shipping_fee),
            shipping_fee_seller_discount: money(p.shipping_fee_seller_discount),
            shipping_fee_platform_discount: money(p.shipping_fee_platform_discount),
            retail_delivery_fee: money(p.retail_delivery_fee),
        })
    }

    /// The units bought (empty until TikTok's detail is fetched).
    async fn items(&self) -> Vec<LineItem> {
        let Some(detail) = self.detail() else {
            return Vec::new();
        };
        detail
            .items
            .iter()
            .map(|i| LineItem {
                id: i.id.clone(),
                sku: i.sku.as_str().to_owned(),
                seller_sku: i.seller_sku.clone(),
                product_id: i.product_id.clone(),
                product_name: i.product_name.clone(),
                sku_name: i.sku_name.clone(),
                sale_price: money(i.sale_price),
                original_price: money(i.original_price),
                display_status: i.display_status.clone(),
                package_id: i.package_id.clone(),
            })
            .collect()
    }

    /// The delivery address as TikTok gave it.
    async fn recipient(&self) -> Option<Json<serde_json::Value>> {
        self.detail()?.recipient.clone().map(Json)
    }

    async fn buyer_message(&self) -> Option<&str> {
        self.detail()?.buyer_message.as_deref()
    }

    /// Set by workflows and operators; searchable with `tag:`.
    async fn tags(&self, ctx: &Context<'_>) -> Result<Vec<String>> {
        let loader = ctx.data_unchecked::<DataLoader<TagsLoader>>();
        let id = self.0.order.id.as_str().to_owned();
        let tags = loader.load_one(id).await.map_err(failed)?;
        Ok(tags.unwrap_or_default())
    }

    /// The buyer's cancellation and return requests, oldest first.
    async fn requests(&self, ctx: &Context<'_>) -> Result<Vec<BuyerRequest>> {
        let loader = ctx.data_unchecked::<DataLoader<RequestsLoader>>();
        let id = self.0.order.id.as_str().to_owned();
        let requests = loader.load_one(id).await.map_err(failed)?;
        Ok(requests
            .unwrap_or_default()
            .into_iter()
            .map(BuyerRequest::from)
            .collect())
    }

    /// TikTok's reasons to reject buyer's request `request` (a `cancel_id` or `return_id`)
    /// for, where it stands: the codes `answerRequest` takes as `reason`, and their texts.
    /// Asked of TikTok (then kept a while); an error if the request waits for no answer.
    async fn reject_reasons(&self, ctx: &Context<'_>, request: ID) -> Result<Vec<RejectReason>> {
        let caller = ctx.data_unchecked::<Caller>();
        let commands = ctx.data_unchecked::<Commands>();
        let reasons = commands
            .reject_reasons(&caller.scope, self.0.order.id.clone(), request.as_str())
            .await
            .map_err(fail)?;
        Ok(reasons.iter().map(RejectReason::from).collect())
    }

    /// The audit trail, oldest first; `after` is an event's cursor.
    #[graphql(complexity = "limits::page(first, None, child_complexity)")]
    async fn history(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, HistoryEvent>> {
        let first = i64::from(page_size(first, None)?);
        let after = match after {
            None => 0,
            Some(cursor) => cursor
                .parse::<i64>()
                .ok()
                .filter(|seq| *seq >= 0)
                .ok_or_else(|| bad_input("after: not a cursor of this order's history"))?,
        };
        let page = HistoryPage {
            order_id: self.0.order.id.as_str().to_owned(),
            after,
            first,
        };
        let loader = ctx.data_unchecked::<DataLoader<HistoryLoader>>();
        let events = loader.load_one(page).await.map_err(failed)?;
        let more = self.0.order.version > after.saturating_add(first);
        let mut connection = Connection::new(after > 0, more);
        connection.edges = events
            .unwrap_or_default()
            .into_iter()
            .map(|e| Edge::new(e.seq.to_string(), HistoryEvent::from(e)))
            .collect();
        Ok(connection)
    }

    /// The order's workflow run and its steps, if a template took it.
    async fn workflow_run(&self, ctx: &Context<'_>) -> Result<Option<WorkflowRun>> {
        let db = ctx.data_unchecked::<Database>();
        let Some((run, steps)) = db.runs().of_order(&self.0.order.id).await.map_err(fail)? else {
            return Ok(None);
        };
        Ok(Some(WorkflowRun {
            template: run.template,
            status: run.status.as_str().to_owned(),
            step: run.step,
            attempts: run.attempts,
            last_error: run.last_error,
            waiting_for: run.waiting_for,
            next_at: run.next_at,
            priority: run.priority,
            steps: steps
                .into_iter()
                .map(|s| WorkflowStep {
                    id: s.id,
                    name: s.name,
                    action: s.action,
                    status: s.status.as_str().to_owned(),
                    attempts: s.attempts,
                    detail: s.detail,
                    finished_at: s.finished_at,
                })
                .collect(),
        }))
    }

    async fn shipment(&self, ctx: &Context<'_>) -> Result<Option<Shipment>> {
        let db = ctx.data_unchecked::<Database>();
        let shipment = db.shipments().get(&self.0.order.id).await.map_err(fail)?;
        Ok(shipment.map(|s| Shipment {
            provider: s.provider.to_string(),
            provider_shipment_id: s.provider_shipment_id,
            package_id: s.package_id,
            carrier: s.carrier,
            tracking_number: s.tracking_number,
            label_url: s.label_url,
            state: s.state.to_string(),
            updated_at: s.updated_at,
        }))
    }

    /// Stock held for the order, per SKU.
    async fn reservations(&self, ctx: &Context<'_>) -> Result<Vec<Reservation>> {
        let db = ctx.data_unchecked::<Database>();
        let lines = db
            .stock()
            .reservation(self.0.order.id.as_str())
            .await
            .map_err(fail)?;
        Ok(lines
            .into_iter()
            .map(|l| Reservation {
                sku: l.sku_id.as_str().to_owned(),
                quantity: l.quantity,
                tracked: l.tracked,
                state: l.state.to_string(),
                expires_at: l.expires_at,
            })
            .collect())
    }
}

/// A page size asked for with `first` or `last`: 1 to [`super::MAX_PAGE`], 10 when neither.
pub fn page_size(first: Option<i32>, last: Option<i32>) -> Result<i32> {
    let (name, size) = match (first, last) {
        (Some(_), Some(_)) => return Err(bad_input("give first or last, not both")),
        (Some(n), None) => ("first", n),
        (None, Some(n)) => ("last", n),
        (None, None) => return Ok(10),
    };
    if !(1..=super::MAX_PAGE).contains(&size) {
        return Err(bad_input(format!(
            "{name} must be 1 to {}",
            super::MAX_PAGE
        )));
    }
    Ok(size)
}

/// A batch load that failed.
fn failed(e: super::loaders::Failed) -> async_graphql::Error {
    fail(super::super::Error::Internal(anyhow::anyhow!("{e}")))
}
