//! Several nodes writing one log: positions come in blocks from one shared row (`log_head`),
//! and each node says the lowest position it may still write (`cluster_nodes.floor`, NULL
//! while it holds no block). Every position below both the head and every floor of a node that
//! holds slots is settled, on every node: what the log's readers read up to in cluster mode.
//! A single node never reads them (it hands out positions in memory).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(LogHead::Table)
                    .if_not_exists()
                    .col(small_integer(LogHead::Id).primary_key())
                    .col(big_integer(LogHead::Next))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ClusterNodes::Table)
                    .add_column(big_integer_null(ClusterNodes::Floor))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ClusterNodes::Table)
                    .drop_column(ClusterNodes::Floor)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(LogHead::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum LogHead {
    Table,
    Id,
    Next,
}

#[derive(DeriveIden)]
enum ClusterNodes {
    Table,
    Floor,
}
