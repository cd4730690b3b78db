//! The first answer to each `Idempotency-Key` an API key sent with a POST, so that a retried
//! request gets that answer again instead of acting twice. A row is claimed (no `status`)
//! before the request runs and completed with its answer after; rows expire after a day.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(IdempotencyKeys::Table)
                    .col(string_len(IdempotencyKeys::KeyHash, 64))
                    .col(string_len(IdempotencyKeys::IdempotencyKey, 255))
                    .col(string_len(IdempotencyKeys::Fingerprint, 64))
                    .col(small_integer_null(IdempotencyKeys::Status))
                    .col(string_null(IdempotencyKeys::ContentType))
                    .col(text_null(IdempotencyKeys::Body))
                    .col(timestamp_with_time_zone(IdempotencyKeys::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(IdempotencyKeys::KeyHash)
                            .col(IdempotencyKeys::IdempotencyKey),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_idempotency_keys_created_at")
                    .table(IdempotencyKeys::Table)
                    .col(IdempotencyKeys::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(IdempotencyKeys::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    KeyHash,
    IdempotencyKey,
    Fingerprint,
    Status,
    ContentType,
    Body,
    CreatedAt,
}
