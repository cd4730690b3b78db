//! Feature flags changed at run time (`PUT /api/v1/flags/{name}`): the latest rollout of each
//! flag, which wins over the configuration's from then on. Not a shop's data: no row-level
//! security, and only admin keys reach it.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(FeatureFlags::Table)
                    .col(string_len(FeatureFlags::Name, 64).primary_key())
                    .col(boolean(FeatureFlags::Enabled))
                    .col(small_integer(FeatureFlags::Percent))
                    .col(text(FeatureFlags::Allow))
                    .col(text(FeatureFlags::Deny))
                    .col(timestamp_with_time_zone(FeatureFlags::UpdatedAt))
                    .col(string_len(FeatureFlags::UpdatedBy, 200))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(FeatureFlags::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum FeatureFlags {
    Table,
    Name,
    Enabled,
    Percent,
    Allow,
    Deny,
    UpdatedAt,
    UpdatedBy,
}
