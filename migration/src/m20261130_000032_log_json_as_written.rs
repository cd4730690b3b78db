//! The log's payload and effects as written (`json`), not parsed into `jsonb` (PostgreSQL only;
//! SQLite stores text either way).
//!
//! Every change the journal commits carries its event's payload and its effects as JSON text,
//! which `jsonb` parsed, sorted and rebuilt into its binary form on each row: ~3 µs of
//! PostgreSQL's CPU per row of the batch (docs/PERFORMANCE.md, session 23). No query reads
//! inside them in SQL; the daemon reads them back whole. `json` still checks that the text is
//! JSON, and keeps it as it came.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        retype(manager, "json").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        retype(manager, "jsonb").await
    }
}

/// Gives the log's `payload` and `effects` the type `ty` (PostgreSQL only); migration 33 too.
pub(crate) async fn retype(manager: &SchemaManager<'_>, ty: &str) -> Result<(), DbErr> {
    if manager.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    manager
        .get_connection()
        .execute_unprepared(&format!(
            "ALTER TABLE order_events \
             ALTER COLUMN payload TYPE {ty} USING payload::{ty}, \
             ALTER COLUMN effects TYPE {ty} USING effects::{ty}"
        ))
        .await
        .map(drop)
}
