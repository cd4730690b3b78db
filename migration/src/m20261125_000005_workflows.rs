//! Durable workflow runs: one run per order (its template, the step it is at, when it is due,
//! how urgent it is) and the history of its steps. Failed steps that exhausted their retries are
//! the dead letters an operator inspects and replays.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WorkflowRuns::Table)
                    .col(big_pk_auto(WorkflowRuns::Id))
                    .col(string_len_uniq(WorkflowRuns::OrderId, 64))
                    .col(string_len(WorkflowRuns::ShopId, 64))
                    .col(string_len(WorkflowRuns::Template, 64))
                    .col(string_len(WorkflowRuns::Status, 16))
                    .col(integer(WorkflowRuns::Step))
                    .col(integer(WorkflowRuns::Attempts))
                    .col(text_null(WorkflowRuns::LastError))
                    .col(timestamp_with_time_zone(WorkflowRuns::NextAt))
                    .col(big_integer_null(WorkflowRuns::RtsSlaTime))
                    .col(timestamp_with_time_zone(WorkflowRuns::CreatedAt))
                    .col(timestamp_with_time_zone(WorkflowRuns::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_workflow_runs_due")
                    .table(WorkflowRuns::Table)
                    .col(WorkflowRuns::Status)
                    .col(WorkflowRuns::NextAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WorkflowSteps::Table)
                    .col(big_pk_auto(WorkflowSteps::Id))
                    .col(big_integer(WorkflowSteps::RunId))
                    .col(integer(WorkflowSteps::Seq))
                    .col(string_len(WorkflowSteps::Name, 64))
                    .col(string_len(WorkflowSteps::Action, 32))
                    .col(string_len(WorkflowSteps::Status, 16))
                    .col(integer(WorkflowSteps::Attempts))
                    .col(string_len(WorkflowSteps::IdempotencyKey, 128))
                    .col(text_null(WorkflowSteps::Detail))
                    .col(big_integer(WorkflowSteps::DurationMicros))
                    .col(timestamp_with_time_zone(WorkflowSteps::FinishedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_workflow_steps_run")
                    .table(WorkflowSteps::Table)
                    .col(WorkflowSteps::RunId)
                    .col(WorkflowSteps::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_workflow_steps_status")
                    .table(WorkflowSteps::Table)
                    .col(WorkflowSteps::Status)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            WorkflowSteps::Table.into_iden(),
            WorkflowRuns::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum WorkflowRuns {
    Table,
    Id,
    OrderId,
    ShopId,
    Template,
    Status,
    Step,
    Attempts,
    LastError,
    NextAt,
    RtsSlaTime,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WorkflowSteps {
    Table,
    Id,
    RunId,
    Seq,
    Name,
    Action,
    Status,
    Attempts,
    IdempotencyKey,
    Detail,
    DurationMicros,
    FinishedAt,
}
