//! The analytics table's indexes, as its one reader asks: the summary reads a window of
//! transitions (`recorded_at >= since`), within one shop for a shop key. Its two indexes,
//! `(order_id, message_id)` and `(day, shop_id)`, served no query (the summary read the whole
//! table) and cost two index entries per relayed transition; one `(shop_id, recorded_at)`
//! serves a shop's summary and costs one. The primary key (`message_id`, the consumer's
//! dedupe) stays.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

use AnalyticsTransitions::{Day, MessageId, OrderId, RecordedAt, ShopId};

/// The indexes before (`up` drops them, `down` makes them again) and after.
const BEFORE: [(&str, [AnalyticsTransitions; 2]); 2] = [
    ("idx_analytics_transitions_order", [OrderId, MessageId]),
    ("idx_analytics_transitions_day", [Day, ShopId]),
];
const AFTER: [(&str, [AnalyticsTransitions; 2]); 1] = [(
    "idx_analytics_transitions_shop_recorded",
    [ShopId, RecordedAt],
)];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        replace(manager, &BEFORE, &AFTER).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        replace(manager, &AFTER, &BEFORE).await
    }
}

/// Drops the indexes `old` and makes `new`.
async fn replace(
    manager: &SchemaManager<'_>,
    old: &[(&str, [AnalyticsTransitions; 2])],
    new: &[(&str, [AnalyticsTransitions; 2])],
) -> Result<(), DbErr> {
    for (name, _) in old {
        let drop = Index::drop()
            .name(*name)
            .table(AnalyticsTransitions::Table)
            .to_owned();
        manager.drop_index(drop).await?;
    }
    for (name, [first, second]) in new {
        let create = Index::create()
            .name(*name)
            .table(AnalyticsTransitions::Table)
            .col(*first)
            .col(*second)
            .to_owned();
        manager.create_index(create).await?;
    }
    Ok(())
}

#[derive(DeriveIden, Clone, Copy)]
enum AnalyticsTransitions {
    Table,
    OrderId,
    MessageId,
    ShopId,
    Day,
    RecordedAt,
}
