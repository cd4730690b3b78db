//! The relay's index: only the rows it still has to publish. Its scan used
//! `(sent_at, id)`, which also holds every in-process row waiting for its worker (a detail fetch
//! for a shop whose token failed waits, unsent, for minutes): each relay round walked them all
//! (~2 ms per scan at 12,000 waiting, a third of PostgreSQL's time per webhook). A partial index
//! holds only what the relay publishes; `(sent_at, id)` had no other reader and goes.
//!
//! The predicate's text must stay identical to `persistence::outbox::PUBLISHED`: the planners
//! use a partial index only for a query whose WHERE clause contains its predicate.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX idx_outbox_relay ON outbox (id) WHERE sent_at IS NULL \
                 AND routing_key NOT IN ('tiktok.fetch_detail', 'workflow.start')",
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_outbox_unsent")
                    .table(Outbox::Table)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("idx_outbox_unsent")
                    .table(Outbox::Table)
                    .col(Outbox::SentAt)
                    .col(Outbox::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_outbox_relay")
                    .table(Outbox::Table)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Id,
    SentAt,
}
