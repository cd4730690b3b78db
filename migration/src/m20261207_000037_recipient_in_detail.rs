//! An order's recipient lives in its detail only. `orders.recipient` held a second copy of
//! `detail -> 'recipient'` that nothing read; it made every order row wider, and every status
//! change writes the whole row again (~600 bytes of a ~2,700-byte row with its detail:
//! PostgreSQL's WAL per status change 2,666 → 2,027 bytes, `loadtest/detail-wal.sh`,
//! docs/PERFORMANCE.md session 77). On PostgreSQL dropping the column changes only the catalogue
//! (each row loses its copy when it is next written); SQLite rewrites the table. `down` brings
//! the column back, filled from the detail.

use sea_orm_migration::sea_orm::DatabaseBackend;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Orders::Table)
                    .drop_column(Orders::Recipient)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Orders::Table)
                    .add_column(json_binary_null(Orders::Recipient))
                    .to_owned(),
            )
            .await?;
        let fill = match manager.get_database_backend() {
            DatabaseBackend::Sqlite => {
                "UPDATE orders SET recipient = json_extract(detail, '$.recipient') \
                 WHERE detail IS NOT NULL"
            }
            _ => "UPDATE orders SET recipient = detail -> 'recipient' WHERE detail IS NOT NULL",
        };
        manager.get_connection().execute_unprepared(fill).await?;
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Orders {
    Table,
    Recipient,
}
