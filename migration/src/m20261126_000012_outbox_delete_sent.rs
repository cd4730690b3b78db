//! An outbox row is deleted once its work is done, instead of being kept with a `sent_at`: the
//! table held every transition ever announced (it only grew), and marking a row sent wrote a new
//! row version and index entries. What stays is what is still owed, and the rows given up on
//! (`attempts` at the limit) for an operator.
//!
//! Without `sent_at` the two readers' indexes become partial indexes on the routing key alone:
//! the relay's `(id)` of published keys, and the in-process workers' `(routing_key, id)` of their
//! own keys only (a transition row no longer enters it). Their predicates must stay identical to
//! `persistence::outbox::{PUBLISHED, WORKED_IN_PROCESS}`: the planners use a partial index only
//! for a query that repeats its predicate.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const PUBLISHED: &str = "routing_key NOT IN ('tiktok.fetch_detail', 'workflow.start')";
const WORKED_IN_PROCESS: &str = "routing_key IN ('tiktok.fetch_detail', 'workflow.start')";

// Each direction is one batch of statements, run on one connection: on SQLite another pooled
// connection may still hold the schema from before a `DROP INDEX`, and would refuse to create
// an index of the same name.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let up = format!(
            "DELETE FROM outbox WHERE sent_at IS NOT NULL; \
             DROP INDEX idx_outbox_relay; \
             DROP INDEX idx_outbox_route_unsent; \
             ALTER TABLE outbox DROP COLUMN sent_at; \
             CREATE INDEX idx_outbox_relay ON outbox (id) WHERE {PUBLISHED}; \
             CREATE INDEX idx_outbox_in_process ON outbox (routing_key, id) \
               WHERE {WORKED_IN_PROCESS}"
        );
        manager.get_connection().execute_unprepared(&up).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let down = format!(
            "DROP INDEX idx_outbox_in_process; \
             DROP INDEX idx_outbox_relay; \
             ALTER TABLE outbox ADD COLUMN sent_at {timestamp} NULL; \
             CREATE INDEX idx_outbox_route_unsent ON outbox (routing_key, sent_at, id); \
             CREATE INDEX idx_outbox_relay ON outbox (id) WHERE sent_at IS NULL AND {PUBLISHED}",
            timestamp = match manager.get_database_backend() {
                sea_orm::DatabaseBackend::Sqlite => "timestamp_with_timezone_text",
                _ => "timestamp with time zone",
            }
        );
        manager.get_connection().execute_unprepared(&down).await?;
        Ok(())
    }
}
