//! Bulk jobs: one row per job (its action, its scope, where it stands) and one row per target
//! order, fixed when the job is created (new matches do not slip in), with its outcome once
//! processed. A job resumes after a restart from its first item without an outcome.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(BulkJobs::Table)
                    .col(big_pk_auto(BulkJobs::Id))
                    .col(string_len_null(BulkJobs::ShopId, 64))
                    .col(string_len(BulkJobs::Action, 32))
                    .col(json_binary(BulkJobs::Params))
                    .col(text_null(BulkJobs::Query))
                    .col(string_len(BulkJobs::State, 16))
                    .col(big_integer(BulkJobs::Total))
                    .col(big_integer(BulkJobs::Processed))
                    .col(big_integer(BulkJobs::Succeeded))
                    .col(big_integer(BulkJobs::Failed))
                    .col(string(BulkJobs::CreatedBy))
                    .col(timestamp_with_time_zone(BulkJobs::CreatedAt))
                    .col(timestamp_with_time_zone_null(BulkJobs::StartedAt))
                    .col(timestamp_with_time_zone_null(BulkJobs::FinishedAt))
                    .col(timestamp_with_time_zone(BulkJobs::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_bulk_jobs_state")
                    .table(BulkJobs::Table)
                    .col(BulkJobs::State)
                    .col(BulkJobs::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(BulkJobItems::Table)
                    .col(big_integer(BulkJobItems::JobId))
                    .col(big_integer(BulkJobItems::Seq))
                    .col(string_len(BulkJobItems::OrderId, 64))
                    .col(string_len_null(BulkJobItems::Outcome, 16))
                    .col(text_null(BulkJobItems::Reason))
                    .col(timestamp_with_time_zone_null(BulkJobItems::ProcessedAt))
                    .primary_key(
                        Index::create()
                            .col(BulkJobItems::JobId)
                            .col(BulkJobItems::Seq),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(BulkJobItems::Table, BulkJobItems::JobId)
                            .to(BulkJobs::Table, BulkJobs::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_bulk_job_items_outcome")
                    .table(BulkJobItems::Table)
                    .col(BulkJobItems::JobId)
                    .col(BulkJobItems::Outcome)
                    .col(BulkJobItems::Seq)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(BulkJobItems::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(BulkJobs::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum BulkJobs {
    Table,
    Id,
    ShopId,
    Action,
    Params,
    Query,
    State,
    Total,
    Processed,
    Succeeded,
    Failed,
    CreatedBy,
    CreatedAt,
    StartedAt,
    FinishedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum BulkJobItems {
    Table,
    JobId,
    Seq,
    OrderId,
    Outcome,
    Reason,
    ProcessedAt,
}
