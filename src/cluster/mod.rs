//! Several nodes on one PostgreSQL (`cluster.enabled`): each of the [`SLOTS`] slots of orders
//! has one owner at a time, by a lease row with an epoch that grows at every change of owner.
//!
//! - [`placement`]: which node each slot belongs on (rendezvous hashing over the live nodes);
//! - [`Membership`]: this node's heartbeat, the leases it holds (slot → epoch, read lock-free by
//!   the writers that must present them) and a round every `cluster.heartbeat` that renews
//!   them, gives back the slots placed elsewhere and takes the free ones placed here;
//! - the rows: `persistence::ClusterStore` (every time by the database clock).
//!
//! Heartbeats and leases make failover fast; they do not make it safe. What is safe is the
//! epoch checked where a write lands.
//!
//! [`SLOTS`]: crate::domain::SLOTS

mod membership;
mod overview;
pub mod placement;

pub use membership::{ClaimError, Membership, Owner};

/// What must happen in this process when slots move to or from it (the order engine: its live
/// orders of those slots are passivated, so they reload what is committed). Implemented by
/// `actors::RegistryHandle`; a trait so that this module does not depend on the actors.
pub trait SlotMoves: Send + Sync + 'static {
    fn moved(&self, slots: Vec<i16>) -> futures_util::future::BoxFuture<'static, ()>;
}
pub use overview::{Node, Overview, overview};
