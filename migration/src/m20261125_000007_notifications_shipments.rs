//! Creators' outgoing webhooks (subscriptions per shop and event kind, and the delivery log
//! with retries and dead letters) and shipments (labels bought for orders, with carrier and
//! tracking).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WebhookSubscriptions::Table)
                    .col(big_pk_auto(WebhookSubscriptions::Id))
                    .col(string_len(WebhookSubscriptions::ShopId, 64))
                    .col(text(WebhookSubscriptions::Url))
                    .col(json_binary(WebhookSubscriptions::Events))
                    .col(text(WebhookSubscriptions::SecretEnc))
                    .col(timestamp_with_time_zone(WebhookSubscriptions::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_subscriptions_shop")
                    .table(WebhookSubscriptions::Table)
                    .col(WebhookSubscriptions::ShopId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(NotificationDeliveries::Table)
                    .col(big_pk_auto(NotificationDeliveries::Id))
                    .col(big_integer(NotificationDeliveries::SubscriptionId))
                    .col(big_integer(NotificationDeliveries::MessageId))
                    .col(string_len(NotificationDeliveries::EventKind, 128))
                    .col(text(NotificationDeliveries::Body))
                    .col(string_len(NotificationDeliveries::State, 16))
                    .col(integer(NotificationDeliveries::Attempts))
                    .col(timestamp_with_time_zone(
                        NotificationDeliveries::NextAttemptAt,
                    ))
                    .col(integer_null(NotificationDeliveries::LastStatus))
                    .col(text_null(NotificationDeliveries::LastError))
                    .col(timestamp_with_time_zone(NotificationDeliveries::CreatedAt))
                    .col(timestamp_with_time_zone_null(
                        NotificationDeliveries::DeliveredAt,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_notification_deliveries_once")
                    .table(NotificationDeliveries::Table)
                    .col(NotificationDeliveries::SubscriptionId)
                    .col(NotificationDeliveries::MessageId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_notification_deliveries_due")
                    .table(NotificationDeliveries::Table)
                    .col(NotificationDeliveries::State)
                    .col(NotificationDeliveries::NextAttemptAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Shipments::Table)
                    .col(string_len(Shipments::OrderId, 64).primary_key())
                    .col(string_len(Shipments::ShopId, 64))
                    .col(string_len(Shipments::Provider, 32))
                    .col(string_len_null(Shipments::ProviderShipmentId, 128))
                    .col(string_len_null(Shipments::PackageId, 64))
                    .col(string_len_null(Shipments::Carrier, 64))
                    .col(string_len_null(Shipments::TrackingNumber, 128))
                    .col(text_null(Shipments::LabelUrl))
                    .col(string_len(Shipments::State, 16))
                    .col(timestamp_with_time_zone(Shipments::CreatedAt))
                    .col(timestamp_with_time_zone(Shipments::UpdatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Shipments::Table.into_iden(),
            NotificationDeliveries::Table.into_iden(),
            WebhookSubscriptions::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum WebhookSubscriptions {
    Table,
    Id,
    ShopId,
    Url,
    Events,
    SecretEnc,
    CreatedAt,
}

#[derive(DeriveIden)]
enum NotificationDeliveries {
    Table,
    Id,
    SubscriptionId,
    MessageId,
    EventKind,
    Body,
    State,
    Attempts,
    NextAttemptAt,
    LastStatus,
    LastError,
    CreatedAt,
    DeliveredAt,
}

#[derive(DeriveIden)]
enum Shipments {
    Table,
    OrderId,
    ShopId,
    Provider,
    ProviderShipmentId,
    PackageId,
    Carrier,
    TrackingNumber,
    LabelUrl,
    State,
    CreatedAt,
    UpdatedAt,
}
