//! The journal's batch on SQLite: each table's rows travel as one JSON array.
//!
//! A batch writes hundreds of rows per table. Built as multi-row `VALUES` statements, every value
//! went through sea-query (built, cloned), then through sqlx (encoded into its own allocation,
//! copied again by SQLite's bind) on the journal's serial path: ~17 µs per event before SQLite
//! did any work. Here each table gets one fixed statement whose rows are a single JSON text
//! parameter, read back with `jsonb_each` and `->>`: serde writes the rows straight into one
//! buffer, and the statement text never changes, so SQLite prepares it once per connection. It is
//! the SQLite counterpart of PostgreSQL's `unnest` (see `postgres.rs`).
//!
//! Each row is a JSON array; `value ->> i` is its column `i` (a JSON null becomes SQL NULL).
//! `jsonb_each`, not `json_each`: the latter hands each row back as text, which `->>` then parses
//! again (8% of a run). The log rows' own JSON texts (payload, effects) travel beside the rows,
//! not inside them (see [`LOG`]).

use std::collections::HashSet;

use chrono::Utc;
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement, Value};
use serde::Serialize;

use super::commit::{Commit, LogRow, Placed, Texts};

/// The keys of the batch already recorded: on an event (the log) or as a key row (the inbox).
const SEEN_KEYS: &str = "SELECT dedupe_key FROM order_events \
WHERE dedupe_key IN (SELECT value FROM jsonb_each(?1)) \
UNION ALL SELECT dedupe_key FROM webhook_inbox \
WHERE dedupe_key IN (SELECT value FROM jsonb_each(?1))";

const KEY_ROWS: &str = "INSERT INTO webhook_inbox (dedupe_key, event_type, shop_id, order_id, received_at) \
SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, ?2 FROM jsonb_each(?1)";

/// The log rows: `?1` their scalar columns, `?3` their payloads and effects, one text after
/// another as one blob, each row naming where its two lie (first byte counted from 1, length).
/// Nested in `?1` as JSON values, each row's ~400 bytes of payload and effects were parsed into
/// SQLite's binary JSON, copied with the whole row for every one of its columns read (`value`
/// is fetched afresh for each `->>`) and rendered back to text: `substr` of a blob cuts a text
/// out by its bytes, without reading what comes before it. An empty effects text is NULL.
const LOG: &str = "INSERT INTO order_events \
(position, slot, order_id, seq, kind, from_status, to_status, from_stage, to_stage, cause, payload, \
dedupe_key, effects, created_at) \
SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6, \
value ->> 7, value ->> 8, value ->> 9, CAST(substr(?3, value ->> 11, value ->> 12) AS TEXT), \
value ->> 10, NULLIF(CAST(substr(?3, value ->> 13, value ->> 14) AS TEXT), ''), ?2 \
FROM jsonb_each(?1)";

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

/// `rows` as one JSON array.
fn json<T: Serialize>(rows: &[T]) -> Result<Value, DbErr> {
    serde_json::to_string(rows)
        .map(Value::from)
        .map_err(|e| DbErr::Custom(format!("journal rows: {e}")))
}

/// Runs `sql` with `rows` as `?1`, the batch's time as `?2` and `more` after them; nothing
/// when there are no rows.
async fn write<T: Serialize>(
    db: &impl ConnectionTrait,
    sql: &str,
    rows: &[T],
    more: impl IntoIterator<Item = Value>,
) -> Result<(), DbErr> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut values = vec![json(rows)?, Value::from(Utc::now().fixed_offset())];
    values.extend(more);
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Sqlite,
        sql,
        values,
    ))
    .await?;
    Ok(())
}

/// The keys of `placed` that were already recorded. SQLite has one writer at a time (the
/// write turn, then `BEGIN IMMEDIATE`), so asking inside the batch's transaction and then
/// writing the rest cannot race; only the duplicates (rare) come back.
pub(super) async fn seen_keys(
    db: &impl ConnectionTrait,
    placed: &[&Placed],
) -> Result<HashSet<String>, DbErr> {
    let keys: Vec<&str> = placed
        .iter()
        .filter_map(|c| Some(c.inbox.as_ref()?.dedupe_key.as_str()))
        .collect();
    if keys.is_empty() {
        return Ok(HashSet::new());
    }
    let statement = Statement::from_sql_and_values(DbBackend::Sqlite, SEEN_KEYS, [json(&keys)?]);
    db.query_all_raw(statement)
        .await?
        .iter()
        .map(|row| row.try_get_by_index::<String>(0))
        .collect()
}

/// The key rows of deliveries that write no log row (they changed nothing and asked for
/// nothing); the others keep their key on their commit's last row.
pub(super) async fn insert_key_rows(
    db: &impl ConnectionTrait,
    fresh: &[&Placed],
) -> Result<(), DbErr> {
    let rows: Vec<_> = fresh
        .iter()
        .filter(|c| c.applied.is_empty() && c.effects.is_empty())
        .filter_map(|c| {
            let e = c.inbox.as_ref()?;
            Some((
                &e.dedupe_key,
                e.event_type,
                c.order.shop_id.as_str(),
                c.order.id.as_str(),
            ))
        })
        .collect();
    write(db, KEY_ROWS, &rows, []).await
}

/// The log rows of a batch.
pub(super) async fn insert_log(
    db: &impl ConnectionTrait,
    rows: &[LogRow<'_>],
) -> Result<(), DbErr> {
    let mut texts = Texts::default();
    let rows = rows
        .iter()
        .map(|r| {
            let (payload, payload_len) = texts.push_payload(r)?;
            let (effects, effects_len) = texts.push_effects(r)?;
            Ok((
                r.position,
                r.slot,
                r.order_id,
                r.seq,
                r.kind,
                r.from_status,
                r.to_status,
                r.from_stage,
                r.to_stage,
                r.cause,
                r.dedupe_key,
                payload,
                payload_len,
                effects,
                effects_len,
            ))
        })
        .collect::<Result<Vec<_>, DbErr>>()?;
    write(db, LOG, &rows, [Value::from(texts.buffer)]).await
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
    write(db, SNAPSHOTS, &rows, []).await
}
