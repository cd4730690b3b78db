//! The only code that touches `entities`: connecting, migrating, readiness, the journal's group
//! commit, and the mapping between rows and domain types.

pub mod analytics;
mod api_keys;
mod database;
pub mod inventory;
pub mod journal;
mod json_rows;
pub mod log;
pub mod notifications;
mod orders;
pub mod outbox;
pub mod shipments;
mod shops;
pub mod snapshots;
mod unnest;
mod webhooks;
pub mod workflows;

pub use api_keys::KeyOwner;
pub use database::{Database, Error, NotReady};
pub use journal::{Commit, InboxEntry, Journal, Outcome};
pub use log::Tail;
pub use orders::{HistoryEntry, OrderDetailView, OrderFilter, OrderView};
pub use shops::{AuthorizedShop, SealedTokens, Shop, ShopAuth};
pub use snapshots::SnapshotLoader;
pub use webhooks::{QuarantineReason, QuarantinedWebhook, ShopNotice};
