//! Shops, their stock, the workflow templates, dead letters and analytics, as GraphQL shows
//! them.

use async_graphql::SimpleObject;
use chrono::{DateTime, Utc};

use crate::analytics::{Percentiles as StorePercentiles, Summary};
use crate::inventory::StockLevel as StoreLevel;
use crate::persistence::Shop as StoreShop;
use crate::persistence::workflows::{Run, StepRecord};
use crate::workflow::Template;

/// A TikTok shop and its authorisation.
#[derive(SimpleObject)]
pub struct Shop {
    id: String,
    name: String,
    /// Whether TikTok tokens are stored for it.
    authorized: bool,
    deauthorized_at: Option<DateTime<Utc>>,
    authorization_expires_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    /// Up to when the poller has read the shop's orders from TikTok.
    synced_until: Option<DateTime<Utc>>,
    /// Drift: orders the poller found changed that no webhook had brought, over all polls.
    sync_repaired: i64,
}

impl From<StoreShop> for Shop {
    fn from(s: StoreShop) -> Self {
        Self {
            id: s.id.as_str().to_owned(),
            name: s.name,
            authorized: s.authorized,
            deauthorized_at: s.deauthorized_at,
            authorization_expires_at: s.authorization_expires_at,
            created_at: s.created_at,
            synced_until: s.synced_until,
            sync_repaired: s.sync_repaired,
        }
    }
}

/// Stock of one SKU of one shop.
#[derive(SimpleObject)]
pub struct StockLevel {
    shop_id: String,
    sku: String,
    on_hand: i64,
    reserved: i64,
    available: i64,
    low_stock_threshold: Option<i64>,
    /// Available at or under the threshold.
    low: bool,
    updated_at: DateTime<Utc>,
}

impl StockLevel {
    pub fn is_low(&self) -> bool {
        self.low
    }
}

impl From<StoreLevel> for StockLevel {
    fn from(l: StoreLevel) -> Self {
        Self {
            low: l.low_stock_threshold.is_some_and(|t| l.available <= t),
            shop_id: l.shop_id.as_str().to_owned(),
            sku: l.sku_id.as_str().to_owned(),
            on_hand: l.on_hand,
            reserved: l.reserved,
            available: l.available,
            low_stock_threshold: l.low_stock_threshold,
            updated_at: l.updated_at,
        }
    }
}

/// A workflow template: its steps, in order.
#[derive(SimpleObject)]
pub struct Workflow {
    name: String,
    description: String,
    steps: Vec<WorkflowTemplateStep>,
}

#[derive(SimpleObject)]
pub struct WorkflowTemplateStep {
    name: String,
    action: String,
    /// The condition (CEL) under which the step runs; always when null.
    when: Option<String>,
    max_attempts: u32,
}

impl From<&Template> for Workflow {
    fn from(t: &Template) -> Self {
        Self {
            name: t.name.clone(),
            description: t.description.clone(),
            steps: t
                .steps
                .iter()
                .map(|s| WorkflowTemplateStep {
                    name: s.name.clone(),
                    action: s.action.kind().to_owned(),
                    when: s.when.as_ref().map(|w| w.source().to_owned()),
                    max_attempts: s.retry.max_attempts,
                })
                .collect(),
        }
    }
}

/// A workflow step that gave up; `replayDeadLetter` sends it back.
#[derive(SimpleObject)]
pub struct DeadLetter {
    id: i64,
    order_id: String,
    shop_id: String,
    workflow: String,
    step: String,
    action: String,
    attempts: i32,
    error: Option<String>,
    failed_at: DateTime<Utc>,
}

impl From<(StepRecord, Run)> for DeadLetter {
    fn from((step, run): (StepRecord, Run)) -> Self {
        Self {
            id: step.id,
            order_id: run.order_id.as_str().to_owned(),
            shop_id: run.shop_id.as_str().to_owned(),
            workflow: run.template,
            step: step.name,
            action: step.action,
            attempts: step.attempts,
            error: step.detail,
            failed_at: step.finished_at,
        }
    }
}

/// Orders and their pace over a window.
#[derive(SimpleObject)]
pub struct Analytics {
    since: DateTime<Utc>,
    orders_by_status: Vec<StatusCount>,
    by_shop_and_day: Vec<ShopDay>,
    time_to_ship_seconds: Percentiles,
    processing_latency_ms: Percentiles,
    shipped_late: u64,
    /// Past TikTok's ready-to-ship deadline now, at a status short of AWAITING_COLLECTION.
    overdue_unshipped: u64,
}

#[derive(SimpleObject)]
pub struct StatusCount {
    status: String,
    orders: u64,
}

#[derive(SimpleObject)]
pub struct ShopDay {
    shop_id: String,
    day: String,
    created: u64,
    shipped: u64,
    transitions: u64,
}

#[derive(SimpleObject)]
pub struct Percentiles {
    count: u64,
    p50: Option<f64>,
    p90: Option<f64>,
    p99: Option<f64>,
}

impl From<StorePercentiles> for Percentiles {
    fn from(p: StorePercentiles) -> Self {
        Self {
            count: p.count,
            p50: p.p50,
            p90: p.p90,
            p99: p.p99,
        }
    }
}

impl From<Summary> for Analytics {
    fn from(s: Summary) -> Self {
        Self {
            since: s.since,
            orders_by_status: s
                .orders_by_status
                .into_iter()
                .map(|(status, orders)| StatusCount { status, orders })
                .collect(),
            by_shop_and_day: s
                .by_shop_and_day
                .into_iter()
                .map(|d| ShopDay {
                    shop_id: d.shop_id,
                    day: d.day,
                    created: d.created,
                    shipped: d.shipped,
                    transitions: d.transitions,
                })
                .collect(),
            time_to_ship_seconds: s.time_to_ship_seconds.into(),
            processing_latency_ms: s.processing_latency_ms.into(),
            shipped_late: s.sla_breaches.shipped_late,
            overdue_unshipped: s.sla_breaches.overdue_unshipped,
        }
    }
}
