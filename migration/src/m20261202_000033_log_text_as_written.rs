//! The log's payload and effects as text (PostgreSQL only; SQLite stores text either way).
//!
//! `json` (migration 32) still lexed every row's payload and effects to check they are JSON:
//! ~1.3–1.8 µs of PostgreSQL's CPU per webhook (docs/PERFORMANCE.md, sessions 30 and 38). Only
//! the daemon writes them, from serde, and only the daemon reads them, whole; no query looks
//! inside them in SQL. So the database keeps the text as it came, and the readers parse it.

use sea_orm_migration::prelude::*;

use crate::m20261130_000032_log_json_as_written::retype;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        retype(manager, "text").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        retype(manager, "json").await
    }
}
