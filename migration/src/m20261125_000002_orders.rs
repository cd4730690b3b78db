//! Orders: the snapshot (read model and activation source), line items, the append-only audit
//! trail, the webhook inbox that makes delivery idempotent, and the transactional outbox.
//!
//! Money columns are integer minor units next to an ISO 4217 currency; TikTok times are unix
//! seconds as TikTok sends them; our own times are timestamps with time zone.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Orders::Table)
                    .col(string_len(Orders::Id, 64).primary_key())
                    .col(string_len(Orders::ShopId, 64))
                    .col(string_len(Orders::Status, 32))
                    .col(string_len(Orders::Stage, 32))
                    .col(text_null(Orders::StageReason))
                    .col(big_integer(Orders::Version))
                    .col(big_integer_null(Orders::TiktokCreateTime))
                    .col(big_integer_null(Orders::TiktokUpdateTime))
                    .col(string_len_null(Orders::Currency, 3))
                    .col(big_integer_null(Orders::TotalAmount))
                    .col(big_integer_null(Orders::SubTotal))
                    .col(big_integer_null(Orders::ShippingFee))
                    .col(big_integer_null(Orders::SellerDiscount))
                    .col(big_integer_null(Orders::PlatformDiscount))
                    .col(big_integer_null(Orders::Tax))
                    .col(json_binary_null(Orders::Recipient))
                    .col(json_binary_null(Orders::Detail))
                    .col(timestamp_with_time_zone_null(Orders::RtsSlaAt))
                    .col(timestamp_with_time_zone_null(Orders::TtsSlaAt))
                    .col(timestamp_with_time_zone_null(Orders::DeliverySlaAt))
                    .col(timestamp_with_time_zone(Orders::CreatedAt))
                    .col(timestamp_with_time_zone(Orders::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        // Lists are newest first, optionally filtered by shop, status or stage, paged by
        // (updated_at, id): each filter gets an index that ends in that key.
        for (name, first) in [
            ("idx_orders_shop_updated", Some(Orders::ShopId)),
            ("idx_orders_status_updated", Some(Orders::Status)),
            ("idx_orders_stage_updated", Some(Orders::Stage)),
            ("idx_orders_updated", None),
        ] {
            let mut index = Index::create();
            index.name(name).table(Orders::Table);
            if let Some(first) = first {
                index.col(first);
            }
            manager
                .create_index(index.col(Orders::UpdatedAt).col(Orders::Id).to_owned())
                .await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(OrderItems::Table)
                    .col(string_len(OrderItems::OrderId, 64))
                    .col(string_len(OrderItems::LineItemId, 64))
                    .col(string_len(OrderItems::SkuId, 64))
                    .col(string_len_null(OrderItems::ProductId, 64))
                    .col(text_null(OrderItems::ProductName))
                    .col(text_null(OrderItems::SkuName))
                    .col(string_len_null(OrderItems::SellerSku, 128))
                    .col(big_integer_null(OrderItems::SalePrice))
                    .col(big_integer_null(OrderItems::OriginalPrice))
                    .col(string_len_null(OrderItems::Currency, 3))
                    .col(string_len_null(OrderItems::DisplayStatus, 32))
                    .col(string_len_null(OrderItems::PackageId, 64))
                    .primary_key(
                        Index::create()
                            .col(OrderItems::OrderId)
                            .col(OrderItems::LineItemId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_order_items_order")
                            .from(OrderItems::Table, OrderItems::OrderId)
                            .to(Orders::Table, Orders::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_order_items_sku")
                    .table(OrderItems::Table)
                    .col(OrderItems::SkuId)
                    .to_owned(),
            )
            .await?;

        // Append-only: rows are never updated or deleted; (order_id, seq) is the order's history.
        manager
            .create_table(
                Table::create()
                    .table(OrderEvents::Table)
                    .col(string_len(OrderEvents::OrderId, 64))
                    .col(big_integer(OrderEvents::Seq))
                    .col(string_len(OrderEvents::Kind, 48))
                    .col(string_len_null(OrderEvents::FromStatus, 32))
                    .col(string_len_null(OrderEvents::ToStatus, 32))
                    .col(string_len_null(OrderEvents::FromStage, 32))
                    .col(string_len_null(OrderEvents::ToStage, 32))
                    .col(string_len(OrderEvents::Cause, 160))
                    .col(json_binary(OrderEvents::Payload))
                    .col(timestamp_with_time_zone(OrderEvents::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(OrderEvents::OrderId)
                            .col(OrderEvents::Seq),
                    )
                    .to_owned(),
            )
            .await?;

        // One row per accepted webhook delivery; the unique key makes redelivery a no-op.
        manager
            .create_table(
                Table::create()
                    .table(WebhookInbox::Table)
                    .col(string_len(WebhookInbox::DedupeKey, 128).primary_key())
                    .col(integer(WebhookInbox::EventType))
                    .col(string_len_null(WebhookInbox::ShopId, 64))
                    .col(string_len_null(WebhookInbox::OrderId, 64))
                    .col(timestamp_with_time_zone(WebhookInbox::ReceivedAt))
                    .to_owned(),
            )
            .await?;

        // Written in the same transaction as the order change it announces; relayed, then marked.
        manager
            .create_table(
                Table::create()
                    .table(Outbox::Table)
                    .col(big_pk_auto(Outbox::Id))
                    .col(string_len(Outbox::RoutingKey, 128))
                    .col(json_binary(Outbox::Payload))
                    .col(integer(Outbox::Attempts).default(0))
                    .col(timestamp_with_time_zone(Outbox::CreatedAt))
                    .col(timestamp_with_time_zone_null(Outbox::SentAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_outbox_unsent")
                    .table(Outbox::Table)
                    .col(Outbox::SentAt)
                    .col(Outbox::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Outbox::Table.into_iden(),
            WebhookInbox::Table.into_iden(),
            OrderEvents::Table.into_iden(),
            OrderItems::Table.into_iden(),
            Orders::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Orders {
    Table,
    Id,
    ShopId,
    Status,
    Stage,
    StageReason,
    Version,
    TiktokCreateTime,
    TiktokUpdateTime,
    Currency,
    TotalAmount,
    SubTotal,
    ShippingFee,
    SellerDiscount,
    PlatformDiscount,
    Tax,
    Recipient,
    Detail,
    RtsSlaAt,
    TtsSlaAt,
    DeliverySlaAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum OrderItems {
    Table,
    OrderId,
    LineItemId,
    SkuId,
    ProductId,
    ProductName,
    SkuName,
    SellerSku,
    SalePrice,
    OriginalPrice,
    Currency,
    DisplayStatus,
    PackageId,
}

#[derive(DeriveIden)]
enum OrderEvents {
    Table,
    OrderId,
    Seq,
    Kind,
    FromStatus,
    ToStatus,
    FromStage,
    ToStage,
    Cause,
    Payload,
    CreatedAt,
}

#[derive(DeriveIden)]
enum WebhookInbox {
    Table,
    DedupeKey,
    EventType,
    ShopId,
    OrderId,
    ReceivedAt,
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Id,
    RoutingKey,
    Payload,
    Attempts,
    CreatedAt,
    SentAt,
}
