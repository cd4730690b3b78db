//! Orders by tag: a search `tag:vip` starts from the orders that carry the tag.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("idx_order_tags_tag")
                    .table(OrderTags::Table)
                    .col(OrderTags::Tag)
                    .col(OrderTags::OrderId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_order_tags_tag")
                    .table(OrderTags::Table)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum OrderTags {
    Table,
    Tag,
    OrderId,
}
