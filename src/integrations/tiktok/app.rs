//! The app's credentials from the TikTok Shop Partner Center: webhook verification and the
//! signed `state` of the seller authorisation link.

use secrecy::{ExposeSecret, SecretString};

use tiktok_wire::signature::{self, WebhookVerifier};

/// The app's credentials from the TikTok Shop Partner Center.
#[derive(Clone)]
pub struct App {
    pub key: String,
    pub secret: SecretString,
}

impl App {
    pub fn from_settings(settings: &crate::config::TikTokSettings) -> Self {
        Self {
            key: settings.app_key.clone(),
            secret: settings.app_secret.clone(),
        }
    }

    /// Whether the app key and secret are set (TikTok can be called and webhooks verified).
    pub fn is_configured(&self) -> bool {
        !self.key.is_empty() && !self.secret.expose_secret().is_empty()
    }

    /// A `state` for the seller authorisation link: valid for 30 minutes, signed with the app
    /// secret, so the callback only honours links this daemon made.
    pub fn issue_state(&self) -> String {
        let expiry = chrono::Utc::now().timestamp() + 1800;
        let payload = format!("{expiry}.{}", hex::encode(rand::random::<[u8; 8]>()));
        let sig = self.state_signature(&payload);
        format!("{payload}.{sig}")
    }

    pub fn check_state(&self, state: &str) -> bool {
        let Some((payload, sig)) = state.rsplit_once('.') else {
            return false;
        };
        let fresh = payload
            .split('.')
            .next()
            .and_then(|e| e.parse::<i64>().ok())
            .is_some_and(|expiry| expiry > chrono::Utc::now().timestamp());
        let expected = self.state_signature(payload);
        fresh
            && self.is_configured()
            && bool::from(subtle::ConstantTimeEq::ct_eq(
                sig.as_bytes(),
                expected.as_bytes(),
            ))
    }

    fn state_signature(&self, payload: &str) -> String {
        signature::webhook_signature(
            "oauth-state:",
            self.secret.expose_secret().as_bytes(),
            payload.as_bytes(),
        )
    }

    /// Whether `header` (the `Authorization` value) signs `body` for this app.
    pub fn verify_webhook(&self, body: &[u8], header: &[u8]) -> bool {
        self.webhook_verifier()
            .is_some_and(|verifier| verifier.verify(body, header))
    }

    /// This app's webhook signatures, keyed once for every webhook to come; `None` when the
    /// app is not configured (an empty secret is no secret: nothing verifies).
    pub fn webhook_verifier(&self) -> Option<WebhookVerifier> {
        let secret = self.secret.expose_secret();
        (!secret.is_empty()).then(|| WebhookVerifier::new(&self.key, secret.as_bytes()))
    }
}
