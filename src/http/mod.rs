//! The actix-web face of the daemon. Handlers are thin: parse, call persistence or the engine,
//! map errors through [`Error`]'s one table.

mod analytics;
mod api_keys;
mod audit;
mod auth;
mod bulk;
mod cluster;
mod dashboard;
mod error;
mod events;
mod flags;
mod graphql;
mod health;
mod idempotency;
mod inventory;
mod notifications;
mod oauth;
mod observe;
mod openapi;
mod orders;
mod pick_list;
mod rate_limit;
mod requests;
mod server;
mod shipments;
mod shops;
mod webhooks;
mod whole;
mod workflows;

pub use auth::Caller;
pub use error::Error;
pub use graphql::sdl as graphql_sdl;
pub use oauth::AuthBase;
pub use server::{Server, Services, start};
pub use webhooks::Ingress;
