//! Actors: one `OrderActor` per live order, `RegistryShard`s that route to them and passivate
//! idle ones, and the typed [`RegistryHandle`] everything else uses. Actors are thin shells over
//! `domain::decide` and the journal; nothing outside this module names an actor address. The
//! integrations' keyed batching actors (a shop's ship requests, a SKU's reservations) are
//! [`Batcher`]s.

mod batcher;
pub mod forward;
mod message;
mod order;
mod registry;
mod shard;

pub use batcher::{Batcher, Mailboxes};
pub use forward::Forwarder;
pub use message::{Envelope, Error, Reply};
pub use registry::RegistryHandle;
