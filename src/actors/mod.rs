//! Actors: one `OrderActor` per live order, `RegistryShard`s that route to them and passivate
//! idle ones, and the typed [`RegistryHandle`] everything else uses. Actors are thin shells over
//! `domain::decide` and the journal; nothing outside this module names an actor address.

mod message;
mod order;
mod registry;
mod shard;

pub use message::{Envelope, Error, Reply};
pub use registry::RegistryHandle;
