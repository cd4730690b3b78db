//! `creatorflow sandbox`: a local TikTok Shop that enforces TikTok's rules (see [`api`]) and
//! simulates shops whose orders move through TikTok's statuses, pushing signed webhooks to a
//! daemon — optionally duplicated, reordered or dropped, as the real one may. Tests drive it
//! through [`Sandbox`]; `serve --demo` runs it in-process.

mod api;
mod labels;
mod server;
mod shared;
mod world;

pub use server::{Options, Sandbox};
pub use world::Fault;
