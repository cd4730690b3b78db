//! The one integration test binary. Every test builds its own app on port 0 against its own
//! database: SQLite in a temporary folder by default, or a fresh PostgreSQL database when
//! `CREATORFLOW_TEST_DATABASE_URL` is set.

mod auth;
mod backup;
mod bulk;
mod bus;
mod cli;
mod cluster;
mod cluster_log;
mod commands;
mod dashboard;
mod doctor;
mod events;
mod flags;
mod fuzz;
mod graphql;
mod health;
mod helpers;
mod keys;
mod log;
mod notifications;
mod openapi;
mod orders;
mod shipping;
mod shutdown;
mod systemd;
mod tenancy;
mod tiktok_client;
mod tiktok_sync;
mod traces;
mod webhooks;
mod workflows;
