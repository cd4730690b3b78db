//! Line items. TikTok has no quantity: one line item is one unit, and two of the same SKU are two
//! line items with the same `sku_id`. Quantities come from grouping.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::serde_text::serde_as_text;
use super::{Invalid, Money};

/// A TikTok SKU id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sku(Box<str>);

impl Sku {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let raw = raw.trim();
        if raw.is_empty() || raw.len() > 64 || raw.chars().any(|c| c.is_control() || c == ' ') {
            return Err(Invalid::new(
                "sku_id",
                format!("{raw:?} is not a SKU id (1 to 64 visible characters)"),
            ));
        }
        Ok(Self(raw.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

serde_as_text!(Sku, Sku::parse);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineItem {
    /// TikTok's line item id (unique within the order).
    pub id: String,
    pub sku: Sku,
    pub product_id: Option<String>,
    pub product_name: Option<String>,
    pub sku_name: Option<String>,
    pub seller_sku: Option<String>,
    pub sale_price: Option<Money>,
    pub original_price: Option<Money>,
    pub display_status: Option<String>,
    pub package_id: Option<String>,
}

impl LineItem {
    /// The product and its variant as a person reads them ("Hoodie · Black, M").
    pub fn product_label(&self) -> String {
        [self.product_name.as_deref(), self.sku_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" · ")
    }
}

/// Units per SKU.
pub fn quantities(items: &[LineItem]) -> BTreeMap<Sku, u32> {
    let mut by_sku = BTreeMap::new();
    for item in items {
        *by_sku.entry(item.sku.clone()).or_insert(0) += 1;
    }
    by_sku
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn item(id: &str, sku: &str) -> LineItem {
        LineItem {
            id: id.into(),
            sku: Sku::parse(sku).unwrap(),
            product_id: None,
            product_name: None,
            sku_name: None,
            seller_sku: None,
            sale_price: None,
            original_price: None,
            display_status: None,
            package_id: None,
        }
    }

    #[test]
    fn quantities_count_line_items_per_sku() {
        let items = [item("1", "A"), item("2", "B"), item("3", "A")];
        let q = quantities(&items);
        assert_eq!(q[&Sku::parse("A").unwrap()], 2);
        assert_eq!(q[&Sku::parse("B").unwrap()], 1);
    }
}
