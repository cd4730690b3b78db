//! TikTok Shop, exactly as `../shared/reference/tiktok-shop.md` describes it.

mod app;
pub mod client;
pub(crate) mod lenient;
pub mod model;
pub mod notification;
pub mod sandbox;
pub mod signature;
pub mod sync;
pub mod vault;
pub mod webhook;

pub use app::App;
pub use notification::{Malformed, Notification, Topic};
