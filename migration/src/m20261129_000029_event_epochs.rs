//! Cluster mode: each log row carries the epoch at which its node held the row's slot when the
//! row was written (checked in the same statement), so that a run can count rows written under
//! a stale epoch (there must be none). NULL for rows a single node wrote.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(OrderEvents::Table)
                    .add_column(big_integer_null(OrderEvents::Epoch))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(OrderEvents::Table)
                    .drop_column(OrderEvents::Epoch)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum OrderEvents {
    Table,
    Epoch,
}
