//! Workflow metadata on orders: tags set by workflows (conditions read them) and a run
//! priority that orders the scheduler before TikTok's ready-to-ship deadline.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OrderTags::Table)
                    .col(string_len(OrderTags::OrderId, 64))
                    .col(string_len(OrderTags::Tag, 64))
                    .col(timestamp_with_time_zone(OrderTags::CreatedAt))
                    .primary_key(Index::create().col(OrderTags::OrderId).col(OrderTags::Tag))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(WorkflowRuns::Table)
                    .add_column(integer(WorkflowRuns::Priority).default(0))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(WorkflowRuns::Table)
                    .drop_column(WorkflowRuns::Priority)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(OrderTags::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum OrderTags {
    Table,
    OrderId,
    Tag,
    CreatedAt,
}

#[derive(DeriveIden)]
enum WorkflowRuns {
    Table,
    Priority,
}
