//! An order's detail (TikTok's order as fetched: items, recipient, payment, ~2 KB of JSON) moves
//! to a table of its own, `order_details`, written when a detail is fetched. `orders` keeps the
//! narrow row that lists and status changes touch, with the money and deadlines a list filters
//! and sorts by. PostgreSQL writes the whole row again on every status change: with the detail
//! on it, 2,029 bytes of WAL and ~31–35 µs per change against 591 bytes and ~18.5 µs without
//! (`loadtest/detail-wal.sh`, docs/PERFORMANCE.md sessions 77–78).
//!
//! The new table has its order's row-level security on PostgreSQL (a shop sees the details of
//! its own orders only). On PostgreSQL dropping the column changes only the catalogue (each row
//! loses its copy when it is next written); SQLite rewrites the table. `down` puts every detail
//! back on its order's row and drops the table.

use sea_orm_migration::sea_orm::DbBackend;
use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261128_000022_row_level_security::SHOP_ROLE;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OrderDetails::Table)
                    .col(string_len(OrderDetails::OrderId, 64).primary_key())
                    .col(json_binary(OrderDetails::Detail))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_order_details_order")
                            .from(OrderDetails::Table, OrderDetails::OrderId)
                            .to(Orders::Table, Orders::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        if manager.get_database_backend() == DbBackend::Postgres {
            // Order ids compare as bytes (migration 31): a join under two collations would
            // leave this table's key unused and read all of it for each order shown.
            db.execute_unprepared(&format!(
                "ALTER TABLE order_details ALTER COLUMN order_id TYPE varchar(64) COLLATE \"C\";
                 GRANT SELECT ON order_details TO {SHOP_ROLE};
                 ALTER TABLE order_details ENABLE ROW LEVEL SECURITY;
                 ALTER TABLE order_details FORCE ROW LEVEL SECURITY;
                 CREATE POLICY creatorflow_engine ON order_details TO CURRENT_USER
                   USING (true) WITH CHECK (true);
                 CREATE POLICY creatorflow_shop ON order_details FOR SELECT TO {SHOP_ROLE}
                   USING (EXISTS (SELECT 1 FROM orders o WHERE o.id = order_id));"
            ))
            .await?;
        }
        db.execute_unprepared(
            "INSERT INTO order_details (order_id, detail) \
             SELECT id, detail FROM orders WHERE detail IS NOT NULL",
        )
        .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Orders::Table)
                    .drop_column(Orders::Detail)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Orders::Table)
                    .add_column(json_binary_null(Orders::Detail))
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE orders SET detail = \
                 (SELECT d.detail FROM order_details d WHERE d.order_id = orders.id) \
                 WHERE EXISTS (SELECT 1 FROM order_details d WHERE d.order_id = orders.id)",
            )
            .await?;
        manager
            .drop_table(Table::drop().table(OrderDetails::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Orders {
    Table,
    Id,
    Detail,
}

#[derive(DeriveIden)]
enum OrderDetails {
    Table,
    OrderId,
    Detail,
}
