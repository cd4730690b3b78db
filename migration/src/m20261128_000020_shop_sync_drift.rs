//! Drift per shop: how many orders the poller found changed that no webhook had told us about,
//! summed over the shop's polls (the dashboard's shops table and `GET /api/v1/shops` show it).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Shops::Table)
                    .add_column(big_integer(Shops::SyncRepaired).default(0))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Shops::Table)
                    .drop_column(Shops::SyncRepaired)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Shops {
    Table,
    SyncRepaired,
}
