//! Shops (TikTok sellers we fulfil for) and the API keys that reach them.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Shops::Table)
                    .col(string_len(Shops::Id, 64).primary_key())
                    .col(string(Shops::Name))
                    .col(string_len_null(Shops::ShopCipher, 128))
                    .col(string_len_null(Shops::Region, 16))
                    .col(text_null(Shops::AccessTokenEnc))
                    .col(text_null(Shops::RefreshTokenEnc))
                    .col(timestamp_with_time_zone_null(Shops::AccessTokenExpiresAt))
                    .col(timestamp_with_time_zone_null(Shops::RefreshTokenExpiresAt))
                    .col(timestamp_with_time_zone(Shops::CreatedAt))
                    .col(timestamp_with_time_zone(Shops::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ApiKeys::Table)
                    .col(big_pk_auto(ApiKeys::Id))
                    .col(string(ApiKeys::Name))
                    .col(string_len(ApiKeys::Prefix, 16))
                    .col(string_len_uniq(ApiKeys::KeyHash, 64))
                    .col(string_len_null(ApiKeys::ShopId, 64))
                    .col(timestamp_with_time_zone(ApiKeys::CreatedAt))
                    .col(timestamp_with_time_zone_null(ApiKeys::RevokedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_api_keys_shop")
                            .from(ApiKeys::Table, ApiKeys::ShopId)
                            .to(Shops::Table, Shops::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_api_keys_shop")
                    .table(ApiKeys::Table)
                    .col(ApiKeys::ShopId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ApiKeys::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Shops::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Shops {
    Table,
    Id,
    Name,
    ShopCipher,
    Region,
    AccessTokenEnc,
    RefreshTokenEnc,
    AccessTokenExpiresAt,
    RefreshTokenExpiresAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    Name,
    Prefix,
    KeyHash,
    ShopId,
    CreatedAt,
    RevokedAt,
}
