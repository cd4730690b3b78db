//! Seller tokens are stored encrypted at rest (XChaCha20-Poly1305, a random nonce per value).
//! The key is `tiktok.token_key` (64 hex digits); when it is empty, it is derived from the app
//! secret, so a database copied without the configuration holds no usable token.

use chacha20poly1305::aead::Aead;
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

const VERSION: &str = "v1:";

#[derive(Clone)]
pub struct Vault {
    cipher: XChaCha20Poly1305,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("tiktok.token_key must be 64 hexadecimal digits (32 bytes)")]
    BadKey,
    #[error("a stored token cannot be decrypted: wrong tiktok.token_key, or the value was altered")]
    Undecryptable,
}

impl Vault {
    /// From `tiktok.token_key`, or derived from the app secret when that is empty.
    pub fn new(token_key: &SecretString, app_secret: &SecretString) -> Result<Self, Error> {
        let configured = token_key.expose_secret();
        let key: [u8; 32] = if configured.is_empty() {
            let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(
                app_secret.expose_secret().as_bytes(),
            )
            .expect("HMAC takes a key of any length");
            mac.update(b"creatorflow/token-key/v1");
            mac.finalize().into_bytes().into()
        } else {
            hex::decode(configured.trim())
                .ok()
                .and_then(|bytes| bytes.try_into().ok())
                .ok_or(Error::BadKey)?
        };
        Ok(Self {
            cipher: XChaCha20Poly1305::new(&key.into()),
        })
    }

    pub fn seal(&self, plain: &SecretString) -> String {
        let nonce: [u8; 24] = rand::random();
        let sealed = self
            .cipher
            .encrypt(&XNonce::from(nonce), plain.expose_secret().as_bytes())
            .expect("encryption of a short value cannot fail");
        let mut out = Vec::with_capacity(24 + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        format!("{VERSION}{}", hex::encode(out))
    }

    pub fn open(&self, stored: &str) -> Result<SecretString, Error> {
        let bytes = stored
            .strip_prefix(VERSION)
            .and_then(|h| hex::decode(h).ok())
            .filter(|b| b.len() > 24)
            .ok_or(Error::Undecryptable)?;
        let (nonce, sealed) = bytes.split_at(24);
        let nonce: [u8; 24] = nonce.try_into().expect("split at 24");
        let plain = self
            .cipher
            .decrypt(&XNonce::from(nonce), sealed)
            .map_err(|_| Error::Undecryptable)?;
        String::from_utf8(plain)
            .map(SecretString::from)
            .map_err(|_| Error::Undecryptable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[test]
    fn tokens_round_trip_and_are_not_stored_in_clear() {
        let vault = Vault::new(&secret(""), &secret("app-secret")).unwrap();
        let sealed = vault.seal(&secret("TTP_access_token_value"));
        assert!(sealed.starts_with("v1:"));
        assert!(!sealed.contains("TTP_access"));
        assert_ne!(
            sealed,
            vault.seal(&secret("TTP_access_token_value")),
            "fresh nonce"
        );
        assert_eq!(
            vault.open(&sealed).unwrap().expose_secret(),
            "TTP_access_token_value"
        );
    }

    #[test]
    fn another_key_or_an_altered_value_cannot_open_it() {
        let vault = Vault::new(&secret(""), &secret("app-secret")).unwrap();
        let sealed = vault.seal(&secret("token"));
        let other = Vault::new(&secret(&"ab".repeat(32)), &secret("app-secret")).unwrap();
        assert!(other.open(&sealed).is_err());
        let mut altered = sealed.clone();
        altered.replace_range(10..11, if &sealed[10..11] == "0" { "1" } else { "0" });
        assert!(vault.open(&altered).is_err());
        assert!(matches!(
            Vault::new(&secret("short"), &secret("x")),
            Err(Error::BadKey)
        ));
    }
}
