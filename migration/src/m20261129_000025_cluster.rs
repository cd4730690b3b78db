//! Several nodes on one PostgreSQL: the nodes that say they are alive, and one lease row per
//! slot of orders (its owner, an epoch that grows at every change of owner, and when the lease
//! ends by the database clock). The lease rows are made by the first node that starts in
//! cluster mode; a single node never reads them.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ClusterNodes::Table)
                    .if_not_exists()
                    .col(string_len(ClusterNodes::NodeId, 128).primary_key())
                    .col(string_len(ClusterNodes::AdvertiseUrl, 512))
                    .col(timestamp_with_time_zone(ClusterNodes::StartedAt))
                    .col(timestamp_with_time_zone(ClusterNodes::HeartbeatAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SlotLeases::Table)
                    .if_not_exists()
                    .col(small_integer(SlotLeases::Slot).primary_key())
                    .col(string_len_null(SlotLeases::Owner, 128))
                    .col(big_integer(SlotLeases::Epoch).default(0))
                    .col(timestamp_with_time_zone_null(SlotLeases::ExpiresAt))
                    .col(timestamp_with_time_zone_null(SlotLeases::AcquiredAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SlotLeases::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ClusterNodes::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum ClusterNodes {
    Table,
    NodeId,
    AdvertiseUrl,
    StartedAt,
    HeartbeatAt,
}

#[derive(DeriveIden)]
enum SlotLeases {
    Table,
    Slot,
    Owner,
    Epoch,
    ExpiresAt,
    AcquiredAt,
}
