//! Logs and metrics, set up in one place.

mod logs;
pub mod metrics;
pub mod sampler;

pub use logs::init_logs;
