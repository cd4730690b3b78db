//! Schema migrations, append-only: a migration that has landed is never edited, only followed by
//! a new one. Each has a real `down`. The same migrations run on SQLite and PostgreSQL.

pub use sea_orm_migration::MigrationStatus;
pub use sea_orm_migration::prelude::*;

mod m20261125_000001_accounts;
mod m20261125_000002_orders;
mod m20261125_000003_order_hold;
mod m20261125_000004_tiktok;
mod m20261125_000005_workflows;
mod m20261125_000006_integrations;
mod m20261125_000007_notifications_shipments;
mod m20261125_000008_order_tags_priority;
mod m20261125_000009_shop_list_indexes;
mod m20261126_000010_outbox_relay_index;
mod m20261126_000011_lists_per_shop;
mod m20261126_000012_outbox_delete_sent;
mod m20261128_000013_the_log;
mod m20261128_000014_idempotency_keys;
mod m20261128_000015_bulk_jobs;
mod m20261128_000016_dashboard_sessions;
mod m20261128_000017_order_tags_by_tag;
mod m20261128_000018_dashboard_views;
mod m20261128_000019_api_key_roles;
mod m20261128_000020_shop_sync_drift;
mod m20261128_000021_key_lifecycle_and_audit;
mod m20261128_000022_row_level_security;
mod m20261128_000023_feature_flags;
mod m20261129_000024_waiting_for_stock;
mod m20261129_000025_cluster;
mod m20261129_000026_log_blocks;
mod m20261129_000027_workflow_run_slots;
mod m20261129_000028_parked_messages;
mod m20261129_000029_event_epochs;
mod m20261129_000030_analytics_by_shop_and_time;
mod m20261129_000031_byte_order_keys;
mod m20261130_000032_log_json_as_written;
mod m20261202_000033_log_text_as_written;
mod m20261202_000034_analytics_read_from_the_log;
mod m20261207_000035_node_incarnations;
mod m20261207_000036_node_leases;
mod m20261207_000037_recipient_in_detail;
mod m20261207_000038_order_details;
mod m20261207_000039_shipment_tracking;
mod m20261208_000040_order_requests;

pub use m20261128_000013_the_log::{SLOTS, slot_of};
pub use m20261128_000022_row_level_security::SHOP_ROLE;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_accounts::Migration),
            Box::new(m20261125_000002_orders::Migration),
            Box::new(m20261125_000003_order_hold::Migration),
            Box::new(m20261125_000004_tiktok::Migration),
            Box::new(m20261125_000005_workflows::Migration),
            Box::new(m20261125_000006_integrations::Migration),
            Box::new(m20261125_000007_notifications_shipments::Migration),
            Box::new(m20261125_000008_order_tags_priority::Migration),
            Box::new(m20261125_000009_shop_list_indexes::Migration),
            Box::new(m20261126_000010_outbox_relay_index::Migration),
            Box::new(m20261126_000011_lists_per_shop::Migration),
            Box::new(m20261126_000012_outbox_delete_sent::Migration),
            Box::new(m20261128_000013_the_log::Migration),
            Box::new(m20261128_000014_idempotency_keys::Migration),
            Box::new(m20261128_000015_bulk_jobs::Migration),
            Box::new(m20261128_000016_dashboard_sessions::Migration),
            Box::new(m20261128_000017_order_tags_by_tag::Migration),
            Box::new(m20261128_000018_dashboard_views::Migration),
            Box::new(m20261128_000019_api_key_roles::Migration),
            Box::new(m20261128_000020_shop_sync_drift::Migration),
            Box::new(m20261128_000021_key_lifecycle_and_audit::Migration),
            Box::new(m20261128_000022_row_level_security::Migration),
            Box::new(m20261128_000023_feature_flags::Migration),
            Box::new(m20261129_000024_waiting_for_stock::Migration),
            Box::new(m20261129_000025_cluster::Migration),
            Box::new(m20261129_000026_log_blocks::Migration),
            Box::new(m20261129_000027_workflow_run_slots::Migration),
            Box::new(m20261129_000028_parked_messages::Migration),
            Box::new(m20261129_000029_event_epochs::Migration),
            Box::new(m20261129_000030_analytics_by_shop_and_time::Migration),
            Box::new(m20261129_000031_byte_order_keys::Migration),
            Box::new(m20261130_000032_log_json_as_written::Migration),
            Box::new(m20261202_000033_log_text_as_written::Migration),
            Box::new(m20261202_000034_analytics_read_from_the_log::Migration),
            Box::new(m20261207_000035_node_incarnations::Migration),
            Box::new(m20261207_000036_node_leases::Migration),
            Box::new(m20261207_000037_recipient_in_detail::Migration),
            Box::new(m20261207_000038_order_details::Migration),
            Box::new(m20261207_000039_shipment_tracking::Migration),
            Box::new(m20261208_000040_order_requests::Migration),
        ]
    }
}
