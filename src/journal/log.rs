//! The log as its readers see it in the database: the rows that carry effects ([`Entry`]), the
//! audit events the live stream tells ([`Change`]), and the subscriptions' checkpoints
//! ([`LogStore`]). How a subscription follows the log is [`super::Tail`].

use chrono::{DateTime, FixedOffset};
use entities::{log_checkpoints, order_events};
use sea_orm::sea_query::{Expr, OnConflict, SelectStatement};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
    Set,
};
use serde_json::Value;

use crate::domain::Effect;
use crate::persistence::{Database, Error};

/// A log row that carries effects.
#[derive(Debug, Clone)]
pub struct Entry {
    pub position: i64,
    pub slot: i16,
    /// The commit's effects, in the order `decide` made them.
    pub effects: std::sync::Arc<[Posted]>,
    /// When the commit was written.
    pub created_at: DateTime<FixedOffset>,
}

/// One effect as the log holds it: its routing key and the effect, as this process committed
/// it (the journal's rows in memory) or as a row holds it (JSON read from the database).
#[derive(Debug, Clone)]
pub struct Posted {
    pub routing_key: std::borrow::Cow<'static, str>,
    payload: Payload,
}

#[derive(Debug, Clone)]
enum Payload {
    /// With its JSON as the journal wrote it into the log's row.
    Committed(Effect, Box<serde_json::value::RawValue>),
    Stored(Value),
}

impl Posted {
    /// An effect this process committed.
    pub(super) fn committed(effect: Effect, json: Box<serde_json::value::RawValue>) -> Self {
        Self {
            routing_key: effect.routing_key().into(),
            payload: Payload::Committed(effect, json),
        }
    }

    /// An effect as a row holds it.
    pub(super) fn stored(routing_key: String, payload: Value) -> Self {
        Self {
            routing_key: routing_key.into(),
            payload: Payload::Stored(payload),
        }
    }

    /// The effect itself; an error names what is wrong with a row no code of ours wrote.
    pub fn effect(&self) -> Result<Effect, serde_json::Error> {
        match &self.payload {
            Payload::Committed(effect, _) => Ok(effect.clone()),
            Payload::Stored(json) => serde_json::from_value(json.clone()),
        }
    }

    /// TikTok's `update_time` the effect carries, if any.
    pub fn update_time(&self) -> Option<i64> {
        match &self.payload {
            Payload::Committed(Effect::Transitioned(transition), _) => transition.update_time,
            Payload::Committed(..) => None,
            Payload::Stored(json) => json.get("update_time")?.as_i64(),
        }
    }

    /// Its JSON form, as the log stores it.
    pub fn payload(&self) -> Value {
        serde_json::to_value(self).expect("an effect or a JSON value is always JSON")
    }
}

/// Its JSON form (as the journal wrote it into the row, or as a row held it), written without
/// building a [`Value`] first.
impl serde::Serialize for Posted {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.payload {
            Payload::Committed(_, json) => json.serialize(serializer),
            Payload::Stored(json) => json.serialize(serializer),
        }
    }
}

/// An audit event as the live stream tells it: the order's state after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub position: i64,
    pub order_id: String,
    pub shop_id: String,
    /// The order's version after the event (its sequence number).
    pub version: i64,
    pub kind: String,
    pub status: String,
    pub stage: String,
    pub cause: String,
    /// When it was committed.
    pub at: DateTime<FixedOffset>,
}

/// The store of the log as subscriptions read it, and their checkpoints, over the shared pool.
#[derive(Clone, Copy)]
pub struct LogStore<'a> {
    db: &'a Database,
}

impl Database {
    pub fn log(&self) -> LogStore<'_> {
        LogStore { db: self }
    }
}

impl LogStore<'_> {
    /// The largest position in the log (0 when empty).
    pub async fn end(&self) -> Result<i64, Error> {
        let end: Option<Option<i64>> = order_events::Entity::find()
            .select_only()
            .column_as(order_events::Column::Position.max(), "end")
            .into_tuple()
            .one(&self.db.conn)
            .await?;
        Ok(end.flatten().unwrap_or(0))
    }

    /// The rows with effects after `after`, up to and including `upto`, oldest first, at most
    /// `limit`; of `slots` only, if given.
    pub async fn after(
        &self,
        after: i64,
        upto: i64,
        limit: u64,
        slots: Option<&[i16]>,
    ) -> Result<Vec<Entry>, Error> {
        self.after_on(&self.db.conn, after, upto, limit, slots)
            .await
    }

    /// [`Self::after`], read on `on` (a subscription's own connection).
    pub(crate) async fn after_on(
        &self,
        on: &impl ConnectionTrait,
        after: i64,
        upto: i64,
        limit: u64,
        slots: Option<&[i16]>,
    ) -> Result<Vec<Entry>, Error> {
        let mut query = order_events::Entity::find();
        if let Some(slots) = slots {
            query = query.filter(order_events::Column::Slot.is_in(slots.iter().copied()));
        }
        let rows: Vec<(i64, i16, Option<String>, DateTime<FixedOffset>)> = query
            .select_only()
            .columns([
                order_events::Column::Position,
                order_events::Column::Slot,
                order_events::Column::Effects,
                order_events::Column::CreatedAt,
            ])
            .filter(order_events::Column::Position.gt(after))
            .filter(order_events::Column::Position.lte(upto))
            .filter(order_events::Column::Effects.is_not_null())
            .order_by_asc(order_events::Column::Position)
            .limit(limit)
            .into_tuple()
            .all(on)
            .await?;
        rows.into_iter()
            .map(|(position, slot, effects, created_at)| {
                Ok(Entry {
                    position,
                    slot,
                    effects: effects
                        .and_then(|text| serde_json::from_str(&text).ok())
                        .and_then(posted)
                        .ok_or_else(|| {
                            Error::Db(sea_orm::DbErr::Custom(format!(
                                "log position {position}: effects are not [[routing key, effect], …]"
                            )))
                        })?
                        .into(),
                    created_at,
                })
            })
            .collect()
    }

    /// How many audit events lie after `after`, up to and including `upto`, counting no further
    /// than `cap`. Positions are not events: a cluster's nodes draw them in blocks and leave the
    /// rest of a block unused.
    pub async fn events_between(&self, after: i64, upto: i64, cap: u64) -> Result<u64, Error> {
        let within = order_events::Entity::find()
            .select_only()
            .column(order_events::Column::Position)
            .filter(order_events::Column::Position.gt(after))
            .filter(order_events::Column::Position.lte(upto))
            .filter(order_events::Column::Seq.is_not_null())
            .limit(cap)
            .into_query();
        let count = SelectStatement::new()
            .expr(Expr::cust("COUNT(*) AS events"))
            .from_subquery(within, "within_range")
            .to_owned();
        let events: i64 = match self.db.conn.query_one(&count).await? {
            Some(row) => row.try_get("", "events")?,
            None => 0,
        };
        Ok(events.unsigned_abs())
    }

    /// The audit events (rows with a sequence number) after `after`, up to and including
    /// `upto`, oldest first, at most `limit`, each with its order's shop: what the live stream
    /// tells its clients.
    pub async fn changes(&self, after: i64, upto: i64, limit: u64) -> Result<Vec<Change>, Error> {
        self.changes_on(&self.db.conn, after, upto, limit).await
    }

    /// [`Self::changes`], read on `on` (the live stream's own connection).
    pub(crate) async fn changes_on(
        &self,
        on: &impl ConnectionTrait,
        after: i64,
        upto: i64,
        limit: u64,
    ) -> Result<Vec<Change>, Error> {
        type Row = (
            i64,
            String,
            Option<i64>,
            String,
            Option<String>,
            Option<String>,
            String,
            DateTime<FixedOffset>,
        );
        let rows: Vec<Row> = order_events::Entity::find()
            .select_only()
            .columns([
                order_events::Column::Position,
                order_events::Column::OrderId,
                order_events::Column::Seq,
                order_events::Column::Kind,
                order_events::Column::ToStatus,
                order_events::Column::ToStage,
                order_events::Column::Cause,
                order_events::Column::CreatedAt,
            ])
            .filter(order_events::Column::Position.gt(after))
            .filter(order_events::Column::Position.lte(upto))
            .filter(order_events::Column::Seq.is_not_null())
            .order_by_asc(order_events::Column::Position)
            .limit(limit)
            .into_tuple()
            .all(on)
            .await?;
        let mut ids: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut shops = std::collections::HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let found: Vec<(String, String)> = entities::orders::Entity::find()
                .select_only()
                .columns([
                    entities::orders::Column::Id,
                    entities::orders::Column::ShopId,
                ])
                .filter(entities::orders::Column::Id.is_in(chunk.iter().copied()))
                .into_tuple()
                .all(on)
                .await?;
            shops.extend(found);
        }
        Ok(rows
            .into_iter()
            .filter_map(
                |(position, order_id, seq, kind, status, stage, cause, at)| {
                    Some(Change {
                        shop_id: shops.get(&order_id)?.clone(),
                        position,
                        order_id,
                        version: seq?,
                        kind,
                        status: status?,
                        stage: stage?,
                        cause,
                        at,
                    })
                },
            )
            .collect())
    }

    /// Where subscription `name` stands: the lowest of its slots' checkpoints (0, the start of
    /// the log, for a subscription that never saved one).
    pub async fn checkpoint(&self, name: &str) -> Result<i64, Error> {
        let lowest: Option<Option<i64>> = log_checkpoints::Entity::find()
            .select_only()
            .column_as(log_checkpoints::Column::Position.min(), "lowest")
            .filter(log_checkpoints::Column::Subscription.eq(name))
            .into_tuple()
            .one(&self.db.conn)
            .await?;
        Ok(lowest.flatten().unwrap_or(0))
    }

    /// Every subscription and where it stands (the lowest of its slots' checkpoints).
    pub async fn checkpoints(&self) -> Result<Vec<(String, i64)>, Error> {
        Ok(log_checkpoints::Entity::find()
            .select_only()
            .column(log_checkpoints::Column::Subscription)
            .column_as(log_checkpoints::Column::Position.min(), "lowest")
            .group_by(log_checkpoints::Column::Subscription)
            .order_by_asc(log_checkpoints::Column::Subscription)
            .into_tuple()
            .all(&self.db.conn)
            .await?)
    }

    /// Where subscription `name` stands in each of `slots` (0 for a slot it never saved).
    pub async fn slot_checkpoints(
        &self,
        name: &str,
        slots: &[i16],
    ) -> Result<Vec<(i16, i64)>, Error> {
        let saved: Vec<(i16, i64)> = log_checkpoints::Entity::find()
            .select_only()
            .columns([
                log_checkpoints::Column::Slot,
                log_checkpoints::Column::Position,
            ])
            .filter(log_checkpoints::Column::Subscription.eq(name))
            .filter(log_checkpoints::Column::Slot.is_in(slots.iter().copied()))
            .into_tuple()
            .all(&self.db.conn)
            .await?;
        Ok(slots
            .iter()
            .map(|slot| {
                let at = saved.iter().find(|(s, _)| s == slot).map_or(0, |(_, p)| *p);
                (*slot, at)
            })
            .collect())
    }

    /// Subscription `name` has handled every entry of each slot up to its position. With a
    /// `fence` (a cluster node and the epochs of its slots), a slot's row moves only while its
    /// lease still names that node at that epoch.
    pub async fn save_checkpoints(
        &self,
        name: &str,
        positions: &[(i16, i64)],
        fence: Option<crate::persistence::cluster::Fence<'_>>,
    ) -> Result<(), Error> {
        if positions.is_empty() {
            return Ok(());
        }
        if let Some((node, held)) = fence {
            let epoch = |slot: i16| held.iter().find(|(s, _)| *s == slot).map_or(0, |(_, e)| *e);
            let slots: Vec<i16> = positions.iter().map(|(s, _)| *s).collect();
            let at: Vec<i64> = positions.iter().map(|(_, p)| *p).collect();
            let epochs: Vec<i64> = slots.iter().map(|s| epoch(*s)).collect();
            let statement = sea_orm::Statement::from_sql_and_values(
                sea_orm::DbBackend::Postgres,
                "INSERT INTO log_checkpoints (subscription, slot, position) \
                 SELECT $1, p.slot, p.position FROM UNNEST($2::int2[], $3::int8[], $4::int8[]) AS p(slot, position, epoch) \
                 JOIN slot_leases l ON l.slot = p.slot AND l.epoch = p.epoch AND l.owner = $5 AND l.expires_at > now() \
                 ON CONFLICT (subscription, slot) DO UPDATE SET position = excluded.position",
                vec![
                    name.into(),
                    slots.into(),
                    at.into(),
                    epochs.into(),
                    node.into(),
                ],
            );
            sea_orm::ConnectionTrait::execute_raw(&self.db.conn, statement).await?;
            return Ok(());
        }
        let rows = positions
            .iter()
            .map(|(slot, position)| log_checkpoints::ActiveModel {
                subscription: Set(name.to_owned()),
                slot: Set(*slot),
                position: Set(*position),
            });
        let txn = self.db.begin_write().await?;
        log_checkpoints::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([
                    log_checkpoints::Column::Subscription,
                    log_checkpoints::Column::Slot,
                ])
                .update_column(log_checkpoints::Column::Position)
                .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
        Ok(txn.commit().await?)
    }
}

/// `[[routing key, effect], …]` as [`Posted`]s.
fn posted(effects: Value) -> Option<Vec<Posted>> {
    let Value::Array(pairs) = effects else {
        return None;
    };
    pairs
        .into_iter()
        .map(|pair| match pair {
            Value::Array(mut kv) if kv.len() == 2 => {
                let payload = kv.pop()?;
                let routing_key = kv.pop()?.as_str()?.to_owned();
                Some(Posted::stored(routing_key, payload))
            }
            _ => None,
        })
        .collect()
}
