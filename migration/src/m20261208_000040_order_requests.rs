//! The buyers' cancellation and return requests, one row per request as TikTok last reported it
//! (`order_requests`), so that the orders with a request awaiting the seller can be listed
//! (`request:open` in the order search, the dashboard's "Buyer requests" tab) without reading
//! every order's history. Written beside the log row that records each update, in the batch's
//! transaction (as tags are); an older report arriving late does not replace a newer one.
//!
//! Filled from the log's `cancellation_updated` and `return_updated` rows already recorded (the
//! last of each request wins). The table has its order's row-level security on PostgreSQL.
//! `down` drops it: the log keeps every update.

use sea_orm_migration::sea_orm::DbBackend;
use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261128_000022_row_level_security::SHOP_ROLE;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The log rows' requests: `update` is the recorded `AfterSaleUpdated` event's request, read
/// from `payload` (the row's JSON text as PostgreSQL or SQLite reads it as JSON; `->` and `->>`
/// then read alike in both).
fn from_the_log(payload: &str) -> String {
    let field = |name: &str| format!("{payload} -> 'update' ->> '{name}'");
    format!(
        "SELECT e.order_id AS o, {} AS k, {} AS i, {} AS st, {} AS ro, {} AS rt, \
         CAST({} AS BIGINT) AS t, e.created_at AS at, e.position AS p \
         FROM order_events e WHERE e.kind IN ('cancellation_updated', 'return_updated')",
        field("kind"),
        field("id"),
        field("status"),
        field("role"),
        field("return_type"),
        field("time"),
    )
}

const COLUMNS: &str =
    "order_id, kind, request_id, status, role, return_type, tiktok_time, recorded_at";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OrderRequests::Table)
                    .col(string_len(OrderRequests::OrderId, 64))
                    .col(string_len(OrderRequests::Kind, 16))
                    .col(string_len(OrderRequests::RequestId, 64))
                    .col(string_len(OrderRequests::Status, 64))
                    .col(string_len_null(OrderRequests::Role, 32))
                    .col(string_len_null(OrderRequests::ReturnType, 32))
                    .col(big_integer(OrderRequests::TiktokTime))
                    .col(timestamp_with_time_zone(OrderRequests::RecordedAt))
                    .primary_key(
                        Index::create()
                            .col(OrderRequests::OrderId)
                            .col(OrderRequests::Kind)
                            .col(OrderRequests::RequestId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_order_requests_order")
                            .from(OrderRequests::Table, OrderRequests::OrderId)
                            .to(Orders::Table, Orders::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // `request:open` starts from the few requests in a status awaiting the seller.
        manager
            .create_index(
                Index::create()
                    .name("idx_order_requests_status")
                    .table(OrderRequests::Table)
                    .col(OrderRequests::Status)
                    .col(OrderRequests::OrderId)
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        if manager.get_database_backend() == DbBackend::Postgres {
            // Order ids compare as bytes (migration 31), as in every table that names an order.
            db.execute_unprepared(&format!(
                "ALTER TABLE order_requests ALTER COLUMN order_id TYPE varchar(64) COLLATE \"C\";
                 GRANT SELECT ON order_requests TO {SHOP_ROLE};
                 ALTER TABLE order_requests ENABLE ROW LEVEL SECURITY;
                 ALTER TABLE order_requests FORCE ROW LEVEL SECURITY;
                 CREATE POLICY creatorflow_engine ON order_requests TO CURRENT_USER
                   USING (true) WITH CHECK (true);
                 CREATE POLICY creatorflow_shop ON order_requests FOR SELECT TO {SHOP_ROLE}
                   USING (EXISTS (SELECT 1 FROM orders o WHERE o.id = order_id));
                 INSERT INTO order_requests ({COLUMNS})
                 SELECT DISTINCT ON (o, k, i) o, k, i, st, ro, rt, t, at FROM ({}) r
                 ORDER BY o, k, i, p DESC;",
                from_the_log("CAST(e.payload AS jsonb)")
            ))
            .await?;
        } else {
            // SQLite inserts in the order given: the newest row of each request replaces the
            // older ones.
            db.execute_unprepared(&format!(
                "INSERT OR REPLACE INTO order_requests ({COLUMNS}) \
                 SELECT o, k, i, st, ro, rt, t, at FROM ({}) ORDER BY p",
                from_the_log("e.payload")
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(OrderRequests::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Orders {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum OrderRequests {
    Table,
    OrderId,
    Kind,
    RequestId,
    Status,
    Role,
    ReturnType,
    TiktokTime,
    RecordedAt,
}
