//! Saved views of the dashboard's order list: a name and the filters, kept per API key, shown as
//! tabs beside the built-in ones.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DashboardViews::Table)
                    .col(
                        big_integer(DashboardViews::Id)
                            .primary_key()
                            .auto_increment(),
                    )
                    .col(big_integer(DashboardViews::KeyId))
                    .col(string_len(DashboardViews::Name, 64))
                    .col(string_len(DashboardViews::Filters, 2100))
                    .col(timestamp_with_time_zone(DashboardViews::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(DashboardViews::Table, DashboardViews::KeyId)
                            .to(ApiKeys::Table, ApiKeys::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_dashboard_views_key")
                    .table(DashboardViews::Table)
                    .col(DashboardViews::KeyId)
                    .col(DashboardViews::Name)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(DashboardViews::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum DashboardViews {
    Table,
    Id,
    KeyId,
    Name,
    Filters,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
}
