//! sea-orm entities, one file per table, in the shape `sea-orm-cli generate entity` writes.
//! They mirror the `migration` crate exactly and carry no logic: only the persistence layer
//! maps them to domain types.

pub mod api_keys;
pub mod audit_events;
pub mod bulk_job_items;
pub mod bulk_jobs;
pub mod dashboard_sessions;
pub mod dashboard_views;
pub mod feature_flags;
pub mod idempotency_keys;
pub mod log_checkpoints;
pub mod notification_deliveries;
pub mod order_details;
pub mod order_events;
pub mod order_items;
pub mod order_requests;
pub mod order_tags;
pub mod orders;
pub mod outbox;
pub mod prelude;
pub mod shipments;
pub mod shops;
pub mod stock_levels;
pub mod stock_reservations;
pub mod webhook_inbox;
pub mod webhook_quarantine;
pub mod webhook_subscriptions;
pub mod workflow_runs;
pub mod workflow_steps;
