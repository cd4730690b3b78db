//! `GET /api/v1/analytics/summary?days=N&shop_id=`: orders by status, per shop and day,
//! time-to-ship and processing-latency percentiles, SLA breaches. A shop key sees its shop.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{Caller, Error};
use crate::analytics::{Percentiles, ShopDay, SlaBreaches, Summary};
use crate::domain::ShopId;
use crate::persistence::Database;

/// The analytics summary of a window.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct SummaryBody {
    since: DateTime<Utc>,
    /// Current orders per TikTok status.
    orders_by_status: BTreeMap<String, u64>,
    /// Per shop and UTC day: orders created, shipped, and transitions seen.
    by_shop_and_day: Vec<ShopDayBody>,
    /// Seconds from the first AWAITING_SHIPMENT to shipped, over orders shipped in the window.
    time_to_ship_seconds: PercentilesBody,
    /// TikTok's event time to our durable record, over the window's transitions.
    processing_latency_ms: PercentilesBody,
    sla_breaches: SlaBody,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct ShopDayBody {
    shop_id: String,
    day: String,
    created: u64,
    shipped: u64,
    transitions: u64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct PercentilesBody {
    count: u64,
    p50: Option<f64>,
    p90: Option<f64>,
    p99: Option<f64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct SlaBody {
    /// Shipped in the window after TikTok's ready-to-ship deadline.
    shipped_late: u64,
    /// Past TikTok's ready-to-ship deadline now, at a status short of AWAITING_COLLECTION (the
    /// dashboard's "Late to ship" tab lists them).
    overdue_unshipped: u64,
}

impl From<Percentiles> for PercentilesBody {
    fn from(p: Percentiles) -> Self {
        Self {
            count: p.count,
            p50: p.p50,
            p90: p.p90,
            p99: p.p99,
        }
    }
}

impl From<Summary> for SummaryBody {
    fn from(s: Summary) -> Self {
        let SlaBreaches {
            shipped_late,
            overdue_unshipped,
        } = s.sla_breaches;
        Self {
            since: s.since,
            orders_by_status: s.orders_by_status,
            by_shop_and_day: s
                .by_shop_and_day
                .into_iter()
                .map(|d: ShopDay| ShopDayBody {
                    shop_id: d.shop_id,
                    day: d.day,
                    created: d.created,
                    shipped: d.shipped,
                    transitions: d.transitions,
                })
                .collect(),
            time_to_ship_seconds: s.time_to_ship_seconds.into(),
            processing_latency_ms: s.processing_latency_ms.into(),
            sla_breaches: SlaBody {
                shipped_late,
                overdue_unshipped,
            },
        }
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct SummaryQuery {
    /// How many days back (default 30).
    #[param(minimum = 1, maximum = 366)]
    days: Option<u32>,
    #[param(value_type = Option<ShopId>)]
    shop_id: Option<String>,
}

#[utoipa::path(
    tag = "analytics",
    params(SummaryQuery),
    responses((status = 200, description = "OK", body = SummaryBody))
)]
#[get("/analytics/summary")]
pub(super) async fn summary(
    caller: Caller,
    db: web::Data<Database>,
    query: web::Query<SummaryQuery>,
) -> Result<HttpResponse, Error> {
    let days = query.days.unwrap_or(30);
    if !(1..=366).contains(&days) {
        return Err(Error::BadRequest("days must be between 1 and 366".into()));
    }
    let asked = query.shop_id.as_deref().map(ShopId::parse).transpose()?;
    let since = Utc::now() - Duration::days(i64::from(days));
    let summary = db
        .analytics()
        .summary(&caller.scope, asked.as_ref(), since)
        .await?;
    Ok(HttpResponse::Ok().json(SummaryBody::from(summary)))
}
