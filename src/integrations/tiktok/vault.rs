//! Seller tokens and notification secrets are stored encrypted at rest (XChaCha20-Poly1305, a
//! random nonce per value). The key is `tiktok.token_key` (64 hex digits); when it is empty, it
//! is derived from the app secret, so a database copied without the configuration holds no
//! usable token.
//!
//! Rotating the key: set the new `token_key`, list the old one in `previous_token_keys`
//! (values sealed with it still open), run `creatorflow secrets rotate` (re-seals every stored
//! value with the new key; safe to interrupt and run again), then drop the old key.

use chacha20poly1305::aead::Aead;
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

const VERSION: &str = "v1:";

#[derive(Clone)]
pub struct Vault {
    cipher: XChaCha20Poly1305,
    /// Keys values may still be sealed with: opened, never used to seal.
    previous: Vec<XChaCha20Poly1305>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0} must be 64 hexadecimal digits (32 bytes)")]
    BadKey(&'static str),
    #[error("a stored token cannot be decrypted: wrong tiktok.token_key, or the value was altered")]
    Undecryptable,
}

/// The key derived from the app secret (when `token_key` is empty).
fn derived(app_secret: &SecretString) -> [u8; 32] {
    let mut mac =
        <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(app_secret.expose_secret().as_bytes())
            .expect("HMAC takes a key of any length");
    mac.update(b"creatorflow/token-key/v1");
    mac.finalize().into_bytes().into()
}

fn parse(hex_key: &SecretString, name: &'static str) -> Result<[u8; 32], Error> {
    hex::decode(hex_key.expose_secret().trim())
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or(Error::BadKey(name))
}

/// What [`Vault::reseal`] found a stored value sealed with.
#[derive(Debug, PartialEq, Eq)]
pub enum Resealed {
    /// The current key: nothing to do.
    Current,
    /// An older key: here it is sealed with the current one.
    Again(String),
}

impl Vault {
    /// From `tiktok.token_key`, or derived from the app secret when that is empty.
    pub fn new(token_key: &SecretString, app_secret: &SecretString) -> Result<Self, Error> {
        Self::with_previous(token_key, &[], app_secret)
    }

    /// Like [`Vault::new`], also opening values sealed with any of `previous` (hex keys) and,
    /// when `token_key` is set, with the key derived from the app secret (the default before
    /// a key was configured).
    pub fn with_previous(
        token_key: &SecretString,
        previous: &[SecretString],
        app_secret: &SecretString,
    ) -> Result<Self, Error> {
        let mut keys = Vec::with_capacity(previous.len() + 1);
        for key in previous {
            keys.push(parse(key, "tiktok.previous_token_keys")?);
        }
        let current = if token_key.expose_secret().is_empty() {
            derived(app_secret)
        } else {
            keys.push(derived(app_secret));
            parse(token_key, "tiktok.token_key")?
        };
        Ok(Self {
            cipher: XChaCha20Poly1305::new(&current.into()),
            previous: keys
                .into_iter()
                .filter(|k| *k != current)
                .map(|k| XChaCha20Poly1305::new(&k.into()))
                .collect(),
        })
    }

    /// A stored value sealed with the current key if it is not already; an error if no key
    /// this vault knows opens it.
    pub fn reseal(&self, stored: &str) -> Result<Resealed, Error> {
        if open_with(&self.cipher, stored).is_ok() {
            return Ok(Resealed::Current);
        }
        let plain = self.open(stored)?;
        Ok(Resealed::Again(self.seal(&plain)))
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

    /// The value in clear, opened with the current key or, failing that, a previous one.
    pub fn open(&self, stored: &str) -> Result<SecretString, Error> {
        std::iter::once(&self.cipher)
            .chain(&self.previous)
            .find_map(|cipher| open_with(cipher, stored).ok())
            .ok_or(Error::Undecryptable)
    }
}

fn open_with(cipher: &XChaCha20Poly1305, stored: &str) -> Result<SecretString, Error> {
    let bytes = stored
        .strip_prefix(VERSION)
        .and_then(|h| hex::decode(h).ok())
        .filter(|b| b.len() > 24)
        .ok_or(Error::Undecryptable)?;
    let (nonce, sealed) = bytes.split_at(24);
    let nonce: [u8; 24] = nonce.try_into().expect("split at 24");
    let plain = cipher
        .decrypt(&XNonce::from(nonce), sealed)
        .map_err(|_| Error::Undecryptable)?;
    String::from_utf8(plain)
        .map(SecretString::from)
        .map_err(|_| Error::Undecryptable)
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
        // (A configured key also opens what its app secret's derived key sealed: see
        // `with_previous`; so the other vault here has another app secret too.)
        let other = Vault::new(&secret(&"ab".repeat(32)), &secret("other-secret")).unwrap();
        assert!(other.open(&sealed).is_err());
        let mut altered = sealed.clone();
        altered.replace_range(10..11, if &sealed[10..11] == "0" { "1" } else { "0" });
        assert!(vault.open(&altered).is_err());
        assert!(matches!(
            Vault::new(&secret("short"), &secret("x")),
            Err(Error::BadKey("tiktok.token_key"))
        ));
    }

    #[test]
    fn a_new_key_opens_what_the_old_one_sealed_and_reseals_it() {
        let (old, new) = (secret(&"ab".repeat(32)), secret(&"cd".repeat(32)));
        let before = Vault::new(&old, &secret("app-secret")).unwrap();
        let sealed = before.seal(&secret("token"));
        let derived = Vault::new(&secret(""), &secret("app-secret"))
            .unwrap()
            .seal(&secret("older"));
        let after = Vault::with_previous(&new, &[old], &secret("app-secret")).unwrap();
        assert_eq!(after.open(&sealed).unwrap().expose_secret(), "token");
        assert_eq!(after.open(&derived).unwrap().expose_secret(), "older");
        let Resealed::Again(again) = after.reseal(&sealed).unwrap() else {
            panic!("sealed with the old key")
        };
        assert_eq!(after.reseal(&again).unwrap(), Resealed::Current);
        assert!(
            before.open(&again).is_err(),
            "the old key no longer opens it"
        );
        let only_new = Vault::new(&new, &secret("app-secret")).unwrap();
        assert_eq!(only_new.open(&again).unwrap().expose_secret(), "token");
        assert!(matches!(
            Vault::with_previous(&new, &[secret("nope")], &secret("x")),
            Err(Error::BadKey("tiktok.previous_token_keys"))
        ));
    }
}
