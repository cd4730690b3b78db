use std::fmt;

use compact_str::CompactString;

use super::Invalid;

/// A TikTok Shop id (`shop_id` in webhooks, e.g. `"7494049642642441621"`). Kept as text: TikTok
/// ids exceed 2^53 and must never pass through a float.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShopId(CompactString);

impl ShopId {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let raw = raw.trim();
        if raw.is_empty() || raw.len() > 64 {
            return Err(Invalid::new("shop_id", "must be 1 to 64 characters"));
        }
        if !raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(Invalid::new(
                "shop_id",
                "may hold only letters, digits, '_' and '-'",
            ));
        }
        Ok(Self(raw.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ShopId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A shop's display name: trimmed, non-empty, at most 200 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopName(String);

impl ShopName {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(Invalid::new("name", "must not be empty"));
        }
        if raw.chars().count() > 200 {
            return Err(Invalid::new("name", "must be at most 200 characters"));
        }
        if raw.chars().any(char::is_control) {
            return Err(Invalid::new("name", "must not contain control characters"));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_numeric_shop_id_beyond_2_pow_53_is_kept_exactly() {
        let id = ShopId::parse("7494049642642441621").unwrap();
        assert_eq!(id.as_str(), "7494049642642441621");
    }

    #[test]
    fn empty_overlong_or_odd_shop_ids_are_refused() {
        assert!(ShopId::parse("").is_err());
        assert!(ShopId::parse(&"1".repeat(65)).is_err());
        assert!(ShopId::parse("12 34").is_err());
        assert!(ShopId::parse("a/b").is_err());
    }

    #[test]
    fn shop_names_are_trimmed_and_must_say_something() {
        assert_eq!(ShopName::parse("  Glow Co ").unwrap().as_str(), "Glow Co");
        assert!(ShopName::parse("   ").is_err());
        assert!(ShopName::parse("bad\nname").is_err());
    }
}
