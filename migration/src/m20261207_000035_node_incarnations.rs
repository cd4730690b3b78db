//! Cluster mode: a node's row names the process that holds it (`incarnation`, random per
//! start), so that a second process started with the same `cluster.node_id` cannot beat for it
//! while the first one is alive. Without it, two processes of one node id took each other's
//! slots at every round (each raising the epochs the other held), forever.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ClusterNodes::Table)
                    .add_column(string_len_null(ClusterNodes::Incarnation, 64))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ClusterNodes::Table)
                    .drop_column(ClusterNodes::Incarnation)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum ClusterNodes {
    Table,
    Incarnation,
}
