//! The token grant and the authorised shop, as TikTok Shop's API returns them.

use serde::{Deserialize, Serialize};

use crate::lenient::Id;

/// What the token endpoints return. `*_expire_in` are absolute unix times, not durations.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenGrant {
    pub access_token: String,
    pub access_token_expire_in: i64,
    pub refresh_token: String,
    pub refresh_token_expire_in: i64,
    #[serde(default)]
    pub open_id: Option<String>,
    #[serde(default)]
    pub seller_name: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireShop {
    pub id: Id,
    pub name: String,
    pub region: Option<String>,
    pub code: Option<String>,
    pub cipher: Option<String>,
    pub seller_type: Option<String>,
}
