//! Integrations: the stock ledger (levels per shop and SKU, reservations per order line) and the
//! analytics read model (one row per order transition relayed over the bus).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(StockLevels::Table)
                    .col(string_len(StockLevels::ShopId, 64))
                    .col(string_len(StockLevels::SkuId, 64))
                    .col(big_integer(StockLevels::OnHand))
                    .col(big_integer(StockLevels::Reserved))
                    .col(big_integer_null(StockLevels::LowStockThreshold))
                    .col(timestamp_with_time_zone(StockLevels::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(StockLevels::ShopId)
                            .col(StockLevels::SkuId),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(StockReservations::Table)
                    .col(big_pk_auto(StockReservations::Id))
                    .col(string_len(StockReservations::OrderId, 64))
                    .col(string_len(StockReservations::ShopId, 64))
                    .col(string_len(StockReservations::SkuId, 64))
                    .col(big_integer(StockReservations::Quantity))
                    .col(boolean(StockReservations::Tracked))
                    .col(string_len(StockReservations::State, 16))
                    .col(timestamp_with_time_zone(StockReservations::ExpiresAt))
                    .col(timestamp_with_time_zone(StockReservations::CreatedAt))
                    .col(timestamp_with_time_zone(StockReservations::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_stock_reservations_line")
                    .table(StockReservations::Table)
                    .col(StockReservations::OrderId)
                    .col(StockReservations::SkuId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_stock_reservations_expiry")
                    .table(StockReservations::Table)
                    .col(StockReservations::State)
                    .col(StockReservations::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AnalyticsTransitions::Table)
                    .col(big_integer(AnalyticsTransitions::MessageId).primary_key())
                    .col(string_len(AnalyticsTransitions::OrderId, 64))
                    .col(string_len(AnalyticsTransitions::ShopId, 64))
                    .col(string_len(AnalyticsTransitions::Status, 32))
                    .col(string_len(AnalyticsTransitions::Stage, 32))
                    .col(string_len(AnalyticsTransitions::Day, 10))
                    .col(big_integer_null(AnalyticsTransitions::LatencyMs))
                    .col(big_integer_null(AnalyticsTransitions::RtsSlaTime))
                    .col(timestamp_with_time_zone(AnalyticsTransitions::RecordedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_analytics_transitions_order")
                    .table(AnalyticsTransitions::Table)
                    .col(AnalyticsTransitions::OrderId)
                    .col(AnalyticsTransitions::MessageId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_analytics_transitions_day")
                    .table(AnalyticsTransitions::Table)
                    .col(AnalyticsTransitions::Day)
                    .col(AnalyticsTransitions::ShopId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AnalyticsTransitions::Table.into_iden(),
            StockReservations::Table.into_iden(),
            StockLevels::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum StockLevels {
    Table,
    ShopId,
    SkuId,
    OnHand,
    Reserved,
    LowStockThreshold,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum StockReservations {
    Table,
    Id,
    OrderId,
    ShopId,
    SkuId,
    Quantity,
    Tracked,
    State,
    ExpiresAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AnalyticsTransitions {
    Table,
    MessageId,
    OrderId,
    ShopId,
    Status,
    Stage,
    Day,
    LatencyMs,
    RtsSlaTime,
    RecordedAt,
}
