//! The analytics read model: one row per order transition relayed over the bus (deduped on
//! the message id), and the summary served by `GET /api/v1/analytics/summary`.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, Utc};
use entities::{analytics_transitions, orders};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, ExecResult, QueryFilter,
    QueryOrder, QuerySelect, SqlErr, Statement,
};

use crate::config::Backend;
use crate::domain::{Scope, ShopId};
use crate::persistence::{Database, Error};

/// The UTC day a transition is counted in (`YYYY-MM-DD`). Written out directly: a `format`
/// string is parsed again on every call, for every transition recorded.
fn day(record: &TransitionRecord) -> String {
    let at = record.recorded_at;
    format!("{:04}-{:02}-{:02}", at.year(), at.month(), at.day())
}

/// Runs `insert` with `plain`, and only if a row's message was recorded before (the key's
/// unique index refuses the statement) again with `skipping_seen` appended. Returns the rows
/// written. A message comes again only after a consumer failed, and a conflict clause on every
/// statement made every row a speculative insertion (a third dearer on PostgreSQL).
async fn skipping_seen_once_needed<F>(
    plain: &str,
    skipping_seen: &str,
    insert: impl Fn(String) -> F,
) -> Result<u64, DbErr>
where
    F: std::future::Future<Output = Result<ExecResult, DbErr>>,
{
    match insert(plain.to_owned()).await {
        Ok(done) => Ok(done.rows_affected()),
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            Ok(insert(format!("{plain}{skipping_seen}"))
                .await?
                .rows_affected())
        }
        Err(e) => Err(e),
    }
}

/// A transition as the analytics consumer records it.
#[derive(Debug, Clone)]
pub struct TransitionRecord {
    pub message_id: i64,
    pub order_id: String,
    pub shop_id: String,
    pub status: String,
    pub stage: String,
    pub latency_ms: Option<i64>,
    pub recorded_at: DateTime<Utc>,
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
    /// Not shipped and past the deadline now.
    pub overdue_unshipped: u64,
}

/// Order ids per deadline lookup: far below every backend's bind-parameter limit.
const IDS_PER_STATEMENT: usize = 300;

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
    /// Records transitions; a message seen before is skipped. Returns how many were new.
    /// In one statement on either backend.
    pub async fn record_transitions(&self, records: &[TransitionRecord]) -> Result<u64, Error> {
        if records.is_empty() {
            return Ok(0);
        }
        // Only a shipping transition needs its order's deadline (to tell a late shipment);
        // read before the write transaction, so the turn to write is held only for writing.
        let shipping: Vec<&str> = records
            .iter()
            .filter(|r| SHIPPED_STAGES.contains(&r.stage.as_str()))
            .map(|r| r.order_id.as_str())
            .collect();
        let mut slas: HashMap<String, Option<i64>> = HashMap::new();
        for ids in shipping.chunks(IDS_PER_STATEMENT) {
            slas.extend(
                orders::Entity::find()
                    .select_only()
                    .column(orders::Column::Id)
                    .column(orders::Column::RtsSlaAt)
                    .filter(orders::Column::Id.is_in(ids.iter().copied()))
                    .into_tuple::<(String, Option<chrono::DateTime<chrono::FixedOffset>>)>()
                    .all(&self.db.conn)
                    .await?
                    .into_iter()
                    .map(|(id, at)| (id, at.map(|t| t.timestamp()))),
            );
        }
        let rts = |r: &TransitionRecord| slas.get(&r.order_id).copied().flatten();
        if self.db.backend() == Backend::Postgres {
            return self.record_on_postgres(records, rts).await;
        }
        self.record_on_sqlite(records, rts).await
    }

    /// [`Self::record_transitions`] on SQLite: the rows as one JSON array in one statement whose
    /// text never changes (prepared once per connection, as the journal's are).
    async fn record_on_sqlite(
        &self,
        records: &[TransitionRecord],
        rts: impl Fn(&TransitionRecord) -> Option<i64>,
    ) -> Result<u64, Error> {
        const INSERT: &str = "\
INSERT INTO analytics_transitions (message_id, order_id, shop_id, status, stage, day, latency_ms, \
rts_sla_time, recorded_at) \
SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6, \
value ->> 7, value ->> 8 FROM jsonb_each(?1)";
        // `WHERE true` lets SQLite's parser tell the upsert clause from a join constraint.
        const SKIPPING_SEEN: &str = " WHERE true ON CONFLICT (message_id) DO NOTHING";
        let rows: Vec<_> = records
            .iter()
            .map(|r| {
                (
                    r.message_id,
                    &r.order_id,
                    &r.shop_id,
                    &r.status,
                    &r.stage,
                    day(r),
                    r.latency_ms,
                    rts(r),
                    // As sqlx writes a time to SQLite, so that the summary's bounds compare.
                    r.recorded_at
                        .fixed_offset()
                        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false),
                )
            })
            .collect();
        let rows = serde_json::to_string(&rows)
            .map_err(|e| Error::from(sea_orm::DbErr::Custom(format!("analytics rows: {e}"))))?;
        let statement = |sql: String| {
            Statement::from_sql_and_values(DbBackend::Sqlite, sql, [rows.clone().into()])
        };
        let txn = self.db.begin_write().await?;
        let written =
            skipping_seen_once_needed(INSERT, SKIPPING_SEEN, |sql| txn.execute_raw(statement(sql)))
                .await?;
        txn.commit().await?;
        Ok(written)
    }

    /// [`Self::record_transitions`] on PostgreSQL: every row in one statement whose text never
    /// changes (rows as arrays), parsed and planned once per connection, not once per count.
    async fn record_on_postgres(
        &self,
        records: &[TransitionRecord],
        rts: impl Fn(&TransitionRecord) -> Option<i64>,
    ) -> Result<u64, Error> {
        const INSERT: &str = "\
INSERT INTO analytics_transitions (message_id, order_id, shop_id, status, stage, day, latency_ms, \
rts_sla_time, recorded_at) \
SELECT m, o, s, st, sg, d, NULLIF(l, $10), NULLIF(r, $10), ra \
FROM UNNEST($1::int8[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int8[], \
$8::int8[], $9::timestamptz[]) AS u(m, o, s, st, sg, d, l, r, ra)";
        const SKIPPING_SEEN: &str = " ON CONFLICT (message_id) DO NOTHING";
        // Arrays travel without NULL elements: a missing number is this sentinel.
        const NONE: i64 = i64::MIN;
        let values = || {
            let column = |f: &dyn Fn(&TransitionRecord) -> String| {
                sea_orm::Value::from(records.iter().map(f).collect::<Vec<_>>())
            };
            let number = |f: &dyn Fn(&TransitionRecord) -> i64| {
                sea_orm::Value::from(records.iter().map(f).collect::<Vec<_>>())
            };
            vec![
                number(&|r| r.message_id),
                column(&|r| r.order_id.clone()),
                column(&|r| r.shop_id.clone()),
                column(&|r| r.status.clone()),
                column(&|r| r.stage.clone()),
                column(&day),
                number(&|r| r.latency_ms.unwrap_or(NONE)),
                number(&|r| rts(r).unwrap_or(NONE)),
                // Bound as times, not as text for the server to parse, row by row.
                sea_orm::Value::from(records.iter().map(|r| r.recorded_at).collect::<Vec<_>>()),
                sea_orm::Value::from(NONE),
            ]
        };
        let insert = |sql: String| {
            let statement = Statement::from_sql_and_values(DbBackend::Postgres, sql, values());
            self.db.conn.execute_raw(statement)
        };
        Ok(skipping_seen_once_needed(INSERT, SKIPPING_SEEN, insert).await?)
    }

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

        let mut query = analytics_transitions::Entity::find()
            .filter(analytics_transitions::Column::RecordedAt.gte(since.fixed_offset()))
            .order_by_asc(analytics_transitions::Column::MessageId);
        if let Some(shop) = shop {
            query = query.filter(analytics_transitions::Column::ShopId.eq(shop));
        }
        let rows = query.all(&reader).await?;

        let mut days: BTreeMap<(String, String), ShopDay> = BTreeMap::new();
        let mut created_per_hour: BTreeMap<String, u64> = BTreeMap::new();
        let mut awaiting: HashMap<&str, DateTime<Utc>> = HashMap::new();
        let mut shipped: HashMap<&str, (DateTime<Utc>, Option<i64>)> = HashMap::new();
        let mut latencies = Vec::new();
        let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
        for row in &rows {
            let day = days
                .entry((row.shop_id.clone(), row.day.clone()))
                .or_insert_with(|| ShopDay {
                    shop_id: row.shop_id.clone(),
                    day: row.day.clone(),
                    created: 0,
                    shipped: 0,
                    transitions: 0,
                });
            day.transitions += 1;
            let at = row.recorded_at.to_utc();
            if seen.insert(&row.order_id) && row.stage == "received" {
                day.created += 1;
                *created_per_hour
                    .entry(at.format("%Y-%m-%d %H:00").to_string())
                    .or_default() += 1;
            }
            if row.status == "AWAITING_SHIPMENT" {
                awaiting.entry(&row.order_id).or_insert(at);
            }
            if SHIPPED_STAGES.contains(&row.stage.as_str())
                && !shipped.contains_key(row.order_id.as_str())
            {
                shipped.insert(&row.order_id, (at, row.rts_sla_time));
                day.shipped += 1;
            }
            if let Some(ms) = row.latency_ms {
                latencies.push(ms as f64);
            }
        }
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
        let mut overdue = orders::Entity::find()
            .filter(orders::Column::RtsSlaAt.lt(Utc::now().fixed_offset()))
            .filter(orders::Column::Status.eq("AWAITING_SHIPMENT"))
            .filter(orders::Column::Stage.is_not_in(SHIPPED_STAGES));
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
