//! TikTok Shop's error codes that callers act on.

pub const ACCESS_TOKEN_EXPIRED: i64 = 105002;
pub const INVALID_SIGNATURE: i64 = 106001;
pub const MISSING_SHOP_CIPHER: i64 = 106013;
pub const INVALID_PARAM: i64 = 36009004;
pub const TOO_MANY_REQUESTS: i64 = 36009002;
pub const INTERNAL: i64 = 36009003;
pub const TRANSIENT: i64 = 36009007;
/// Ship Package: no package of that id in the shop.
pub const PACKAGE_NOT_FOUND: i64 = 21_001_001;
/// Ship Package: the package's order is not waiting to ship (already shipped, cancelled, …).
pub const PACKAGE_NOT_SHIPPABLE: i64 = 21_001_002;
