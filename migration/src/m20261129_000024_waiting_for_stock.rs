//! A run short of stock waits for it: `waiting_for` names the SKU and `waiting_units` how many
//! it needs, so a restock or a released reservation wakes exactly the runs the freed units can
//! serve, most urgent first.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(WorkflowRuns::Table)
                    .add_column(string_len_null(WorkflowRuns::WaitingFor, 64))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(WorkflowRuns::Table)
                    .add_column(big_integer_null(WorkflowRuns::WaitingUnits))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_workflow_runs_waiting_for")
                    .table(WorkflowRuns::Table)
                    .col(WorkflowRuns::ShopId)
                    .col(WorkflowRuns::WaitingFor)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_workflow_runs_waiting_for")
                    .table(WorkflowRuns::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(WorkflowRuns::Table)
                    .drop_column(WorkflowRuns::WaitingUnits)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(WorkflowRuns::Table)
                    .drop_column(WorkflowRuns::WaitingFor)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum WorkflowRuns {
    Table,
    ShopId,
    WaitingFor,
    WaitingUnits,
}
