//! API keys: high-entropy bearer secrets. Only their SHA-256 is stored; a key is shown once, when
//! it is created. (A fast hash is right here: the key is 256 random bits, not a password, so
//! there is nothing to brute-force, and every request checks one.)

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::serde_text::text_enum;
use super::{Invalid, ShopId};

const KEY_PREFIX: &str = "cf_";

/// What a key may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every shop, and administration.
    Admin,
    /// One shop's data only.
    Shop(ShopId),
}

impl Scope {
    /// Whether this scope may read or act on `shop`.
    pub fn allows(&self, shop: &ShopId) -> bool {
        match self {
            Scope::Admin => true,
            Scope::Shop(own) => own == shop,
        }
    }

    /// The one shop a read within this scope is limited to: a shop key's own, whatever was
    /// asked; for an administrator, the shop asked for, if any.
    pub fn narrow<'a>(&'a self, asked: Option<&'a ShopId>) -> Option<&'a ShopId> {
        match self {
            Scope::Shop(own) => Some(own),
            Scope::Admin => asked,
        }
    }
}

text_enum! {
    /// What a key may do within the shops it sees.
    pub enum Role ("key role") {
        /// Look, change nothing.
        Read = "read",
        /// Also give orders commands, run bulk jobs, adjust stock, replay dead letters.
        Operate = "operate",
        /// Also manage keys and shops (a key for every shop only).
        Admin = "admin",
    }
}

impl Role {
    pub fn may_operate(self) -> bool {
        matches!(self, Role::Operate | Role::Admin)
    }

    /// The role a key for `scope` may have: administration needs every shop.
    pub fn check(self, scope: &Scope) -> Result<Self, Invalid> {
        match (self, scope) {
            (Role::Admin, Scope::Shop(_)) => Err(Invalid::new(
                "role",
                "a shop's key cannot administer; give it read or operate",
            )),
            _ => Ok(self),
        }
    }
}

/// A freshly generated key. The secret leaves this type only through [`ApiKey::reveal`], once,
/// for printing to the operator who asked for it.
pub struct ApiKey {
    secret: SecretString,
}

impl ApiKey {
    /// A new key from 32 random bytes supplied by the caller (so this stays free of I/O).
    pub fn from_random(bytes: [u8; 32]) -> Self {
        Self {
            secret: format!("{KEY_PREFIX}{}", hex::encode(bytes)).into(),
        }
    }

    pub fn hash(&self) -> KeyHash {
        KeyHash::of(self.secret.expose_secret())
    }

    /// The first characters, safe to store and show so operators can tell keys apart.
    pub fn prefix(&self) -> String {
        self.secret.expose_secret()[..KEY_PREFIX.len() + 8].to_owned()
    }

    pub fn reveal(&self) -> &str {
        self.secret.expose_secret()
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({}…)", self.prefix())
    }
}

/// The stored form of a key: lowercase hex SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyHash(String);

impl KeyHash {
    /// The hash of whatever a client presented. Anything may be presented; a malformed key
    /// simply hashes to something that matches no row.
    pub fn of(presented: &str) -> Self {
        Self(hex::encode(Sha256::digest(presented.as_bytes())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_matches_its_own_hash_and_no_other() {
        let key = ApiKey::from_random([7; 32]);
        assert_eq!(KeyHash::of(key.reveal()), key.hash());
        assert_ne!(KeyHash::of("cf_guess"), key.hash());
        assert_eq!(key.hash().as_str().len(), 64);
    }

    #[test]
    fn keys_look_like_cf_and_64_hex_digits_and_debug_hides_them() {
        let key = ApiKey::from_random([0xab; 32]);
        assert!(key.reveal().starts_with("cf_"));
        assert_eq!(key.reveal().len(), 3 + 64);
        assert_eq!(key.prefix(), "cf_abababab");
        assert!(!format!("{key:?}").contains(key.reveal()));
    }

    #[test]
    fn a_shop_scope_allows_only_its_own_shop() {
        let a = ShopId::parse("1001").unwrap();
        let b = ShopId::parse("1002").unwrap();
        assert!(Scope::Shop(a.clone()).allows(&a));
        assert!(!Scope::Shop(a).allows(&b));
        assert!(Scope::Admin.allows(&b));
    }
}
