//! Logs and metrics, set up in one place.

mod logs;
pub mod metrics;
pub mod sampler;
pub mod traces;

pub use logs::{init, init_logs};

/// An error with its causes on one line (`outer: cause: root`), as logs and records show it.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
