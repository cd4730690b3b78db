//! Cluster mode: each node's row says the `cluster.lease` it runs with, so that nodes set up with
//! different leases (which judge each other's liveness and failover by different clocks) are
//! seen and named: on `GET /api/v1/cluster`, the dashboard and in each node's log.

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
                    .add_column(big_integer_null(ClusterNodes::LeaseMs))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ClusterNodes::Table)
                    .drop_column(ClusterNodes::LeaseMs)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum ClusterNodes {
    Table,
    LeaseMs,
}
