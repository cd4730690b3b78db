//! The only code besides the journal that touches `entities`: connecting, migrating, readiness,
//! and the mapping between rows and domain types.

mod api_keys;
mod audit;
mod backup;
pub mod cluster;
mod database;
mod engine;
mod idempotency;
mod order_search;
mod orders;
pub mod outbox;
mod parked;
mod reader;
mod requests;
mod sealed;
mod sessions;
pub mod shipments;
mod shops;
pub mod snapshots;
pub mod statements;
mod views;
mod webhooks;
pub mod workflows;

pub use api_keys::{KeyOwner, KeyRecord};
pub use audit::{Actor, AuditEntry, AuditStore};
pub use backup::{Backup, BackupError};
pub use cluster::{ClusterStore, LeaseRow, NodeRow};
pub use database::{Database, Error, NotReady, WriteTxn};
pub use engine::{
    APPLICATION_NAME as ENGINE_APPLICATION_NAME, EngineConnection, EngineTransaction, FetchEncoded,
};
pub use idempotency::{Claim, IdempotencyStore};
pub use orders::{
    HistoryEntry, OrderFilter, OrderRecord, OrderStore, OrderSummary, OrderView, cursor_of,
    parse_cursor,
};
pub use parked::{Parked, ParkedStore};
pub use reader::Reader;
pub use sealed::{SealedColumn, SealedStore, SealedValue};
pub use sessions::{Session, SessionStore};
pub use shops::{AuthorizedShop, SealedTokens, Shop, ShopAuth};
pub use snapshots::SnapshotLoader;
pub use views::{MAX_VIEWS, View, ViewStore};
pub use webhooks::{QuarantineReason, QuarantinedWebhook, ShopNotice};
