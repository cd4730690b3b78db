//! The only code that touches `entities`: connecting, migrating, readiness, and the mapping
//! between rows and domain types.

mod api_keys;
mod database;
mod shops;

pub use api_keys::KeyOwner;
pub use database::{Database, Error, NotReady};
pub use shops::Shop;
