//! Cluster mode: a webhook's message for an order whose slot's owner did not answer in time is
//! kept here, for its slot, and the slot's owner applies it (deduplicated as always).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ParkedMessages::Table)
                    .if_not_exists()
                    .col(big_pk_auto(ParkedMessages::Id))
                    .col(small_integer(ParkedMessages::Slot))
                    .col(string_len(ParkedMessages::OrderId, 64))
                    .col(text(ParkedMessages::Envelope))
                    .col(timestamp_with_time_zone(ParkedMessages::ParkedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("parked_messages_by_slot")
                    .table(ParkedMessages::Table)
                    .col(ParkedMessages::Slot)
                    .col(ParkedMessages::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ParkedMessages::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum ParkedMessages {
    Table,
    Id,
    Slot,
    OrderId,
    Envelope,
    ParkedAt,
}
