//! A tag on an order: a short label a person or a workflow puts on it (`vip`, `gift wrap`).

use std::fmt;

use super::Invalid;
use super::serde_text::serde_as_text;

/// Longest tag, in characters.
const MAX_CHARS: usize = 64;

/// 1 to 64 characters, trimmed, without control characters or commas (tags are often written
/// as a comma-separated list).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(Box<str>);

impl Tag {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let tag = raw.trim();
        let bad = |why: &str| Invalid::new("tag", format!("{raw:?} is not a tag: {why}"));
        if tag.is_empty() {
            return Err(bad("it is empty"));
        }
        if tag.chars().count() > MAX_CHARS {
            return Err(bad("it is longer than 64 characters"));
        }
        if tag.chars().any(|c| c.is_control() || c == ',') {
            return Err(bad("it holds a comma or a control character"));
        }
        Ok(Self(tag.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

serde_as_text!(Tag, Tag::parse);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_trimmed_short_labels() {
        assert_eq!(Tag::parse("  gift wrap ").unwrap().as_str(), "gift wrap");
        assert!(Tag::parse("").is_err());
        assert!(Tag::parse("a,b").unwrap_err().reason.contains("comma"));
        assert!(Tag::parse(&"x".repeat(65)).is_err());
        assert!(Tag::parse("line\nbreak").is_err());
    }
}
