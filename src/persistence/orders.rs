//! Orders in SQL: snapshot loading for activation and the read model behind the order API (the
//! journal writes the snapshot rows: see `journal::snapshot`).

use std::collections::HashMap;

use chrono::{DateTime, FixedOffset, Utc};
use entities::{order_details, order_events, orders};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, DbErr, EntityTrait, FromQueryResult,
    QueryFilter, QueryOrder, QueryResult, QuerySelect, Select, SelectModel, Selector, Statement,
};

use super::{Database, Error};
use crate::domain::{
    AfterSale, Currency, Detail, Event, Money, Order, OrderId, OrderStatus, Scope, Search, ShopId,
    Sku, Stage, quantities,
};

/// Ids per `IN (…)`: well under SQLite's and PostgreSQL's bind-parameter limits.
pub(super) const ROWS_PER_STATEMENT: usize = 64;

/// Activation's grouped snapshot load with each order's detail, on PostgreSQL (the ids as an
/// array) and on SQLite (the ids as a JSON array).
const LOAD_MANY: &str = "SELECT o.*, d.detail FROM orders o \
     LEFT JOIN order_details d ON d.order_id = o.id WHERE o.id = ANY($1::text[])";
const LOAD_MANY_SQLITE: &str = "SELECT o.*, d.detail FROM orders o \
     LEFT JOIN order_details d ON d.order_id = o.id \
     WHERE o.id IN (SELECT value FROM json_each(?1))";

/// A snapshot row with its order's detail, once one was fetched (the detail has a table of its
/// own, `order_details`, so that a status change does not write it again).
#[derive(Debug)]
struct DetailedRow {
    row: orders::Model,
    detail: Option<serde_json::Value>,
}

impl FromQueryResult for DetailedRow {
    fn from_query_result(res: &QueryResult, pre: &str) -> Result<Self, DbErr> {
        Ok(Self {
            row: orders::Model::from_query_result(res, pre)?,
            detail: res.try_get(pre, "detail")?,
        })
    }
}

/// The two shapes an order read takes: the snapshot row alone (lists, existence checks) or
/// with its detail (one left join on the detail's key).
trait OrderRow: FromQueryResult + Send + Sync {
    fn shape(select: Select<orders::Entity>) -> Selector<SelectModel<Self>>;
    fn row(&self) -> &orders::Model;
}

impl OrderRow for orders::Model {
    fn shape(select: Select<orders::Entity>) -> Selector<SelectModel<Self>> {
        select.into_model()
    }
    fn row(&self) -> &orders::Model {
        self
    }
}

impl OrderRow for DetailedRow {
    fn shape(select: Select<orders::Entity>) -> Selector<SelectModel<Self>> {
        select
            .left_join(order_details::Entity)
            .column_as(order_details::Column::Detail, "detail")
            .into_model()
    }
    fn row(&self) -> &orders::Model {
        &self.row
    }
}

impl DetailedRow {
    /// The row and its detail, parsed (taken, not copied: a detail is ~2 KB of JSON).
    fn parts(self) -> Result<(orders::Model, Option<Detail>), DbErr> {
        let detail = self
            .detail
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| DbErr::Custom(format!("order {} detail: {e}", self.row.id)))?;
        Ok((self.row, detail))
    }
}

/// A snapshot row back as the domain order.
fn to_order(detailed: DetailedRow) -> Result<Order, DbErr> {
    let (row, detail) = detailed.parts()?;
    let bad = |e: crate::domain::Invalid| DbErr::Custom(format!("order {}: {e}", row.id));
    Ok(Order {
        id: OrderId::parse(&row.id).map_err(bad)?,
        shop_id: ShopId::parse(&row.shop_id).map_err(bad)?,
        status: OrderStatus::parse(&row.status),
        stage: Stage::parse(&row.stage).map_err(bad)?,
        stage_reason: row.stage_reason,
        held_from: row
            .held_from
            .as_deref()
            .map(Stage::parse)
            .transpose()
            .map_err(bad)?,
        version: row.version,
        update_time: row.tiktok_update_time,
        create_time: row.tiktok_create_time,
        detail_problems: detail.as_ref().map(Detail::problems),
    })
}

/// An order as the read model holds it: its snapshot row, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderSummary {
    pub id: OrderId,
    pub shop_id: ShopId,
    pub status: OrderStatus,
    pub stage: Stage,
    pub stage_reason: Option<String>,
    pub version: i64,
    pub tiktok_update_time: Option<i64>,
    /// The order's total, once TikTok's detail named it.
    pub total: Option<Money>,
    /// TikTok's ready-to-ship deadline, once its detail named one.
    pub ship_by: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

/// An order with its detail, units per SKU and tags.
#[derive(Debug, Clone)]
pub struct OrderRecord {
    pub order: OrderSummary,
    pub detail: Option<Detail>,
    /// Units per SKU (one TikTok line item is one unit).
    pub quantities: Vec<(Sku, u32)>,
    /// Set by workflows (`tag` / `untag`); conditions read them.
    pub tags: Vec<String>,
    /// The buyer's cancellation and return requests, as TikTok last reported each, oldest
    /// first (the shipping steps stop while one waits for the seller).
    pub requests: Vec<AfterSale>,
    pub created_at: DateTime<Utc>,
}

/// An order with its detail, as a list shows it (no tags: those are a second read).
#[derive(Debug, Clone)]
pub struct OrderView {
    pub order: OrderSummary,
    pub detail: Option<Detail>,
    pub created_at: DateTime<Utc>,
}

fn view(detailed: DetailedRow) -> Result<OrderView, DbErr> {
    let (row, detail) = detailed.parts()?;
    Ok(OrderView {
        order: summary(&row)?,
        detail,
        created_at: row.created_at.with_timezone(&Utc),
    })
}

/// The opaque cursor of an order in a list: its `(updated_at, id)` key, hex-encoded.
pub fn cursor_of(order: &OrderSummary) -> String {
    hex::encode(format!(
        "{}_{}",
        // Nanoseconds: SQLite keeps the time as written, to the nanosecond, and a cursor a
        // digit short would compare before its own row.
        order.updated_at.timestamp_nanos_opt().unwrap_or(i64::MAX),
        order.id
    ))
}

/// The key a cursor from [`cursor_of`] stands for.
pub fn parse_cursor(raw: &str) -> Result<(DateTime<Utc>, String), crate::domain::Invalid> {
    let bad = || crate::domain::Invalid::new("cursor", "the cursor is not one this API gave out");
    let text = hex::decode(raw)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(bad)?;
    let (nanos, id) = text.split_once('_').ok_or_else(bad)?;
    let at = DateTime::from_timestamp_nanos(nanos.parse().map_err(|_| bad())?);
    Ok((
        at,
        OrderId::parse(id).map_err(|_| bad())?.as_str().to_owned(),
    ))
}

/// One audit event of an order.
#[derive(Debug, Clone)]
pub struct HistoryEntry {
    pub seq: i64,
    pub kind: String,
    pub from_status: Option<OrderStatus>,
    pub to_status: Option<OrderStatus>,
    pub from_stage: Option<Stage>,
    pub to_stage: Option<Stage>,
    pub cause: String,
    pub payload: serde_json::Value,
    pub at: DateTime<Utc>,
}

/// Filters for the order list; all optional.
#[derive(Debug, Default, Clone)]
pub struct OrderFilter {
    pub shop: Option<ShopId>,
    pub status: Option<OrderStatus>,
    pub stage: Option<Stage>,
    pub updated_since: Option<DateTime<Utc>>,
    /// A search in the order query syntax (see `domain::search`).
    pub search: Option<Search>,
    /// Continue after this (updated_at, id).
    pub after: Option<(DateTime<Utc>, String)>,
    /// Oldest first (by updated_at, then id) instead of newest first.
    pub oldest_first: bool,
    pub limit: u64,
}

fn record(
    detailed: DetailedRow,
    tags: Vec<String>,
    requests: Vec<AfterSale>,
) -> Result<OrderRecord, DbErr> {
    let (row, detail) = detailed.parts()?;
    let quantities = detail
        .as_ref()
        .map(|d| quantities(&d.items))
        .unwrap_or_default()
        .into_iter()
        .collect();
    Ok(OrderRecord {
        order: summary(&row)?,
        detail,
        quantities,
        tags,
        requests,
        created_at: row.created_at.with_timezone(&Utc),
    })
}

fn summary(row: &orders::Model) -> Result<OrderSummary, DbErr> {
    let bad = |e: crate::domain::Invalid| DbErr::Custom(format!("order {}: {e}", row.id));
    let total = match (row.currency.as_deref(), row.total_amount) {
        (Some(currency), Some(minor)) => Some(Money::from_minor(
            minor,
            Currency::parse(currency).map_err(bad)?,
        )),
        _ => None,
    };
    Ok(OrderSummary {
        id: OrderId::parse(&row.id).map_err(bad)?,
        shop_id: ShopId::parse(&row.shop_id).map_err(bad)?,
        status: OrderStatus::parse(&row.status),
        stage: Stage::parse(&row.stage).map_err(bad)?,
        stage_reason: row.stage_reason.clone(),
        version: row.version,
        tiktok_update_time: row.tiktok_update_time,
        total,
        ship_by: row.rts_sla_at.map(|at| at.with_timezone(&Utc)),
        updated_at: row.updated_at.with_timezone(&Utc),
    })
}

/// One shop's page of the order list, newest first.
fn shop_page(shop: &str, filter: &OrderFilter) -> sea_orm::Select<orders::Entity> {
    let mut query = orders::Entity::find().filter(orders::Column::ShopId.eq(shop));
    if let Some(status) = &filter.status {
        query = query.filter(orders::Column::Status.eq(status.as_str()));
    }
    if let Some(stage) = &filter.stage {
        query = query.filter(orders::Column::Stage.eq(stage.as_str()));
    }
    if let Some(since) = filter.updated_since {
        query = query.filter(orders::Column::UpdatedAt.gte(since.fixed_offset()));
    }
    if let Some(search) = &filter.search {
        query = query.filter(super::order_search::condition(search));
    }
    if let Some((at, id)) = &filter.after {
        let at = at.fixed_offset();
        let (time_beyond, id_beyond) = if filter.oldest_first {
            (
                orders::Column::UpdatedAt.gt(at),
                orders::Column::Id.gt(id.as_str()),
            )
        } else {
            (
                orders::Column::UpdatedAt.lt(at),
                orders::Column::Id.lt(id.as_str()),
            )
        };
        query = query.filter(
            Condition::any().add(time_beyond).add(
                Condition::all()
                    .add(orders::Column::UpdatedAt.eq(at))
                    .add(id_beyond),
            ),
        );
    }
    let order = if filter.oldest_first {
        sea_orm::Order::Asc
    } else {
        sea_orm::Order::Desc
    };
    query
        .order_by(orders::Column::UpdatedAt, order.clone())
        .order_by(orders::Column::Id, order)
        .limit(filter.limit)
}

/// The store of orders: snapshots for activation and the read model behind the order API, over the shared pool.
#[derive(Clone, Copy)]
pub struct OrderStore<'a> {
    db: &'a Database,
}

impl Database {
    pub fn orders(&self) -> OrderStore<'_> {
        OrderStore { db: self }
    }
}

impl OrderStore<'_> {
    /// The stored snapshot of `id`, if there is one.
    pub async fn load(&self, id: &OrderId) -> Result<Option<Order>, Error> {
        Ok(self.load_many(&[id]).await?.remove(id))
    }

    /// The stored snapshots among `ids`, by id, in one query.
    pub async fn load_many(&self, ids: &[&OrderId]) -> Result<HashMap<OrderId, Order>, Error> {
        self.load_many_on(&self.db.conn, ids).await
    }

    /// Up to `limit` stored order ids after `after` (`""`: from the first), in id order: the
    /// journal reads them all at start (see `journal::stored`).
    pub async fn ids_after(&self, after: &str, limit: u64) -> Result<Vec<String>, Error> {
        let ids = orders::Entity::find()
            .select_only()
            .column(orders::Column::Id)
            .filter(orders::Column::Id.gt(after))
            .order_by_asc(orders::Column::Id)
            .limit(limit)
            .into_tuple::<String>()
            .all(&self.db.conn)
            .await?;
        Ok(ids)
    }

    /// [`OrderStore::load_many`] on `conn` (activation's grouped loads, on the engine's own
    /// connection).
    pub async fn load_many_on(
        &self,
        conn: &impl ConnectionTrait,
        ids: &[&OrderId],
    ) -> Result<HashMap<OrderId, Order>, Error> {
        // One statement text whatever the number of ids, so it is prepared once per connection
        // (an `IN (…)` list has a text per count).
        let statement = match conn.get_database_backend() {
            DbBackend::Postgres => {
                let ids: Vec<String> = ids.iter().map(|id| id.as_str().to_owned()).collect();
                Statement::from_sql_and_values(DbBackend::Postgres, LOAD_MANY, [ids.into()])
            }
            backend => {
                let ids = serde_json::to_string(ids)
                    .map_err(|e| DbErr::Custom(format!("order ids as JSON: {e}")))?;
                Statement::from_sql_and_values(backend, LOAD_MANY_SQLITE, [ids.into()])
            }
        };
        let rows = DetailedRow::find_by_statement(statement).all(conn).await?;
        let mut found = HashMap::with_capacity(rows.len());
        for row in rows {
            let order = to_order(row)?;
            found.insert(order.id.clone(), order);
        }
        Ok(found)
    }

    /// Newest first, paged by (updated_at, id), within `scope`. A list within one shop is one
    /// read of that shop's index for the filter. A list across shops (an administrator's, no
    /// `shop` filter) reads each shop's page of keys the same way (from the index alone),
    /// merges them, and reads the page's rows by key: there are no all-shop list indexes, since
    /// each would cost every status change one more entry.
    pub async fn list(
        &self,
        scope: &Scope,
        filter: &OrderFilter,
    ) -> Result<Vec<OrderSummary>, Error> {
        let rows = self.page_rows::<orders::Model>(scope, filter).await?;
        Ok(rows.iter().map(summary).collect::<Result<_, _>>()?)
    }

    /// Like [`OrderStore::list`], with each order's detail (its items and money), read in the
    /// same statement (a left join on the detail's key).
    pub async fn list_views(
        &self,
        scope: &Scope,
        filter: &OrderFilter,
    ) -> Result<Vec<OrderView>, Error> {
        let rows = self.page_rows::<DetailedRow>(scope, filter).await?;
        Ok(rows.into_iter().map(view).collect::<Result<_, _>>()?)
    }

    async fn page_rows<R: OrderRow>(
        &self,
        scope: &Scope,
        filter: &OrderFilter,
    ) -> Result<Vec<R>, Error> {
        let shop = match (scope, &filter.shop) {
            (Scope::Shop(own), Some(asked)) if own != asked => return Ok(Vec::new()),
            (Scope::Shop(own), _) => Some(own.as_str()),
            (Scope::Admin, asked) => asked.as_ref().map(ShopId::as_str),
        };
        if let Scope::Shop(own) = scope {
            // A shop's key reads through row-level security (PostgreSQL) as well.
            let reader = self.db.reader(scope).await?;
            let rows = R::shape(shop_page(own.as_str(), filter))
                .all(&reader)
                .await?;
            reader.done();
            return Ok(rows);
        }
        if let Some(shop) = shop {
            return Ok(R::shape(shop_page(shop, filter)).all(&self.db.conn).await?);
        }
        let shops = self.order_shops().await?;
        let pages = futures_util::future::try_join_all(shops.iter().map(|shop| {
            shop_page(shop, filter)
                .select_only()
                .column(orders::Column::UpdatedAt)
                .column(orders::Column::Id)
                .into_tuple::<(DateTime<FixedOffset>, String)>()
                .all(&self.db.conn)
        }))
        .await?;
        let mut keys: Vec<_> = pages.into_iter().flatten().collect();
        if filter.oldest_first {
            keys.sort_unstable();
        } else {
            keys.sort_unstable_by(|a, b| b.cmp(a));
        }
        keys.truncate(filter.limit as usize);
        let mut rows = R::shape(
            orders::Entity::find()
                .filter(orders::Column::Id.is_in(keys.iter().map(|(_, id)| id.as_str()))),
        )
        .all(&self.db.conn)
        .await?;
        rows.sort_unstable_by(|a, b| {
            let (a, b) = (a.row(), b.row());
            (a.updated_at, &a.id).cmp(&(b.updated_at, &b.id))
        });
        if !filter.oldest_first {
            rows.reverse();
        }
        Ok(rows)
    }

    /// How many orders match `filter` within `scope`, counting no further than `cap + 1` (a
    /// list says "10,000+" rather than count a million rows). Reads the list's index only.
    pub async fn count_upto(
        &self,
        scope: &Scope,
        filter: &OrderFilter,
        cap: u64,
    ) -> Result<u64, Error> {
        let filter = OrderFilter {
            limit: cap + 1,
            after: None,
            ..filter.clone()
        };
        let shops = match (scope, &filter.shop) {
            (Scope::Shop(own), Some(asked)) if own != asked => return Ok(0),
            (Scope::Shop(own), _) => vec![own.as_str().to_owned()],
            (Scope::Admin, Some(asked)) => vec![asked.as_str().to_owned()],
            (Scope::Admin, None) => self.order_shops().await?,
        };
        let mut counted = 0;
        for shop in &shops {
            let ids = shop_page(shop, &filter)
                .select_only()
                .column(orders::Column::Id)
                .into_tuple::<String>()
                .all(&self.db.conn)
                .await?;
            counted += ids.len() as u64;
            if counted > cap {
                break;
            }
        }
        Ok(counted.min(cap + 1))
    }

    /// The tags of each of `ids`, sorted, in one statement (orders without tags are missing).
    pub async fn tags_of(&self, ids: &[&str]) -> Result<HashMap<String, Vec<String>>, Error> {
        let mut tags: HashMap<String, Vec<String>> = HashMap::new();
        for tag in entities::order_tags::Entity::find()
            .filter(entities::order_tags::Column::OrderId.is_in(ids.iter().copied()))
            .order_by_asc(entities::order_tags::Column::Tag)
            .all(&self.db.conn)
            .await?
        {
            tags.entry(tag.order_id).or_default().push(tag.tag);
        }
        Ok(tags)
    }

    /// The audit events of each of `ids` with sequence numbers `after + 1 ..= after + first`,
    /// oldest first, in one statement. An order's events are numbered 1, 2, 3, … (the version
    /// each left it at), so a page is a range of the `(order_id, seq)` index, and whether more
    /// follow is known from the order's version.
    pub async fn histories(
        &self,
        ids: &[&str],
        after: i64,
        first: i64,
    ) -> Result<HashMap<String, Vec<HistoryEntry>>, Error> {
        let rows = order_events::Entity::find()
            .filter(order_events::Column::OrderId.is_in(ids.iter().copied()))
            .filter(order_events::Column::Seq.gt(after))
            .filter(order_events::Column::Seq.lte(after.saturating_add(first)))
            .order_by_asc(order_events::Column::OrderId)
            .order_by_asc(order_events::Column::Seq)
            .all(&self.db.conn)
            .await?;
        let mut pages: HashMap<String, Vec<HistoryEntry>> = HashMap::new();
        for row in rows {
            let Some(seq) = row.seq else { continue };
            let id = row.order_id.clone();
            pages.entry(id).or_default().push(history_entry(seq, row)?);
        }
        Ok(pages)
    }

    /// The shops that have orders, read by skipping through the `(shop_id, updated_at, id)`
    /// index from one shop to the next (a loose index scan: one probe per shop, not a scan of
    /// every order).
    async fn order_shops(&self) -> Result<Vec<String>, Error> {
        const SHOPS: &str = "WITH RECURSIVE shops (id) AS ( \
               SELECT MIN(shop_id) FROM orders \
               UNION ALL \
               SELECT (SELECT MIN(o.shop_id) FROM orders o WHERE o.shop_id > shops.id) \
               FROM shops WHERE shops.id IS NOT NULL) \
             SELECT id FROM shops WHERE id IS NOT NULL";
        let backend = self.db.conn.get_database_backend();
        let rows = self
            .db
            .conn
            .query_all_raw(sea_orm::Statement::from_string(backend, SHOPS))
            .await?;
        Ok(rows
            .iter()
            .map(|row| row.try_get_by_index::<String>(0))
            .collect::<Result<_, _>>()?)
    }

    /// One order with its detail, if `scope` may see it.
    pub async fn detail(&self, scope: &Scope, id: &OrderId) -> Result<Option<OrderRecord>, Error> {
        let Some(row) = self.visible_row::<DetailedRow>(scope, id).await? else {
            return Ok(None);
        };
        let tags = self.db.runs().order_tags(&row.row.id).await?;
        let requests = self.db.requests().of(&[id.as_str()]).await?;
        let requests = requests.into_values().next().unwrap_or_default();
        Ok(Some(record(row, tags, requests)?))
    }

    /// One order with its detail but not its tags, if `scope` may see it (one statement).
    pub async fn view(&self, scope: &Scope, id: &OrderId) -> Result<Option<OrderView>, Error> {
        let Some(row) = self.visible_row::<DetailedRow>(scope, id).await? else {
            return Ok(None);
        };
        Ok(Some(view(row)?))
    }

    /// Many orders with their details, tags and requests in three queries per 64 orders (the
    /// workflow scheduler reads a whole round's orders at once). Orders that do not exist are
    /// missing from the map.
    pub async fn details(&self, ids: &[&str]) -> Result<HashMap<OrderId, OrderRecord>, Error> {
        let mut views = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(ROWS_PER_STATEMENT) {
            let rows = DetailedRow::shape(
                orders::Entity::find().filter(orders::Column::Id.is_in(chunk.iter().copied())),
            )
            .all(&self.db.conn)
            .await?;
            let mut tags: HashMap<String, Vec<String>> = HashMap::new();
            for tag in entities::order_tags::Entity::find()
                .filter(entities::order_tags::Column::OrderId.is_in(chunk.iter().copied()))
                .order_by_asc(entities::order_tags::Column::Tag)
                .all(&self.db.conn)
                .await?
            {
                tags.entry(tag.order_id).or_default().push(tag.tag);
            }
            let mut requests = self.db.requests().of(chunk).await?;
            for row in rows {
                let tags = tags.remove(&row.row.id).unwrap_or_default();
                let asked = requests.remove(&row.row.id).unwrap_or_default();
                let record = record(row, tags, asked)?;
                views.insert(record.order.id.clone(), record);
            }
        }
        Ok(views)
    }

    /// Whether order `id` exists and `scope` may see it (commands check this before going to
    /// the order's actor).
    pub async fn visible(&self, scope: &Scope, id: &OrderId) -> Result<bool, Error> {
        Ok(self
            .visible_row::<orders::Model>(scope, id)
            .await?
            .is_some())
    }

    /// The snapshot row of `id` if it exists and `scope` may see it (another shop's order is
    /// simply not found, so its existence does not leak).
    async fn visible_row<R: OrderRow>(
        &self,
        scope: &Scope,
        id: &OrderId,
    ) -> Result<Option<R>, Error> {
        let reader = self.db.reader(scope).await?;
        let row = R::shape(orders::Entity::find_by_id(id.as_str()))
            .one(&reader)
            .await?;
        reader.done();
        let Some(row) = row else {
            return Ok(None);
        };
        let shop = ShopId::parse(&row.row().shop_id)
            .map_err(|e| Error::Db(DbErr::Custom(e.to_string())))?;
        Ok(scope.allows(&shop).then_some(row))
    }

    /// The audit trail of `id` in order, if `scope` may see the order.
    pub async fn history(
        &self,
        scope: &Scope,
        id: &OrderId,
    ) -> Result<Option<Vec<HistoryEntry>>, Error> {
        if !self.visible(scope, id).await? {
            return Ok(None);
        }
        let events = audit_events(id).all(&self.db.conn).await?;
        Ok(Some(
            events
                .into_iter()
                .filter_map(|e| Some(history_entry(e.seq?, e)))
                .collect::<Result<_, DbErr>>()?,
        ))
    }

    /// Every audit event of `id`, parsed, oldest first (for replay checks and tooling).
    pub async fn events(&self, id: &OrderId) -> Result<Vec<Event>, Error> {
        let rows = audit_events(id).all(&self.db.conn).await?;
        rows.into_iter()
            .map(|r| {
                serde_json::from_str(&r.payload)
                    .map_err(|e| Error::Db(DbErr::Custom(format!("event payload: {e}"))))
            })
            .collect()
    }
}

fn history_entry(seq: i64, e: order_events::Model) -> Result<HistoryEntry, DbErr> {
    let stage = |s: Option<String>| {
        s.as_deref()
            .map(Stage::parse)
            .transpose()
            .map_err(|err| DbErr::Custom(format!("order {} event {seq}: {err}", e.order_id)))
    };
    Ok(HistoryEntry {
        seq,
        from_stage: stage(e.from_stage.clone())?,
        to_stage: stage(e.to_stage.clone())?,
        from_status: e.from_status.as_deref().map(OrderStatus::parse),
        to_status: e.to_status.as_deref().map(OrderStatus::parse),
        kind: e.kind,
        cause: e.cause,
        payload: serde_json::from_str(&e.payload).map_err(|err| {
            DbErr::Custom(format!("order {} event {seq}: payload: {err}", e.order_id))
        })?,
        at: e.created_at.with_timezone(&Utc),
    })
}

/// The audit events of `id` in order: its log rows that have a sequence number (the others carry
/// only effects). Served by the `(order_id, seq)` index.
fn audit_events(id: &OrderId) -> sea_orm::Select<order_events::Entity> {
    order_events::Entity::find()
        .filter(order_events::Column::OrderId.eq(id.as_str()))
        .filter(order_events::Column::Seq.is_not_null())
        .order_by_asc(order_events::Column::Seq)
}
