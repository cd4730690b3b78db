//! CreatorFlow: the order-processing daemon for TikTok Shop sellers. See docs/ARCHITECTURE.md.

pub mod actors;
pub mod analytics;
pub mod app;
pub mod bulk;
pub mod bus;
pub mod cli;
pub mod cluster;
pub mod commands;
pub mod config;
pub mod doctor;
pub mod domain;
pub mod flags;
pub mod fuzz;
pub mod http;
pub mod integrations;
pub mod inventory;
pub mod journal;
pub mod live;
pub mod notifications;
pub mod persistence;
pub mod shutdown;
pub mod systemd;
pub mod telemetry;
pub mod workflow;
