//! The journal is the log. `order_events` gets a `position` (its primary key: commit order, the
//! order every subscription reads in), a `slot` (`fnv1a(order_id) % 256`, see [`slot_of`]), the
//! `dedupe_key` of the delivery that caused it (unique; it replaces the inbox row of every
//! delivery that records an event) and the commit's `effects` (on the commit's last row; they
//! replace the outbox rows). A delivery that asks for work but records no event writes one row
//! without a `seq` (kind `effects`), which the history does not show. `log_checkpoints` holds
//! each subscription's position per slot.
//!
//! Existing events get positions in their order of creation, numbered after every outbox id
//! ever issued: consumers dedupe on message ids, which were outbox ids before and are positions
//! now. The subscriptions start at the end of the log: what was owed before lives on as outbox
//! rows, which the daemon still works off (delivered once).
//!
//! `down` gives every dedupe key back to the inbox and every effect not yet read by its
//! subscription back to the outbox, so the previous version carries on where this one stopped.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend, Statement, Value};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The number of slots orders are partitioned into.
pub const SLOTS: u64 = 256;

/// The slot of an order: FNV-1a of its id modulo [`SLOTS`]. The daemon's `OrderId::slot` is the
/// same function (a test in the daemon compares them); it is repeated here because migrations
/// must not depend on the code they migrate for.
pub fn slot_of(order_id: &str) -> i16 {
    let hash = order_id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    (hash % SLOTS) as i16
}

/// The subscriptions the daemon runs; each starts at the end of the log.
const SUBSCRIPTIONS: [&str; 3] = ["relay", "tiktok.fetch_detail", "workflow.start"];

/// Orders whose slot one statement sets.
const SLOT_CHUNK: usize = 5_000;

const SQLITE_UP: &str = "\
CREATE TABLE order_log ( \
  position integer NOT NULL PRIMARY KEY, \
  slot integer NOT NULL, \
  order_id varchar(64) NOT NULL, \
  seq integer NULL, \
  kind varchar(48) NOT NULL, \
  from_status varchar(32) NULL, \
  to_status varchar(32) NULL, \
  from_stage varchar(32) NULL, \
  to_stage varchar(32) NULL, \
  cause varchar(160) NOT NULL, \
  payload json_text NOT NULL, \
  dedupe_key varchar(200) NULL, \
  effects json_text NULL, \
  created_at timestamp_with_timezone_text NOT NULL); \
INSERT INTO order_log (position, slot, order_id, seq, kind, from_status, to_status, from_stage, \
  to_stage, cause, payload, created_at) \
SELECT {offset} + row_number() OVER (ORDER BY created_at, order_id, seq), 0, order_id, seq, kind, \
  from_status, to_status, from_stage, to_stage, cause, payload, created_at FROM order_events; \
DROP TABLE order_events; \
ALTER TABLE order_log RENAME TO order_events; \
CREATE UNIQUE INDEX idx_order_events_seq ON order_events (order_id, seq); \
CREATE UNIQUE INDEX idx_order_events_dedupe ON order_events (dedupe_key) WHERE dedupe_key IS NOT NULL; \
CREATE TABLE log_checkpoints ( \
  subscription varchar(64) NOT NULL, \
  slot integer NOT NULL, \
  position integer NOT NULL, \
  PRIMARY KEY (subscription, slot))";

const POSTGRES_UP: &str = "\
ALTER TABLE order_events ADD COLUMN position bigint, ADD COLUMN slot smallint NOT NULL DEFAULT 0, \
  ADD COLUMN dedupe_key varchar(200), ADD COLUMN effects jsonb; \
UPDATE order_events e SET position = {offset} + n.n FROM ( \
  SELECT order_id, seq, row_number() OVER (ORDER BY created_at, order_id, seq) AS n FROM order_events \
) n WHERE e.order_id = n.order_id AND e.seq = n.seq; \
ALTER TABLE order_events DROP CONSTRAINT order_events_pkey, ALTER COLUMN position SET NOT NULL, \
  ALTER COLUMN slot DROP DEFAULT, ALTER COLUMN seq DROP NOT NULL, ADD PRIMARY KEY (position); \
CREATE UNIQUE INDEX idx_order_events_seq ON order_events (order_id, seq); \
CREATE UNIQUE INDEX idx_order_events_dedupe ON order_events (dedupe_key) WHERE dedupe_key IS NOT NULL; \
CREATE TABLE log_checkpoints ( \
  subscription varchar(64) NOT NULL, \
  slot smallint NOT NULL, \
  position bigint NOT NULL, \
  PRIMARY KEY (subscription, slot))";

/// Back to the previous shape: keys to the inbox, unread effects to the outbox (in log order),
/// effect-only rows dropped, then the table as migration 2 made it.
const SQLITE_DOWN: &str = "\
INSERT INTO webhook_inbox (dedupe_key, event_type, shop_id, order_id, received_at) \
SELECT dedupe_key, 0, NULL, order_id, created_at FROM order_events WHERE dedupe_key IS NOT NULL \
ON CONFLICT (dedupe_key) DO NOTHING; \
INSERT INTO outbox (routing_key, payload, attempts, created_at) \
SELECT e.value ->> 0, e.value -> 1, 0, l.created_at FROM order_events l, json_each(l.effects) e \
WHERE l.effects IS NOT NULL AND l.position > ( \
  SELECT coalesce(min(position), 0) FROM log_checkpoints c \
  WHERE c.subscription = CASE WHEN e.value ->> 0 IN ('tiktok.fetch_detail', 'workflow.start') \
    THEN e.value ->> 0 ELSE 'relay' END) \
ORDER BY l.position, e.key; \
DROP TABLE log_checkpoints; \
CREATE TABLE order_events_old ( \
  order_id varchar(64) NOT NULL, \
  seq bigint NOT NULL, \
  kind varchar(48) NOT NULL, \
  from_status varchar(32) NULL, \
  to_status varchar(32) NULL, \
  from_stage varchar(32) NULL, \
  to_stage varchar(32) NULL, \
  cause varchar(160) NOT NULL, \
  payload json_text NOT NULL, \
  created_at timestamp_with_timezone_text NOT NULL, \
  PRIMARY KEY (order_id, seq)); \
INSERT INTO order_events_old SELECT order_id, seq, kind, from_status, to_status, from_stage, \
  to_stage, cause, payload, created_at FROM order_events WHERE seq IS NOT NULL ORDER BY position; \
DROP TABLE order_events; \
ALTER TABLE order_events_old RENAME TO order_events";

const POSTGRES_DOWN: &str = "\
INSERT INTO webhook_inbox (dedupe_key, event_type, shop_id, order_id, received_at) \
SELECT dedupe_key, 0, NULL, order_id, created_at FROM order_events WHERE dedupe_key IS NOT NULL \
ON CONFLICT (dedupe_key) DO NOTHING; \
INSERT INTO outbox (routing_key, payload, attempts, created_at) \
SELECT e.value ->> 0, e.value -> 1, 0, l.created_at \
FROM order_events l, jsonb_array_elements(l.effects) WITH ORDINALITY e(value, i) \
WHERE l.effects IS NOT NULL AND l.position > ( \
  SELECT coalesce(min(position), 0) FROM log_checkpoints c \
  WHERE c.subscription = CASE WHEN e.value ->> 0 IN ('tiktok.fetch_detail', 'workflow.start') \
    THEN e.value ->> 0 ELSE 'relay' END) \
ORDER BY l.position, e.i; \
DROP TABLE log_checkpoints; \
DELETE FROM order_events WHERE seq IS NULL; \
DROP INDEX idx_order_events_dedupe; \
DROP INDEX idx_order_events_seq; \
ALTER TABLE order_events DROP CONSTRAINT order_events_pkey, ALTER COLUMN seq SET NOT NULL, \
  DROP COLUMN position, DROP COLUMN slot, DROP COLUMN dedupe_key, DROP COLUMN effects, \
  ADD PRIMARY KEY (order_id, seq)";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        let offset = outbox_ids_issued(db, backend).await?;
        let up = match backend {
            DatabaseBackend::Sqlite => SQLITE_UP,
            _ => POSTGRES_UP,
        }
        .replace("{offset}", &offset.to_string());
        // One batch on one connection: see migration 12.
        db.execute_unprepared(&up).await?;
        set_slots(db, backend, "order_events").await?;
        let end: i64 = db
            .query_one_raw(Statement::from_string(
                backend,
                "SELECT coalesce(max(position), 0) FROM order_events",
            ))
            .await?
            .map(|row| row.try_get_by_index(0))
            .transpose()?
            .unwrap_or(0);
        let rows: Vec<String> = SUBSCRIPTIONS
            .iter()
            .flat_map(|s| (0..SLOTS).map(move |slot| format!("('{s}', {slot}, {end})")))
            .collect();
        for chunk in rows.chunks(256) {
            db.execute_unprepared(&format!(
                "INSERT INTO log_checkpoints (subscription, slot, position) VALUES {}",
                chunk.join(", ")
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let down = match manager.get_database_backend() {
            DatabaseBackend::Sqlite => SQLITE_DOWN,
            _ => POSTGRES_DOWN,
        };
        manager.get_connection().execute_unprepared(down).await?;
        Ok(())
    }
}

/// The highest outbox id ever issued (deleted rows included), 0 if none.
async fn outbox_ids_issued(
    db: &impl ConnectionTrait,
    backend: DatabaseBackend,
) -> Result<i64, DbErr> {
    let sql = match backend {
        DatabaseBackend::Sqlite => {
            "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'outbox'), 0)"
        }
        _ => {
            "SELECT coalesce((SELECT last_value FROM pg_sequences \
             WHERE sequencename = 'outbox_id_seq' AND last_value IS NOT NULL), 0)"
        }
    };
    let row = db
        .query_one_raw(Statement::from_string(backend, sql))
        .await?;
    Ok(row
        .map(|row| row.try_get_by_index::<i64>(0))
        .transpose()?
        .unwrap_or(0))
}

/// Sets the slot of every existing row of `table` (which has `order_id` and `slot`), a few
/// thousand orders per statement: the hash is not expressible in SQL on SQLite, so it is
/// computed here.
pub(crate) async fn set_slots(
    db: &impl ConnectionTrait,
    backend: DatabaseBackend,
    table: &str,
) -> Result<(), DbErr> {
    let ids: Vec<String> = db
        .query_all_raw(Statement::from_string(
            backend,
            format!("SELECT DISTINCT order_id FROM {table}"),
        ))
        .await?
        .iter()
        .map(|row| row.try_get_by_index(0))
        .collect::<Result<_, _>>()?;
    let sql = match backend {
        DatabaseBackend::Sqlite => format!(
            "UPDATE {table} SET slot = (SELECT s.value FROM json_each(?1) s \
             WHERE s.key = {table}.order_id) \
             WHERE order_id IN (SELECT key FROM json_each(?1))"
        ),
        _ => format!(
            "UPDATE {table} e SET slot = s.value::smallint \
             FROM jsonb_each_text($1::text::jsonb) s WHERE e.order_id = s.key"
        ),
    };
    for chunk in ids.chunks(SLOT_CHUNK) {
        let slots: serde_json::Map<String, serde_json::Value> = chunk
            .iter()
            .map(|id| (id.clone(), slot_of(id).into()))
            .collect();
        let json = serde_json::Value::Object(slots).to_string();
        db.execute_raw(Statement::from_sql_and_values(
            backend,
            &sql,
            [Value::from(json)],
        ))
        .await?;
    }
    Ok(())
}
