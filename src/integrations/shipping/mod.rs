//! Shipping: labels and telling TikTok, and carrier tracking coming back.
//!
//! - TikTok shipping (`shipping_type` TIKTOK): buying the label is shipping the package at
//!   TikTok (which arranges the carrier), then fetching its shipping document (label URL and
//!   tracking number).
//! - The seller's own carrier: the label is bought from the configured label API
//!   (`shipping.label_api_url`, one idempotency key per order), then "ship" tells TikTok the
//!   tracking number (Mark Package As Shipped; Update Shipping Info if TikTok holds another).
//! - A cancelled order's unused label is voided.
//!
//! Every step reads the shipment row first, so a retried step never buys or ships twice; TikTok
//! writes that have no idempotency key are preceded by a look at the order's TikTok status.

mod error;
mod label_api;
mod service;
pub mod tracking;

pub use error::Error;
pub use label_api::{Label, LabelApi};
pub use service::Shipping;
pub use tracking::tracking_subscription;
