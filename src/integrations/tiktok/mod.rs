//! TikTok Shop, exactly as `../shared/reference/tiktok-shop.md` describes it: the app's
//! credentials, the signed client, webhooks in, the detail fetcher and the poller. The wire
//! format is the `tiktok-wire` crate; the stand-in for tests and demos is `tiktok-sandbox`.

mod app;
pub mod client;
pub mod model;
pub mod notification;
pub mod rotation;
pub mod sync;
pub mod vault;
pub mod webhook;

pub use app::App;
pub use notification::{Malformed, Notification, Topic};
pub use tiktok_wire::signature::WebhookVerifier;
