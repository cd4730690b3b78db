//! Bulk jobs: one action over a fixed set of orders (a search or a list of ids), done in
//! throttled batches through the orders' actors, durable and resumable: a job survives
//! `kill -9` and each item takes effect once (its command carries the key `bulk:<job>:<order>`,
//! which the log keeps, so an item done before a crash is found done after it).

mod job;
mod runner;
mod store;

pub use job::{Action, JobState, MAX_ITEMS, NewJob, Outcome, Params, Target};
pub use runner::{Progress, Runner};
pub use store::{BulkStore, Item, Job};
