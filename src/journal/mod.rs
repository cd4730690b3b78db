//! The journal and the log it writes.
//!
//! Actors hand the [`Journal`] their [`Commit`]s; its writers group them into batches and write
//! them as rows of the log (`order_events`), one statement per table on SQLite (`sqlite.rs`) and
//! one statement in all on PostgreSQL (`postgres.rs`), with the orders' snapshot rows
//! (`snapshot.rs`). Subscriptions follow the log after their own checkpoint ([`Tail`]), reading
//! the rows the journal just wrote ([`recent`]) when it holds them, else the database ([`log`]).

mod annotations;
mod commit;
pub mod log;
mod positions;
mod postgres;
pub mod recent;
mod snapshot;
mod sqlite;
mod stored;
mod tail;
mod writer;

pub use commit::{Commit, EFFECTS_ONLY, InboxEntry, Written};
pub use log::{Change, Entry, Posted};
pub use tail::{Consumer, Tail, Watermark};
pub use writer::{Error, Journal};
