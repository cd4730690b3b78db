//! The analytics table's indexes, as its one reader asks: the summary reads a window of
//! transitions (`recorded_at >= since`), within one shop for a shop key. Its two indexes,
//! `(order_id, message_id)` and `(day, shop_id)`, served no query (the summary read the whole
//! table) and cost two index entries per relayed transition; one `(shop_id, recorded_at)`
//! serves a shop's summary and costs one. The primary key (`message_id`, the consumer's
//! dedupe) stays.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const BY_ORDER: &str = "idx_analytics_transitions_order";
const BY_DAY: &str = "idx_analytics_transitions_day";
const BY_SHOP_AND_TIME: &str = "idx_analytics_transitions_shop_recorded";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in [BY_ORDER, BY_DAY] {
            manager
                .drop_index(
                    Index::drop()
                        .name(name)
                        .table(AnalyticsTransitions::Table)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name(BY_SHOP_AND_TIME)
                    .table(AnalyticsTransitions::Table)
                    .col(AnalyticsTransitions::ShopId)
                    .col(AnalyticsTransitions::RecordedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(BY_SHOP_AND_TIME)
                    .table(AnalyticsTransitions::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(BY_ORDER)
                    .table(AnalyticsTransitions::Table)
                    .col(AnalyticsTransitions::OrderId)
                    .col(AnalyticsTransitions::MessageId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(BY_DAY)
                    .table(AnalyticsTransitions::Table)
                    .col(AnalyticsTransitions::Day)
                    .col(AnalyticsTransitions::ShopId)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum AnalyticsTransitions {
    Table,
    OrderId,
    MessageId,
    ShopId,
    Day,
    RecordedAt,
}
