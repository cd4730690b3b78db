//! The outside world: TikTok Shop (webhooks in, signed API calls out, the reconciliation poller,
//! and a local stand-in for tests and demos).

pub mod tiktok;
