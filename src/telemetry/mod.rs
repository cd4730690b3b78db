//! Logs and metrics, set up in one place.

mod logs;
pub mod metrics;
pub mod sampler;
pub mod traces;

pub use logs::{init, init_logs};
