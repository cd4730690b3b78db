//! TikTok integration: webhooks that could not be used are kept for inspection (never dropped),
//! and shops remember whether the seller withdrew or is about to lose authorisation, and how far
//! the reconciliation poller has read their orders.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WebhookQuarantine::Table)
                    .col(big_pk_auto(WebhookQuarantine::Id))
                    .col(string_len(WebhookQuarantine::Reason, 32))
                    .col(text(WebhookQuarantine::Detail))
                    .col(big_integer_null(WebhookQuarantine::EventType))
                    .col(blob(WebhookQuarantine::Body))
                    .col(timestamp_with_time_zone(WebhookQuarantine::ReceivedAt))
                    .to_owned(),
            )
            .await?;
        // Consumers read their own routing key's unsent rows, oldest first.
        manager
            .create_index(
                Index::create()
                    .name("idx_outbox_route_unsent")
                    .table(Outbox::Table)
                    .col(Outbox::RoutingKey)
                    .col(Outbox::SentAt)
                    .col(Outbox::Id)
                    .to_owned(),
            )
            .await?;
        // SQLite alters one column per statement.
        for column in [
            timestamp_with_time_zone_null(Shops::DeauthorizedAt),
            timestamp_with_time_zone_null(Shops::AuthorizationExpiresAt),
            big_integer_null(Shops::SyncCursor),
        ] {
            let mut column = column;
            manager
                .alter_table(
                    Table::alter()
                        .table(Shops::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            Shops::SyncCursor,
            Shops::AuthorizationExpiresAt,
            Shops::DeauthorizedAt,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Shops::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_index(
                Index::drop()
                    .name("idx_outbox_route_unsent")
                    .table(Outbox::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(WebhookQuarantine::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum WebhookQuarantine {
    Table,
    Id,
    Reason,
    Detail,
    EventType,
    Body,
    ReceivedAt,
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    RoutingKey,
    SentAt,
    Id,
}

#[derive(DeriveIden)]
enum Shops {
    Table,
    DeauthorizedAt,
    AuthorizationExpiresAt,
    SyncCursor,
}
