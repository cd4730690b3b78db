//! The stock ledger's rules that need no database.

use serde::Serialize;

use super::serde_text::text_enum;
use super::{ShopId, Sku};

text_enum! {
    /// Where one reserved order line stands.
    pub enum ReservationState ("reservation state") {
        /// Held for the order; counted in `reserved`.
        Reserved = "reserved",
        /// The package left: the units left the shelf too.
        Committed = "committed",
        /// Given back (the order was cancelled).
        Released = "released",
        /// Given back because it was held too long (`inventory.reservation_ttl`).
        Expired = "expired",
    }
}

/// A SKU's stock, as the low-stock rule reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Level {
    pub on_hand: i64,
    pub reserved: i64,
    pub threshold: Option<i64>,
}

impl Level {
    pub fn available(&self) -> i64 {
        self.on_hand - self.reserved
    }
}

/// `inventory.low_stock`: a change took a SKU's availability from above its threshold to at or
/// below it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LowStock {
    pub shop_id: ShopId,
    pub sku_id: Sku,
    pub on_hand: i64,
    pub reserved: i64,
    pub available: i64,
    pub threshold: i64,
}

impl LowStock {
    pub const ROUTING_KEY: &'static str = "inventory.low_stock";
}

/// The low-stock message a change from `before` (none: the SKU was not tracked) to `after` owes:
/// one when availability crosses the threshold downwards, none while it stays below (so a SKU
/// that is low says so once, not at every sale).
pub fn low_stock(
    shop_id: &ShopId,
    sku_id: &Sku,
    before: Option<Level>,
    after: Level,
) -> Option<LowStock> {
    let threshold = after.threshold?;
    let was_low = before.is_some_and(|b| b.available() <= threshold);
    (after.available() <= threshold && !was_low).then(|| LowStock {
        shop_id: shop_id.clone(),
        sku_id: sku_id.clone(),
        on_hand: after.on_hand,
        reserved: after.reserved,
        available: after.available(),
        threshold,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn level(on_hand: i64, reserved: i64, threshold: Option<i64>) -> Level {
        Level {
            on_hand,
            reserved,
            threshold,
        }
    }

    fn ids() -> (ShopId, Sku) {
        (
            ShopId::parse("7494049642642441621").unwrap(),
            Sku::parse("TSHIRT-BLK-M").unwrap(),
        )
    }

    #[test]
    fn crossing_the_threshold_says_so_once() {
        let (shop, sku) = ids();
        let crossed = low_stock(
            &shop,
            &sku,
            Some(level(10, 4, Some(5))),
            level(10, 5, Some(5)),
        );
        assert_eq!(
            crossed,
            Some(LowStock {
                shop_id: shop.clone(),
                sku_id: sku.clone(),
                on_hand: 10,
                reserved: 5,
                available: 5,
                threshold: 5,
            })
        );
        let still_low = low_stock(
            &shop,
            &sku,
            Some(level(10, 5, Some(5))),
            level(10, 6, Some(5)),
        );
        assert_eq!(still_low, None, "already low: no second message");
        assert_eq!(
            low_stock(&shop, &sku, None, level(3, 0, Some(5))).map(|l| l.available),
            Some(3)
        );
        assert_eq!(
            low_stock(&shop, &sku, None, level(3, 0, None)),
            None,
            "no threshold, no message"
        );
    }

    proptest! {
        #[test]
        fn a_message_means_the_sku_went_from_above_to_at_or_below(
            before in proptest::option::of((0i64..100, 0i64..100)),
            after in (0i64..100, 0i64..100),
            threshold in proptest::option::of(0i64..50),
        ) {
            let (shop, sku) = ids();
            let before = before.map(|(o, r)| level(o, r, threshold));
            let after = level(after.0, after.1, threshold);
            let said = low_stock(&shop, &sku, before, after).is_some();
            let expected = threshold.is_some_and(|t| {
                after.available() <= t && before.is_none_or(|b| b.available() > t)
            });
            prop_assert_eq!(said, expected);
        }
    }
}
