//! Logs and metrics, set up in one place.

mod logs;
pub mod metrics;

pub use logs::init_logs;
