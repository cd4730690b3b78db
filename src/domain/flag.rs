//! Feature flags with a gradual rollout per creator: a flag is on or off, and when on it
//! reaches the shops of its allow list, a percentage of the others (chosen by a stable hash of
//! the flag's name and the shop id, so raising 25% to 50% keeps the first 25%), and never the
//! shops of its deny list.

use std::collections::BTreeSet;

use sha2::{Digest, Sha256};

use super::{Invalid, ShopId};

/// A flag's name: what templates, rules and code ask for.
pub fn check_name(name: &str) -> Result<(), Invalid> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.' || c == '-'
        });
    if ok {
        Ok(())
    } else {
        Err(Invalid::new(
            "name",
            "a flag's name is 1 to 64 characters: lowercase letters, digits, '_', '.', '-'",
        ))
    }
}

/// Who a flag reaches.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rollout {
    /// Off: nobody, whatever the lists say (the kill switch).
    pub enabled: bool,
    /// Of the shops on neither list, this share (0 to 100) gets it.
    pub percent: u8,
    /// Shops that get it at any percentage.
    pub allow: BTreeSet<ShopId>,
    /// Shops that never get it.
    pub deny: BTreeSet<ShopId>,
}

impl Rollout {
    /// A rollout from what a person wrote: shop ids parsed, the percentage at most 100, no shop
    /// on both lists.
    pub fn parse(
        enabled: bool,
        percent: u32,
        allow: &[String],
        deny: &[String],
    ) -> Result<Self, Invalid> {
        if percent > 100 {
            return Err(Invalid::new("percent", "must be 0 to 100"));
        }
        let shops = |ids: &[String], field: &'static str| {
            ids.iter()
                .map(|id| ShopId::parse(id).map_err(|e| Invalid::new(field, e.to_string())))
                .collect::<Result<BTreeSet<_>, _>>()
        };
        let allow = shops(allow, "allow")?;
        let deny = shops(deny, "deny")?;
        if let Some(both) = allow.intersection(&deny).next() {
            return Err(Invalid::new(
                "deny",
                format!("shop {both} is on both the allow and the deny list"),
            ));
        }
        Ok(Self {
            enabled,
            percent: percent as u8,
            allow,
            deny,
        })
    }

    /// Whether flag `name` with this rollout is on for `shop`.
    pub fn reaches(&self, name: &str, shop: &ShopId) -> bool {
        if !self.enabled || self.deny.contains(shop) {
            return false;
        }
        self.allow.contains(shop) || bucket(name, shop) < u16::from(self.percent) * 100
    }
}

/// Where `shop` stands in flag `name`'s rollout, 0 to 9,999: the first bytes of
/// SHA-256(`name:shop`). Stable across builds and machines; the name is hashed in so that each
/// flag reaches its own first shops, not always the same ones.
fn bucket(name: &str, shop: &ShopId) -> u16 {
    let digest = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update(b":")
        .chain_update(shop.as_str().as_bytes())
        .finalize();
    let head = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
    (head % 10_000) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shops(n: u64) -> impl Iterator<Item = ShopId> {
        (0..n).map(|i| ShopId::parse(&format!("{}", 7_494_000_000_000_000_000 + i)).unwrap())
    }

    fn at(percent: u32) -> Rollout {
        Rollout::parse(true, percent, &[], &[]).unwrap()
    }

    #[test]
    fn percentages_hold_within_two_points_over_ten_thousand_shops() {
        for percent in [1, 10, 25, 50, 75, 99] {
            let rollout = at(percent);
            let reached = shops(10_000)
                .filter(|s| rollout.reaches("express", s))
                .count();
            let share = reached as f64 / 100.0;
            assert!(
                (share - f64::from(percent)).abs() <= 2.0,
                "{percent}% reached {share}%"
            );
        }
        assert_eq!(shops(10_000).filter(|s| at(0).reaches("x", s)).count(), 0);
        assert_eq!(
            shops(10_000).filter(|s| at(100).reaches("x", s)).count(),
            10_000
        );
    }

    #[test]
    fn raising_the_percentage_keeps_the_shops_that_had_it() {
        let (quarter, half) = (at(25), at(50));
        for shop in shops(10_000) {
            if quarter.reaches("express", &shop) {
                assert!(
                    half.reaches("express", &shop),
                    "{shop} lost the flag at 50%"
                );
            }
        }
    }

    #[test]
    fn each_flag_picks_its_own_shops() {
        let rollout = at(50);
        let differ = shops(1_000)
            .filter(|s| rollout.reaches("a", s) != rollout.reaches("b", s))
            .count();
        assert!(differ > 300, "only {differ} of 1000 shops differ");
    }

    #[test]
    fn allow_reaches_at_zero_deny_wins_at_100_and_off_is_off_for_all() {
        let shop = "7494000000000000001".to_owned();
        let allowed = Rollout::parse(true, 0, std::slice::from_ref(&shop), &[]).unwrap();
        let id = ShopId::parse(&shop).unwrap();
        assert!(allowed.reaches("x", &id));
        let denied = Rollout::parse(true, 100, &[], std::slice::from_ref(&shop)).unwrap();
        assert!(!denied.reaches("x", &id));
        let off = Rollout::parse(false, 100, std::slice::from_ref(&shop), &[]).unwrap();
        assert!(!off.reaches("x", &id));
    }

    #[test]
    fn bad_rollouts_name_what_is_wrong() {
        let err = Rollout::parse(true, 101, &[], &[]).unwrap_err();
        assert_eq!(err.field, "percent");
        let err = Rollout::parse(true, 5, &["not a shop".into()], &[]).unwrap_err();
        assert_eq!(err.field, "allow");
        let both = vec!["1".to_owned()];
        let err = Rollout::parse(true, 5, &both, &both).unwrap_err();
        assert!(err.reason.contains("both"), "{err}");
        assert!(check_name("Express Shipping").is_err());
        assert!(check_name("express_shipping").is_ok());
    }
}
