//! Analytics reads the log: the transitions it counted were a second copy of what the log
//! already holds (each commit's `order.transition.*` effect, at its position, with its commit
//! time), written by a bus consumer in a transaction of its own: a row and two index entries
//! per transition, ~12–14% of PostgreSQL's statement time and ~13% of the daemon's instructions
//! per webhook (docs/PERFORMANCE.md, sessions 27–41). The summary now reads a window of the log
//! by commit time, so the log gets an index on `created_at`: on PostgreSQL a BRIN index (the log
//! is appended in time order; a block range is summarised by vacuum once full, so an insert
//! into the newest range costs nothing), on SQLite a B-tree.
//!
//! `down` makes the table again, as migration 30 left it (with its row-level security on
//! PostgreSQL), and fills it from the log: every transition the log holds, as the consumer
//! would have recorded it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

use crate::m20261128_000022_row_level_security::SHOP_ROLE;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEX: &str = "idx_order_events_created_at";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let method = match manager.get_database_backend() {
            DbBackend::Postgres => "USING brin ",
            _ => "",
        };
        db.execute_unprepared(&format!(
            "CREATE INDEX {INDEX} ON order_events {method}(created_at)"
        ))
        .await?;
        db.execute_unprepared("DROP TABLE analytics_transitions")
            .await
            .map(drop)
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .create_table(
                Table::create()
                    .table(Analytics::Table)
                    .col(
                        ColumnDef::new(Analytics::MessageId)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Analytics::OrderId).string_len(64).not_null())
                    .col(ColumnDef::new(Analytics::ShopId).string_len(64).not_null())
                    .col(ColumnDef::new(Analytics::Status).string_len(32).not_null())
                    .col(ColumnDef::new(Analytics::Stage).string_len(32).not_null())
                    .col(ColumnDef::new(Analytics::Day).string_len(10).not_null())
                    .col(ColumnDef::new(Analytics::LatencyMs).big_integer().null())
                    .col(ColumnDef::new(Analytics::RtsSlaTime).big_integer().null())
                    .col(
                        ColumnDef::new(Analytics::RecordedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_analytics_transitions_shop_recorded")
                    .table(Analytics::Table)
                    .col(Analytics::ShopId)
                    .col(Analytics::RecordedAt)
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        if backend == DbBackend::Postgres {
            db.execute_unprepared(&format!(
                "GRANT SELECT ON analytics_transitions TO {SHOP_ROLE};
                 ALTER TABLE analytics_transitions ENABLE ROW LEVEL SECURITY;
                 ALTER TABLE analytics_transitions FORCE ROW LEVEL SECURITY;
                 CREATE POLICY creatorflow_engine ON analytics_transitions TO CURRENT_USER
                   USING (true) WITH CHECK (true);
                 CREATE POLICY creatorflow_shop ON analytics_transitions FOR SELECT
                   TO {SHOP_ROLE}
                   USING (shop_id = current_setting('creatorflow.shop_id', true));"
            ))
            .await?;
        }
        db.execute_unprepared(match backend {
            DbBackend::Postgres => REFILL_POSTGRES,
            _ => REFILL_SQLITE,
        })
        .await?;
        db.execute_unprepared(&format!("DROP INDEX {INDEX}"))
            .await
            .map(drop)
    }
}

/// Every transition in the log as the analytics consumer recorded it: its position as the
/// message id, the UTC day and time of its commit, TikTok's `update_time` to the commit as the
/// latency, its order's ready-to-ship deadline.
const REFILL_POSTGRES: &str = "\
INSERT INTO analytics_transitions (message_id, order_id, shop_id, status, stage, day, latency_ms, \
rts_sla_time, recorded_at) \
SELECT e.position, t ->> 'order_id', t ->> 'shop_id', t ->> 'status', t ->> 'stage', \
to_char(e.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), \
floor(extract(epoch FROM e.created_at) * 1000)::bigint - (t ->> 'update_time')::bigint * 1000, \
(SELECT extract(epoch FROM o.rts_sla_at)::bigint FROM orders o WHERE o.id = t ->> 'order_id'), \
e.created_at \
FROM order_events e \
CROSS JOIN LATERAL json_array_elements(e.effects::json) AS p(pair) \
CROSS JOIN LATERAL (SELECT p.pair -> 1 AS t) AS effect \
WHERE e.effects IS NOT NULL AND p.pair ->> 0 LIKE 'order.transition.%'";

const REFILL_SQLITE: &str = "\
INSERT INTO analytics_transitions (message_id, order_id, shop_id, status, stage, day, latency_ms, \
rts_sla_time, recorded_at) \
SELECT e.position, p.value -> 1 ->> 'order_id', p.value -> 1 ->> 'shop_id', \
p.value -> 1 ->> 'status', p.value -> 1 ->> 'stage', strftime('%Y-%m-%d', e.created_at), \
CAST((julianday(e.created_at) - 2440587.5) * 86400000 AS INTEGER) \
- (p.value -> 1 ->> 'update_time') * 1000, \
(SELECT CAST(strftime('%s', o.rts_sla_at) AS INTEGER) FROM orders o \
WHERE o.id = p.value -> 1 ->> 'order_id'), \
e.created_at \
FROM order_events e, json_each(e.effects) AS p \
WHERE e.effects IS NOT NULL AND p.value ->> 0 LIKE 'order.transition.%'";

#[derive(DeriveIden)]
enum Analytics {
    #[sea_orm(iden = "analytics_transitions")]
    Table,
    MessageId,
    OrderId,
    ShopId,
    Status,
    Stage,
    Day,
    LatencyMs,
    RtsSlaTime,
    RecordedAt,
}
