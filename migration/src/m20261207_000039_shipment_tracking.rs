//! Shipments found by their tracking number (`tracking:` in the order search): a buyer or a
//! carrier names the parcel by it. One index entry per shipment written (a shipment is written
//! once per label, not per status change).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEX: &str = "idx_shipments_tracking_number";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(INDEX)
                    .table(Shipments::Table)
                    .col(Shipments::TrackingNumber)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name(INDEX).table(Shipments::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Shipments {
    Table,
    TrackingNumber,
}
