//! A local TikTok Shop that enforces TikTok's rules (see `api`) and simulates shops whose orders
//! move through TikTok's statuses, pushing signed webhooks to a daemon — optionally duplicated,
//! reordered or dropped, as the real one may — with a label API stand-in beside it; and
//! [`loadgen`], which pushes webhooks signed exactly as TikTok signs them. The daemon's tests
//! drive it through [`Sandbox`], other drivers through its `/sandbox/` routes (`control`);
//! `creatorflow sandbox` runs it alone and `serve --demo` in-process; `creatorflow loadgen` is
//! [`loadgen::run`].

mod api;
mod control;
mod labels;
pub mod loadgen;
mod requests;
mod server;
mod shared;
mod world;

pub use requests::RequestKind;
pub use server::{Options, Sandbox};
pub use world::Fault;

/// Installs ring as the process's TLS provider (a later call, or one after the daemon's, does
/// nothing): reqwest is built without a provider of its own.
fn install_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
