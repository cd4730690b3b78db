//! TikTok's order detail (Get Order Detail, 202309) in domain terms, and its validation:
//! required fields, line items, and TikTok's documented payment identities.

use serde::{Deserialize, Serialize};

use super::{Currency, LineItem, Money, OrderStatus};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    pub currency: Currency,
    pub total_amount: Money,
    pub sub_total: Money,
    pub shipping_fee: Money,
    pub seller_discount: Money,
    pub platform_discount: Money,
    pub original_total_product_price: Option<Money>,
    pub original_shipping_fee: Option<Money>,
    pub shipping_fee_seller_discount: Option<Money>,
    pub shipping_fee_platform_discount: Option<Money>,
    pub tax: Option<Money>,
    pub retail_delivery_fee: Option<Money>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Detail {
    pub status: OrderStatus,
    pub update_time: i64,
    pub create_time: Option<i64>,
    pub payment: Option<Payment>,
    pub items: Vec<LineItem>,
    /// The recipient as TikTok sent it (masked for platform-shipped orders).
    pub recipient: Option<serde_json::Value>,
    pub rts_sla_time: Option<i64>,
    pub tts_sla_time: Option<i64>,
    pub delivery_sla_time: Option<i64>,
    /// TikTok's package ids (what "ship" ships).
    #[serde(default)]
    pub packages: Vec<String>,
    /// TIKTOK (TikTok buys the label) or SELLER (own carrier).
    #[serde(default)]
    pub shipping_type: Option<String>,
    /// NORMAL, PRE_ORDER, …
    #[serde(default)]
    pub order_type: Option<String>,
    /// Pre-orders: when the product is released (unix seconds).
    #[serde(default)]
    pub release_date: Option<i64>,
    #[serde(default)]
    pub buyer_message: Option<String>,
}

impl Detail {
    /// Every reason this detail cannot be fulfilled as it is; empty when it is sound.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.items.is_empty() {
            problems.push("the order has no line items".to_owned());
        }
        let mut ids: Vec<&str> = self.items.iter().map(|i| i.id.as_str()).collect();
        ids.sort_unstable();
        if ids.iter().any(|id| id.is_empty()) {
            problems.push("a line item has no id".to_owned());
        }
        if ids.windows(2).any(|w| w[0] == w[1]) {
            problems.push("two line items share an id".to_owned());
        }
        match &self.payment {
            None => problems.push("the order has no payment".to_owned()),
            Some(payment) => {
                payment.check(&mut problems);
                for item in &self.items {
                    for price in [item.sale_price, item.original_price].into_iter().flatten() {
                        if price.currency() != payment.currency {
                            problems.push(format!(
                                "line item {} is priced in {}, the order in {}",
                                item.id,
                                price.currency(),
                                payment.currency
                            ));
                        }
                    }
                }
            }
        }
        problems
    }
}

impl Payment {
    fn check(&self, problems: &mut Vec<String>) {
        let all = [
            ("total_amount", Some(self.total_amount)),
            ("sub_total", Some(self.sub_total)),
            ("shipping_fee", Some(self.shipping_fee)),
            ("seller_discount", Some(self.seller_discount)),
            ("platform_discount", Some(self.platform_discount)),
            (
                "original_total_product_price",
                self.original_total_product_price,
            ),
            ("original_shipping_fee", self.original_shipping_fee),
            (
                "shipping_fee_seller_discount",
                self.shipping_fee_seller_discount,
            ),
            (
                "shipping_fee_platform_discount",
                self.shipping_fee_platform_discount,
            ),
            ("tax", self.tax),
            ("retail_delivery_fee", self.retail_delivery_fee),
        ];
        for (name, amount) in all {
            let Some(amount) = amount else { continue };
            if amount.currency() != self.currency {
                problems.push(format!(
                    "payment.{name} is in {}, the payment in {}",
                    amount.currency(),
                    self.currency
                ));
                return;
            }
            if amount.minor() < 0 {
                problems.push(format!("payment.{name} is negative ({amount})"));
            }
        }
        // sub_total = original_total_product_price - seller_discount - platform_discount
        if let Some(original) = self.original_total_product_price {
            identity(
                problems,
                "sub_total",
                self.sub_total,
                "original_total_product_price - seller_discount - platform_discount",
                original
                    .checked_sub(self.seller_discount)
                    .and_then(|m| m.checked_sub(self.platform_discount)),
            );
        }
        // shipping_fee = original_shipping_fee - shipping_fee_seller_discount - shipping_fee_platform_discount
        if let (Some(original), Some(seller), Some(platform)) = (
            self.original_shipping_fee,
            self.shipping_fee_seller_discount,
            self.shipping_fee_platform_discount,
        ) {
            identity(
                problems,
                "shipping_fee",
                self.shipping_fee,
                "original_shipping_fee - shipping_fee_seller_discount - shipping_fee_platform_discount",
                original
                    .checked_sub(seller)
                    .and_then(|m| m.checked_sub(platform)),
            );
        }
        // total_amount = sub_total + shipping_fee + tax + retail_delivery_fee
        let zero = Money::from_minor(0, self.currency);
        identity(
            problems,
            "total_amount",
            self.total_amount,
            "sub_total + shipping_fee + tax + retail_delivery_fee",
            self.sub_total
                .checked_add(self.shipping_fee)
                .and_then(|m| m.checked_add(self.tax.unwrap_or(zero)))
                .and_then(|m| m.checked_add(self.retail_delivery_fee.unwrap_or(zero))),
        );
    }
}

fn identity(
    problems: &mut Vec<String>,
    name: &str,
    actual: Money,
    formula: &str,
    expected: Result<Money, super::Invalid>,
) {
    match expected {
        Ok(expected) if expected == actual => {}
        Ok(expected) => problems.push(format!(
            "payment.{name} is {actual} but {formula} is {expected}"
        )),
        Err(e) => problems.push(format!("payment.{name}: {e}")),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::Sku;

    pub fn usd(amount: &str) -> Money {
        Money::parse(amount, Currency::parse("USD").unwrap()).unwrap()
    }

    pub fn sound_detail(status: OrderStatus, update_time: i64) -> Detail {
        let item = |id: &str, sku: &str| LineItem {
            id: id.into(),
            sku: Sku::parse(sku).unwrap(),
            product_id: Some("1729".into()),
            product_name: Some("Glow serum".into()),
            sku_name: None,
            seller_sku: Some("GS-30".into()),
            sale_price: Some(usd("10.00")),
            original_price: Some(usd("12.00")),
            display_status: None,
            package_id: None,
        };
        Detail {
            status,
            update_time,
            create_time: Some(update_time - 60),
            payment: Some(Payment {
                currency: Currency::parse("USD").unwrap(),
                total_amount: usd("25.60"),
                sub_total: usd("20.00"),
                shipping_fee: usd("4.00"),
                seller_discount: usd("3.00"),
                platform_discount: usd("1.00"),
                original_total_product_price: Some(usd("24.00")),
                original_shipping_fee: Some(usd("5.00")),
                shipping_fee_seller_discount: Some(usd("1.00")),
                shipping_fee_platform_discount: Some(usd("0")),
                tax: Some(usd("1.60")),
                retail_delivery_fee: None,
            }),
            items: vec![item("L1", "SKU-A"), item("L2", "SKU-A")],
            recipient: None,
            rts_sla_time: Some(update_time + 86_400),
            tts_sla_time: None,
            delivery_sla_time: None,
            packages: Vec::new(),
            shipping_type: None,
            order_type: None,
            release_date: None,
            buyer_message: None,
        }
    }

    #[test]
    fn a_sound_detail_has_no_problems() {
        assert_eq!(
            sound_detail(OrderStatus::AwaitingShipment, 100).problems(),
            Vec::<String>::new()
        );
    }

    #[test]
    fn money_that_does_not_add_up_is_named() {
        let mut d = sound_detail(OrderStatus::AwaitingShipment, 100);
        d.payment.as_mut().unwrap().sub_total = usd("21.00");
        let problems = d.problems();
        assert!(
            problems
                .iter()
                .any(|p| p.contains("payment.sub_total is 21.00")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.contains("total_amount")),
            "{problems:?}"
        );
    }

    #[test]
    fn missing_items_payment_and_mixed_currencies_are_named() {
        let mut d = sound_detail(OrderStatus::AwaitingShipment, 100);
        d.items.clear();
        d.payment = None;
        let problems = d.problems();
        assert!(problems.iter().any(|p| p.contains("no line items")));
        assert!(problems.iter().any(|p| p.contains("no payment")));

        let mut d = sound_detail(OrderStatus::AwaitingShipment, 100);
        d.items[0].sale_price = Some(Money::parse("10", Currency::parse("EUR").unwrap()).unwrap());
        assert!(d.problems().iter().any(|p| p.contains("EUR")));
        d.items[1].id = d.items[0].id.clone();
        assert!(d.problems().iter().any(|p| p.contains("share an id")));
    }
}
