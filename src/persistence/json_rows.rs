//! The journal's batch on SQLite: each table's rows travel as one JSON array.
//!
//! A batch writes hundreds of rows per table. Built as multi-row `VALUES` statements, every value
//! went through sea-query (built, cloned), then through sqlx (encoded into its own allocation,
//! copied again by SQLite's bind) on the journal's serial path: ~17 µs per event before SQLite
//! did any work. Here each table gets one fixed statement whose rows are a single JSON text
//! parameter, read back with `jsonb_each` and `->>`: serde writes the rows straight into one
//! buffer, and the statement text never changes, so SQLite prepares it once per connection. It is
//! the SQLite counterpart of PostgreSQL's `unnest` (see `unnest.rs`).
//!
//! Each row is a JSON array; `value ->> i` is its column `i` (a JSON null becomes SQL NULL, a
//! nested object — an event or effect payload — its JSON text). `jsonb_each`, not `json_each`:
//! the latter hands each row back as text, which `->>` then parses again (8% of a run).

use std::collections::HashSet;

use chrono::Utc;
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement, Value};
use serde::Serialize;

use super::journal::Commit;
use crate::domain::Effect;

const EXISTING_KEYS: &str = "SELECT dedupe_key FROM webhook_inbox \
WHERE dedupe_key IN (SELECT value FROM jsonb_each(?1))";

const INBOX: &str = "INSERT INTO webhook_inbox (dedupe_key, event_type, shop_id, order_id, received_at) \
SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, ?2 FROM jsonb_each(?1)";

const EVENTS: &str = "INSERT INTO order_events \
(order_id, seq, kind, from_status, to_status, from_stage, to_stage, cause, payload, created_at) \
SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6, \
value ->> 7, value ->> 8, ?2 FROM jsonb_each(?1)";

/// The state columns of orders whose detail did not change; `WHERE true` lets SQLite's parser
/// tell the upsert clause from a join constraint.
const SNAPSHOTS: &str = "INSERT INTO orders \
(id, shop_id, created_at, status, stage, stage_reason, held_from, version, tiktok_update_time, \
updated_at, tiktok_create_time) \
SELECT value ->> 0, value ->> 1, ?2, value ->> 2, value ->> 3, value ->> 4, value ->> 5, \
value ->> 6, value ->> 7, ?2, value ->> 8 FROM jsonb_each(?1) WHERE true \
ON CONFLICT (id) DO UPDATE SET status = excluded.status, stage = excluded.stage, \
stage_reason = excluded.stage_reason, held_from = excluded.held_from, version = excluded.version, \
tiktok_update_time = excluded.tiktok_update_time, updated_at = excluded.updated_at, \
tiktok_create_time = excluded.tiktok_create_time";

/// In the order the commits made them: the relay publishes by id.
const OUTBOX: &str = "INSERT INTO outbox (routing_key, payload, attempts, created_at) \
SELECT value ->> 0, value ->> 1, 0, ?2 FROM jsonb_each(?1) ORDER BY key";

/// `rows` as one JSON array.
fn json<T: Serialize>(rows: &[T]) -> Result<Value, DbErr> {
    serde_json::to_string(rows)
        .map(Value::from)
        .map_err(|e| DbErr::Custom(format!("journal rows: {e}")))
}

/// Runs `sql` with `rows` as `?1` and the batch's time as `?2`; nothing when there are no rows.
async fn write<T: Serialize>(
    db: &impl ConnectionTrait,
    sql: &str,
    rows: &[T],
) -> Result<(), DbErr> {
    if rows.is_empty() {
        return Ok(());
    }
    let values = [json(rows)?, Value::from(Utc::now().fixed_offset())];
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Sqlite,
        sql,
        values,
    ))
    .await?;
    Ok(())
}

/// Inserts the batch's inbox rows whose keys are new; returns the keys inserted. SQLite has one
/// writer at a time (the write turn, then `BEGIN IMMEDIATE`), so asking which keys exist and then
/// inserting the rest, inside the batch's transaction, cannot race; only the duplicates (rare)
/// come back.
pub(super) async fn insert_inbox(
    db: &impl ConnectionTrait,
    commits: &[&Commit],
) -> Result<HashSet<String>, DbErr> {
    let keys: Vec<&str> = commits
        .iter()
        .filter_map(|c| Some(c.inbox.as_ref()?.dedupe_key.as_str()))
        .collect();
    if keys.is_empty() {
        return Ok(HashSet::new());
    }
    let statement =
        Statement::from_sql_and_values(DbBackend::Sqlite, EXISTING_KEYS, [json(&keys)?]);
    let existing: HashSet<String> = db
        .query_all_raw(statement)
        .await?
        .iter()
        .map(|row| row.try_get_by_index::<String>(0))
        .collect::<Result<_, _>>()?;
    let mut inserted = HashSet::with_capacity(keys.len());
    let rows: Vec<_> = commits
        .iter()
        .filter_map(|c| Some((c, c.inbox.as_ref()?)))
        .filter(|(_, e)| !existing.contains(&e.dedupe_key) && inserted.insert(e.dedupe_key.clone()))
        .map(|(c, e)| {
            (
                &e.dedupe_key,
                e.event_type,
                c.order.shop_id.as_str(),
                c.order.id.as_str(),
            )
        })
        .collect();
    write(db, INBOX, &rows).await?;
    Ok(inserted)
}

/// The audit events of `commits`.
pub(super) async fn insert_events(
    db: &impl ConnectionTrait,
    commits: &[&Commit],
) -> Result<(), DbErr> {
    let rows: Vec<_> = commits
        .iter()
        .flat_map(|c| c.applied.iter().map(move |a| (c, a)))
        .map(|(c, a)| {
            (
                c.order.id.as_str(),
                a.seq,
                a.event.kind(),
                a.status_before.as_ref().map(|s| s.as_str()),
                a.status_after.as_str(),
                a.stage_before.map(|s| s.as_str()),
                a.stage_after.as_str(),
                &c.cause,
                &a.event,
            )
        })
        .collect();
    write(db, EVENTS, &rows).await
}

/// Upserts the state columns of orders whose detail did not change.
pub(super) async fn upsert_narrow(
    db: &impl ConnectionTrait,
    commits: &[&Commit],
) -> Result<(), DbErr> {
    let rows: Vec<_> = commits
        .iter()
        .map(|c| {
            let order = &c.order;
            (
                order.id.as_str(),
                order.shop_id.as_str(),
                order.status.as_str(),
                order.stage.as_str(),
                order.stage_reason.as_deref(),
                order.held_from.map(|s| s.as_str()),
                order.version,
                order.update_time,
                order.create_time,
            )
        })
        .collect();
    write(db, SNAPSHOTS, &rows).await
}

/// The effects of `commits`, as outbox rows.
pub(super) async fn insert_outbox(
    db: &impl ConnectionTrait,
    commits: &[&Commit],
) -> Result<(), DbErr> {
    let rows: Vec<(String, &Effect)> = commits
        .iter()
        .flat_map(|c| c.effects.iter())
        .map(|effect| (effect.routing_key(), effect))
        .collect();
    write(db, OUTBOX, &rows).await
}
