//! GraphQL at `/graphql`: the same orders, commands, bulk jobs and live changes as REST, typed
//! and nested, over the same services, scoped to the caller's key the same way. Queries and
//! mutations are POSTed; subscriptions run over a WebSocket (`graphql-transport-ws`, the key in
//! `connection_init`).
//!
//! Every request is bounded before it runs: nesting at most [`MAX_DEPTH`], a cost at most
//! [`limits::MAX_COST`] (each connection costs its page size times what is under it), pages of at
//! most [`MAX_PAGE`]; the cost is reported in `extensions.cost`. Nested lists of a page (tags,
//! history) are read by batch loaders, one statement per list per page.

mod bulk;
mod errors;
mod limits;
mod loaders;
mod mutation;
mod order;
mod query;
mod route;
mod shop;
mod subscription;

pub(super) use route::{execute, subscribe};

use async_graphql::dataloader::DataLoader;

use self::loaders::{HistoryLoader, RequestsLoader, TagsLoader};
use self::mutation::Mutation;
use self::query::Query;
use self::subscription::Subscription;
use super::Caller;
use crate::persistence::Database;

/// Most nodes one page of a connection returns (as Shopify allows).
pub const MAX_PAGE: i32 = 250;
/// Deepest nesting of fields a document may have (the standard introspection query fits).
pub const MAX_DEPTH: usize = 15;

pub type Schema = async_graphql::Schema<Query, Mutation, Subscription>;

/// What every resolver may use: the daemon's services.
pub struct Services {
    pub db: Database,
    pub commands: crate::commands::Commands,
    pub catalog: std::sync::Arc<crate::workflow::Catalog>,
    pub hub: crate::live::Hub,
    pub jobs: crate::bulk::Runner,
}

/// The schema over `services`.
pub fn schema(services: Services) -> Schema {
    Schema::build(Query, Mutation, Subscription)
        .data(services.db)
        .data(services.commands)
        .data(services.catalog)
        .data(services.hub)
        .data(services.jobs)
        .limit_depth(MAX_DEPTH)
        .extension(limits::Limits)
        .finish()
}

/// The schema in SDL, as `docs/schema.graphql` holds it.
pub fn sdl() -> String {
    Schema::build(Query, Mutation, Subscription).finish().sdl()
}

/// One request's data: who asks, and batch loaders of their own (nothing cached between
/// requests or callers).
fn request_data(caller: Caller, db: &Database) -> async_graphql::Data {
    let mut data = async_graphql::Data::default();
    data.insert(caller);
    data.insert(DataLoader::new(TagsLoader(db.clone()), loaders::spawn));
    data.insert(DataLoader::new(HistoryLoader(db.clone()), loaders::spawn));
    data.insert(DataLoader::new(RequestsLoader(db.clone()), loaders::spawn));
    data
}
