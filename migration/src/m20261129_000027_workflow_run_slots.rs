//! Each workflow run carries its order's slot, so that in cluster mode only the node holding
//! that slot runs its steps (and records them only while it still holds it).

use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261128_000013_the_log::set_slots;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(WorkflowRuns::Table)
                    .add_column(small_integer(WorkflowRuns::Slot).default(0))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        set_slots(db, manager.get_database_backend(), "workflow_runs").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(WorkflowRuns::Table)
                    .drop_column(WorkflowRuns::Slot)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum WorkflowRuns {
    Table,
    Slot,
}
