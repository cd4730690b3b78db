//! The analytics read model: the transitions the log holds (each commit's
//! `order.transition.*` effect, counted at its commit time), and the summary served by
//! `GET /api/v1/analytics/summary`.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Timelike, Utc};
use entities::{order_events, orders};
use sea_orm::{ColumnTrait, EntityTrait, JoinType, QueryFilter, QueryOrder, QuerySelect};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::domain::{Milestone, Scope, ShopId};
use crate::persistence::{Database, Error};

/// A transition as the summary counts it: a commit's `order.transition.*` effect.
#[derive(Debug, Clone)]
pub struct TransitionRecord {
    pub order_id: String,
    pub shop_id: String,
    pub status: String,
    pub stage: String,
    /// From TikTok's `update_time` to the commit.
    pub latency_ms: Option<i64>,
    /// The commit's time.
    pub recorded_at: DateTime<Utc>,
    /// The order's ready-to-ship deadline (unix seconds), if it has one.
    pub deadline: Option<i64>,
}

/// The fields of a transition effect the summary reads, as the log stores it (borrowed from
/// the row's text where no escape forces a copy).
#[derive(Deserialize)]
struct StoredTransition<'a> {
    #[serde(borrow)]
    order_id: Cow<'a, str>,
    #[serde(borrow)]
    shop_id: Cow<'a, str>,
    #[serde(borrow)]
    status: Cow<'a, str>,
    #[serde(borrow)]
    stage: Cow<'a, str>,
    update_time: Option<i64>,
}

/// How a transition's routing key starts, as JSON text.
const TRANSITION_KEY: &str = "\"order.transition.";

impl TransitionRecord {
    /// The transitions among a log row's effects (`[[routing key, effect], …]`; only the
    /// transitions are parsed); an error names the position whose effects no code of ours
    /// wrote.
    fn read(
        position: i64,
        effects: &str,
        committed: DateTime<Utc>,
        deadline: Option<i64>,
    ) -> Result<Vec<Self>, Error> {
        let unreadable = |e: serde_json::Error| {
            Error::Db(sea_orm::DbErr::Custom(format!(
                "log position {position}: effects are not [[routing key, effect], …]: {e}"
            )))
        };
        let pairs: Vec<(&RawValue, &RawValue)> =
            serde_json::from_str(effects).map_err(unreadable)?;
        pairs
            .into_iter()
            .filter(|(key, _)| key.get().starts_with(TRANSITION_KEY))
            .map(|(_, effect)| {
                let t: StoredTransition<'_> =
                    serde_json::from_str(effect.get()).map_err(unreadable)?;
                Ok(Self {
                    latency_ms: t
                        .update_time
                        .map(|at| committed.timestamp_millis() - at * 1000),
                    order_id: t.order_id.into_owned(),
                    shop_id: t.shop_id.into_owned(),
                    status: t.status.into_owned(),
                    stage: t.stage.into_owned(),
                    recorded_at: committed,
                    deadline,
                })
            })
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub since: DateTime<Utc>,
    /// Current orders per TikTok status.
    pub orders_by_status: BTreeMap<String, u64>,
    /// Per shop and UTC day: orders created, shipped, and transitions seen.
    pub by_shop_and_day: Vec<ShopDay>,
    /// Seconds from the first AWAITING_SHIPMENT to shipped, over orders shipped in the window.
    pub time_to_ship_seconds: Percentiles,
    /// TikTok's event time to our durable record, over the window's transitions.
    pub processing_latency_ms: Percentiles,
    pub sla_breaches: SlaBreaches,
    /// Current orders per stage (the fulfilment funnel).
    pub orders_by_stage: BTreeMap<String, u64>,
    /// Orders created per UTC hour (`YYYY-MM-DD HH:00`) over the window.
    pub created_per_hour: BTreeMap<String, u64>,
    /// Orders awaiting shipment whose ready-to-ship deadline falls in the next 24 hours.
    pub at_risk: Vec<AtRisk>,
}

/// An order whose TikTok ready-to-ship deadline is near.
#[derive(Debug, Clone, PartialEq)]
pub struct AtRisk {
    pub order_id: String,
    pub shop_id: String,
    pub stage: String,
    pub deadline: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopDay {
    pub shop_id: String,
    pub day: String,
    pub created: u64,
    pub shipped: u64,
    pub transitions: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Percentiles {
    pub count: u64,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
}

impl Percentiles {
    fn of(mut values: Vec<f64>) -> Self {
        values.sort_by(f64::total_cmp);
        let at = |q: f64| {
            (!values.is_empty()).then(|| {
                values[((values.len() as f64 * q).ceil() as usize).clamp(1, values.len()) - 1]
            })
        };
        Self {
            count: values.len() as u64,
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SlaBreaches {
    /// Shipped in the window after TikTok's ready-to-ship deadline.
    pub shipped_late: u64,
    /// Past TikTok's ready-to-ship deadline now, at a status short of it (not yet handed to
    /// TikTok as ready to ship).
    pub overdue_unshipped: u64,
}

const SHIPPED_STAGES: [&str; 4] = ["shipped", "in_transit", "delivered", "completed"];

/// The store of the analytics read model, over the shared pool.
#[derive(Clone, Copy)]
pub struct AnalyticsStore<'a> {
    db: &'a Database,
}

impl Database {
    pub fn analytics(&self) -> AnalyticsStore<'_> {
        AnalyticsStore { db: self }
    }
}

impl AnalyticsStore<'_> {
    /// The summary since `since`, for one shop or all.
    pub async fn summary(
        &self,
        scope: &Scope,
        asked: Option<&ShopId>,
        since: DateTime<Utc>,
    ) -> Result<Summary, Error> {
        let shop = scope.narrow(asked).map(ShopId::as_str);
        let reader = self.db.reader(scope).await?;
        let orders_by_status = count_by(orders::Column::Status, shop, &reader).await?;
        let orders_by_stage = count_by(orders::Column::Stage, shop, &reader).await?;
        let now = Utc::now();
        let mut risky = orders::Entity::find()
            .filter(orders::Column::RtsSlaAt.gte(now.fixed_offset()))
            .filter(
                orders::Column::RtsSlaAt.lt((now + chrono::TimeDelta::hours(24)).fixed_offset()),
            )
            .filter(orders::Column::Status.eq("AWAITING_SHIPMENT"))
            .filter(orders::Column::Stage.is_not_in(SHIPPED_STAGES))
            .order_by_asc(orders::Column::RtsSlaAt)
            .limit(100);
        if let Some(shop) = shop {
            risky = risky.filter(orders::Column::ShopId.eq(shop));
        }
        let at_risk = risky
            .all(&reader)
            .await?
            .into_iter()
            .filter_map(|o| {
                Some(AtRisk {
                    deadline: o.rts_sla_at?.to_utc(),
                    order_id: o.id,
                    shop_id: o.shop_id,
                    stage: o.stage,
                })
            })
            .collect();

        let rows = transitions_since(&reader, since, shop).await?;

        // Keyed by the shop and the UTC day (hour) as numbers; written out once per key.
        let mut days: BTreeMap<(&str, NaiveDate), ShopDay> = BTreeMap::new();
        let mut hours: BTreeMap<(NaiveDate, u32), u64> = BTreeMap::new();
        let mut awaiting: HashMap<&str, DateTime<Utc>> = HashMap::new();
        let mut shipped: HashMap<&str, (DateTime<Utc>, Option<i64>)> = HashMap::new();
        let mut latencies = Vec::new();
        let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
        for row in &rows {
            let at = row.recorded_at;
            let date = at.date_naive();
            let day = days
                .entry((row.shop_id.as_str(), date))
                .or_insert_with(|| ShopDay {
                    shop_id: row.shop_id.clone(),
                    day: date.format("%Y-%m-%d").to_string(),
                    created: 0,
                    shipped: 0,
                    transitions: 0,
                });
            day.transitions += 1;
            if seen.insert(&row.order_id) && row.stage == "received" {
                day.created += 1;
                *hours.entry((date, at.hour())).or_default() += 1;
            }
            if row.status == "AWAITING_SHIPMENT" {
                awaiting.entry(&row.order_id).or_insert(at);
            }
            if SHIPPED_STAGES.contains(&row.stage.as_str())
                && !shipped.contains_key(row.order_id.as_str())
            {
                shipped.insert(&row.order_id, (at, row.deadline));
                day.shipped += 1;
            }
            if let Some(ms) = row.latency_ms {
                latencies.push(ms as f64);
            }
        }
        let created_per_hour: BTreeMap<String, u64> = hours
            .into_iter()
            .map(|((date, hour), n)| (format!("{} {hour:02}:00", date.format("%Y-%m-%d")), n))
            .collect();
        let mut to_ship = Vec::new();
        let mut shipped_late = 0;
        for (order, (at, sla)) in &shipped {
            if let Some(start) = awaiting.get(order) {
                to_ship.push((*at - *start).num_milliseconds() as f64 / 1000.0);
            }
            if sla.is_some_and(|s| at.timestamp() > s) {
                shipped_late += 1;
            }
        }
        // A missed ready-to-ship deadline, as `Deadline::missed` has it (and the orders list's
        // "Late to ship" tab): passed, at a status short of AWAITING_COLLECTION.
        let short = Milestone::ReadyToShip
            .short_of()
            .map(|s| s.as_str().to_owned());
        let mut overdue = orders::Entity::find()
            .filter(orders::Column::RtsSlaAt.lt(Utc::now().fixed_offset()))
            .filter(orders::Column::Status.is_in(short));
        if let Some(shop) = shop {
            overdue = overdue.filter(orders::Column::ShopId.eq(shop));
        }
        let overdue_unshipped = sea_orm::PaginatorTrait::count(overdue, &reader).await?;
        reader.done();
        Ok(Summary {
            since,
            orders_by_status,
            by_shop_and_day: days.into_values().collect(),
            time_to_ship_seconds: Percentiles::of(to_ship),
            processing_latency_ms: Percentiles::of(latencies),
            sla_breaches: SlaBreaches {
                shipped_late,
                overdue_unshipped,
            },
            orders_by_stage,
            created_per_hour,
            at_risk,
        })
    }
}

/// The transitions committed since `since` (of one shop's orders, or all), in log order, each
/// with its order's deadline.
async fn transitions_since(
    conn: &impl sea_orm::ConnectionTrait,
    since: DateTime<Utc>,
    shop: Option<&str>,
) -> Result<Vec<TransitionRecord>, Error> {
    let of_order = order_events::Entity::belongs_to(orders::Entity)
        .from(order_events::Column::OrderId)
        .to(orders::Column::Id)
        .into();
    let mut query = order_events::Entity::find()
        .select_only()
        .columns([
            order_events::Column::Position,
            order_events::Column::Effects,
            order_events::Column::CreatedAt,
        ])
        .column(orders::Column::RtsSlaAt)
        .join(JoinType::LeftJoin, of_order)
        .filter(order_events::Column::CreatedAt.gte(since.fixed_offset()))
        .filter(order_events::Column::Effects.is_not_null());
    if let Some(shop) = shop {
        query = query.filter(orders::Column::ShopId.eq(shop));
    }
    type Row = (i64, Option<String>, Time, Option<Time>);
    type Time = chrono::DateTime<chrono::FixedOffset>;
    // Put in log order here: the database would sort the window's rows, effects and all (on
    // disk, past its `work_mem`).
    let mut rows: Vec<Row> = query.into_tuple().all(conn).await?;
    rows.sort_unstable_by_key(|(position, ..)| *position);
    let mut transitions = Vec::new();
    for (position, effects, committed, deadline) in rows {
        if let Some(effects) = effects {
            transitions.extend(TransitionRecord::read(
                position,
                &effects,
                committed.to_utc(),
                deadline.map(|at| at.timestamp()),
            )?);
        }
    }
    Ok(transitions)
}

/// Orders counted by the value of `column`, within one shop or all.
async fn count_by<T: std::iter::FromIterator<(String, u64)>>(
    column: orders::Column,
    shop: Option<&str>,
    conn: &impl sea_orm::ConnectionTrait,
) -> Result<T, Error> {
    let mut query = orders::Entity::find()
        .select_only()
        .column(column)
        .column_as(orders::Column::Id.count(), "n")
        .group_by(column);
    if let Some(shop) = shop {
        query = query.filter(orders::Column::ShopId.eq(shop));
    }
    Ok(query
        .into_tuple::<(String, i64)>()
        .all(conn)
        .await?
        .into_iter()
        .map(|(value, n)| (value, n as u64))
        .collect())
}
