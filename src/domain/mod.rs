//! Pure domain types: no async, no I/O, no actix, no sea-orm. Wire types convert into these once,
//! at the edge, and everything inside speaks them.

mod api_key;
mod shop;

pub use api_key::{ApiKey, KeyHash, Scope};
pub use shop::{ShopId, ShopName};

/// A value that failed validation, with a message fit to show the person who sent it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct Invalid {
    pub field: &'static str,
    pub reason: String,
}

impl Invalid {
    pub(crate) fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
}
