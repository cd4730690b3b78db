//! What the engine takes (an [`Envelope`]) and what it answers ([`Reply`] or [`Error`]).

use std::sync::Arc;
use std::time::Duration;

use crate::domain::{OrderStatus, Rejection, Stage};
use crate::journal::{self, InboxEntry};
use crate::persistence;

/// A message for an order with where it came from.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Envelope {
    pub msg: crate::domain::Msg,
    /// Why the order changes, as its audit trail will say.
    pub cause: crate::domain::Cause,
    /// Dedupe key for messages from outside; `None` for commands.
    pub inbox: Option<InboxEntry>,
}

/// What became of a submitted message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Reply {
    /// Events were committed; the order is now at `version`.
    Applied {
        version: i64,
        status: OrderStatus,
        stage: Stage,
    },
    /// Understood, but nothing to record.
    Unchanged { version: i64 },
    /// Already seen (same dedupe key): acknowledged and ignored.
    Duplicate,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A mailbox is full: try again later (HTTP 503 + Retry-After).
    #[error("overloaded ({mailbox} mailbox full); retry later")]
    Overloaded { mailbox: &'static str },
    #[error(transparent)]
    Rejected(Rejection),
    #[error("the journal failed")]
    Journal(#[source] journal::Error),
    #[error("cannot load the order")]
    Storage(#[source] Arc<persistence::Error>),
    #[error("the order engine is stopped")]
    Stopped,
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// Cluster mode: the node holding the order's slot did not take the message (no answer
    /// within 2 s, or it no longer holds the slot); nothing was recorded.
    #[error("the node holding slot {slot} could not be reached")]
    Unreachable { slot: i16 },
    /// Cluster mode: the slot's owner could not take the message now (its reason).
    #[error("the node holding the order: {0}")]
    Remote(String),
}
