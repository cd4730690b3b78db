//! Every status change moves the order row in each of its indexes, and on the ingest path that
//! is most of the database's work (on PostgreSQL every update is a new row version with a new
//! entry in all seven indexes). The three lists that span all shops — newest first, by status,
//! by stage — are only an administrator's, and they are now read shop by shop through the
//! per-shop indexes of migrations 2 and 9 and merged (`Database::list_orders`), so their own
//! indexes go: four remain (the key, and a shop's lists by time, status and stage).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Name and leading column (before `updated_at, id`) of each dropped index.
const INDEXES: [(&str, &str); 3] = [
    ("idx_orders_status_updated", "status, "),
    ("idx_orders_stage_updated", "stage, "),
    ("idx_orders_updated", ""),
];

// One batch of statements per direction, on one connection (see migration 12).
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let up: Vec<String> = INDEXES
            .iter()
            .map(|(name, _)| format!("DROP INDEX {name}"))
            .collect();
        manager
            .get_connection()
            .execute_unprepared(&up.join("; "))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let down: Vec<String> = INDEXES
            .iter()
            .map(|(name, first)| format!("CREATE INDEX {name} ON orders ({first}updated_at, id)"))
            .collect();
        manager
            .get_connection()
            .execute_unprepared(&down.join("; "))
            .await?;
        Ok(())
    }
}
