//! TikTok Shop, exactly as `../shared/reference/tiktok-shop.md` describes it.

pub mod client;
mod lenient;
pub mod model;
pub mod notification;
pub mod sandbox;
pub mod signature;
pub mod vault;
pub mod webhook;

pub use notification::{Malformed, Notification, Topic};

use secrecy::{ExposeSecret, SecretString};

/// The app's credentials from the TikTok Shop Partner Center.
#[derive(Clone)]
pub struct App {
    pub key: String,
    pub secret: SecretString,
}

impl App {
    pub fn from_settings(settings: &crate::config::TikTok) -> Self {
        Self {
            key: settings.app_key.clone(),
            secret: settings.app_secret.clone(),
        }
    }

    /// Whether `header` (the `Authorization` value) signs `body` for this app.
    pub fn verify_webhook(&self, body: &[u8], header: &[u8]) -> bool {
        let secret = self.secret.expose_secret();
        // An unconfigured app verifies nothing: an empty secret is no secret.
        !secret.is_empty() && signature::verify_webhook(&self.key, secret.as_bytes(), body, header)
    }
}
