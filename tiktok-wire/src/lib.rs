//! TikTok Shop as the wire sees it, exactly as `../shared/reference/tiktok-shop.md` describes
//! it: the webhook and request signatures (with the official vectors as tests), ids and times
//! that arrive as strings or numbers, the order and shop objects, and the error codes callers
//! act on. Shared by the daemon's client and the sandbox that stands in for TikTok.

pub mod code;
pub mod lenient;
pub mod order;
pub mod shop;
pub mod signature;
