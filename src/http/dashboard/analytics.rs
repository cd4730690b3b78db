//! Analytics: orders created per hour, the stage funnel, time to ship, and the orders whose
//! TikTok shipping deadline is near or was missed. Each chart is SVG drawn here, with its data
//! as a table beside it (readable without the picture).

use actix_web::{HttpResponse, get, web};
use chrono::{Duration, Utc};
use serde::Deserialize;

use super::session::Viewer;
use super::{Who, page};
use crate::http::Error;
use crate::persistence::Database;

/// Chart size, in SVG units.
const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 160.0;

/// One bar of a chart: its label, value, and where it is drawn.
pub struct Bar {
    label: String,
    value: u64,
    x: String,
    y: String,
    width: String,
    height: String,
}

/// Bars side by side (columns) or one under another (rows), scaled to the largest value.
fn bars(data: &[(String, u64)], rows: bool) -> Vec<Bar> {
    let max = data.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1) as f64;
    let n = data.len().max(1) as f64;
    data.iter()
        .enumerate()
        .map(|(i, (label, value))| {
            let share = *value as f64 / max;
            let (x, y, width, height) = if rows {
                let band = HEIGHT / n;
                (0.0, i as f64 * band, share * WIDTH, band * 0.8)
            } else {
                let band = WIDTH / n;
                let height = share * HEIGHT;
                (i as f64 * band, HEIGHT - height, band * 0.8, height)
            };
            Bar {
                label: label.clone(),
                value: *value,
                x: format!("{x:.1}"),
                y: format!("{y:.1}"),
                width: format!("{width:.1}"),
                height: format!("{height:.1}"),
            }
        })
        .collect()
}

pub struct Risk {
    order_id: String,
    stage: String,
    deadline: String,
    hours_left: i64,
}

#[derive(askama::Template)]
#[template(path = "analytics.html")]
struct AnalyticsPage {
    who: Option<Who>,
    section: &'static str,
    days: u32,
    per_hour: Vec<Bar>,
    funnel: Vec<Bar>,
    ship_p50: String,
    ship_p90: String,
    shipped: u64,
    shipped_late: u64,
    overdue: u64,
    /// The orders list's "Late to ship" tab: the overdue orders themselves.
    late: String,
    at_risk: Vec<Risk>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(in crate::http) struct Window {
    /// Days back (1 to 90; 7 by default).
    days: Option<u32>,
}

fn hours(seconds: Option<f64>) -> String {
    seconds.map_or_else(|| "—".to_owned(), |s| format!("{:.1} h", s / 3600.0))
}

/// The analytics page.
#[utoipa::path(
    tag = "dashboard",
    params(Window),
    responses((status = 200, description = "The analytics page", body = String, content_type = "text/html"))
)]
#[get("/analytics")]
pub(in crate::http) async fn analytics_page(
    viewer: Viewer,
    db: web::Data<Database>,
    window: web::Query<Window>,
) -> Result<HttpResponse, Error> {
    let days = window.days.unwrap_or(7).clamp(1, 90);
    let now = Utc::now();
    let summary = db
        .analytics()
        .summary(
            &viewer.caller.scope,
            None,
            now - Duration::days(i64::from(days)),
        )
        .await?;
    // The last 24 hours, every hour shown (a quiet hour is a zero, not a gap).
    let per_hour: Vec<(String, u64)> = (0..24)
        .rev()
        .map(|back| {
            let hour = (now - Duration::hours(back))
                .format("%Y-%m-%d %H:00")
                .to_string();
            let n = summary.created_per_hour.get(&hour).copied().unwrap_or(0);
            (hour, n)
        })
        .collect();
    const FUNNEL: [&str; 8] = [
        "received",
        "validated",
        "stock_reserved",
        "label_purchased",
        "shipped",
        "in_transit",
        "delivered",
        "completed",
    ];
    let funnel: Vec<(String, u64)> = FUNNEL
        .iter()
        .chain(["on_hold", "exception", "cancelled"].iter())
        .map(|stage| {
            let n = summary.orders_by_stage.get(*stage).copied().unwrap_or(0);
            ((*stage).to_owned(), n)
        })
        .collect();
    page(&AnalyticsPage {
        who: Some(viewer.who()),
        section: "analytics",
        days,
        per_hour: bars(&per_hour, false),
        funnel: bars(&funnel, true),
        ship_p50: hours(summary.time_to_ship_seconds.p50),
        ship_p90: hours(summary.time_to_ship_seconds.p90),
        shipped: summary.time_to_ship_seconds.count,
        shipped_late: summary.sla_breaches.shipped_late,
        overdue: summary.sla_breaches.overdue_unshipped,
        late: super::orders::late_to_ship(),
        at_risk: summary
            .at_risk
            .into_iter()
            .map(|r| Risk {
                hours_left: (r.deadline - now).num_hours(),
                deadline: r.deadline.format("%Y-%m-%d %H:%M UTC").to_string(),
                order_id: r.order_id,
                stage: r.stage,
            })
            .collect(),
    })
}
