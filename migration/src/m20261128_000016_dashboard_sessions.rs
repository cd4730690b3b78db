//! Dashboard sessions: a signed-in browser holds a random token in an HttpOnly cookie; the row
//! holds its hash, the API key it stands for (deleting the key ends its sessions), the form
//! token that guards every state-changing form, and when it expires.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DashboardSessions::Table)
                    .col(string_len(DashboardSessions::TokenHash, 64).primary_key())
                    .col(big_integer(DashboardSessions::KeyId))
                    .col(string_len(DashboardSessions::Csrf, 64))
                    .col(timestamp_with_time_zone(DashboardSessions::CreatedAt))
                    .col(timestamp_with_time_zone(DashboardSessions::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(DashboardSessions::Table, DashboardSessions::KeyId)
                            .to(ApiKeys::Table, ApiKeys::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_dashboard_sessions_expires_at")
                    .table(DashboardSessions::Table)
                    .col(DashboardSessions::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(DashboardSessions::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum DashboardSessions {
    Table,
    TokenHash,
    KeyId,
    Csrf,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
}
