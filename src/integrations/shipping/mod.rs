//! Shipping: labels and telling TikTok, and carrier tracking coming back.
//!
//! - TikTok shipping (`shipping_type` TIKTOK): buying the label is shipping the package at
//!   TikTok (which arranges the carrier), in batches per shop (`batch.rs`); its shipping document
//!   (label URL and tracking number) is fetched when someone asks for it, off the critical path.
//! - The seller's own carrier: the label is bought from the configured label API
//!   (`shipping.label_api_url`, one idempotency key per order), then "ship" tells TikTok the
//!   tracking number (Mark Package As Shipped; Update Shipping Info if TikTok holds another).
//! - A cancelled order's unused label is voided.
//!
//! Every step reads the shipment row first, so a retried step never buys or ships twice; a
//! TikTok write that has no idempotency key is preceded by a look at the order's TikTok status,
//! or (batch ship) followed by one where TikTok refused it.

mod batch;
mod error;
mod label_api;
mod service;
pub mod tracking;

pub use batch::{ShipQueue, Shipped};
pub use error::Error;
pub use label_api::{Label, LabelApi};
pub use service::Shipping;
pub use tracking::tracking_subscription;
