//! Adapters to outside parties: TikTok Shop (webhooks in, signed API calls out, the
//! reconciliation poller, and a local stand-in for tests and demos) and the label API and
//! carriers (shipping).

pub mod shipping;
pub mod tiktok;
mod tls;

pub use tls::install_tls;
