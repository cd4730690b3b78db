//! TikTok's order object (Get Order Detail / Search Orders, 202309) on the wire, and its
//! conversion into the domain's [`Detail`]. Amounts are decimal strings, converted exactly.

use serde::{Deserialize, Serialize};

use super::lenient::{Id, Lenient};
use crate::domain::{
    Currency, Detail, Invalid, LineItem, Money, OrderId, OrderStatus, Payment, Sku,
};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireOrder {
    pub id: Id,
    pub status: String,
    pub create_time: Option<Lenient<i64>>,
    pub update_time: Lenient<i64>,
    #[serde(default)]
    pub payment: Option<WirePayment>,
    #[serde(default)]
    pub line_items: Vec<WireLineItem>,
    #[serde(default)]
    pub recipient_address: Option<serde_json::Value>,
    pub rts_sla_time: Option<Lenient<i64>>,
    pub tts_sla_time: Option<Lenient<i64>>,
    pub delivery_sla_time: Option<Lenient<i64>>,
    #[serde(default)]
    pub packages: Vec<WirePackage>,
    pub shipping_type: Option<String>,
    pub tracking_number: Option<String>,
    pub buyer_message: Option<String>,
    #[serde(default)]
    pub order_type: Option<String>,
    #[serde(default)]
    pub release_date: Option<Lenient<i64>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WirePackage {
    pub id: Id,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WirePayment {
    pub currency: Option<String>,
    pub total_amount: Option<String>,
    pub sub_total: Option<String>,
    pub shipping_fee: Option<String>,
    pub seller_discount: Option<String>,
    pub platform_discount: Option<String>,
    pub original_total_product_price: Option<String>,
    pub original_shipping_fee: Option<String>,
    pub shipping_fee_seller_discount: Option<String>,
    pub shipping_fee_platform_discount: Option<String>,
    pub tax: Option<String>,
    pub retail_delivery_fee: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireLineItem {
    pub id: Id,
    pub sku_id: Id,
    pub product_id: Option<Id>,
    pub product_name: Option<String>,
    pub sku_name: Option<String>,
    pub seller_sku: Option<String>,
    pub sale_price: Option<String>,
    pub original_price: Option<String>,
    pub currency: Option<String>,
    pub display_status: Option<String>,
    pub package_id: Option<Id>,
}

impl WireOrder {
    pub fn order_id(&self) -> Result<OrderId, Invalid> {
        OrderId::parse(&self.id.0)
    }

    /// The order in domain terms. A payment without its required amounts becomes no payment
    /// (the order goes to `exception` saying so); an amount that is not an exact decimal in its
    /// currency is an error, since guessing would lose money.
    pub fn to_detail(&self) -> Result<Detail, Invalid> {
        let payment = self
            .payment
            .as_ref()
            .map(WirePayment::to_payment)
            .transpose()?
            .flatten();
        let items = self
            .line_items
            .iter()
            .map(|item| item.to_line_item(payment.as_ref().map(|p| p.currency)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Detail {
            status: OrderStatus::parse(&self.status),
            update_time: self.update_time.0,
            create_time: self.create_time.as_ref().map(|t| t.0),
            payment,
            items,
            recipient: self.recipient_address.clone(),
            rts_sla_time: self.rts_sla_time.as_ref().map(|t| t.0),
            tts_sla_time: self.tts_sla_time.as_ref().map(|t| t.0),
            delivery_sla_time: self.delivery_sla_time.as_ref().map(|t| t.0),
            packages: self.packages.iter().map(|p| p.id.0.clone()).collect(),
            shipping_type: self.shipping_type.clone(),
            order_type: self.order_type.clone(),
            release_date: self.release_date.as_ref().map(|t| t.0),
            buyer_message: self.buyer_message.clone(),
        })
    }
}

impl WirePayment {
    fn to_payment(&self) -> Result<Option<Payment>, Invalid> {
        let Some(currency) = self.currency.as_deref() else {
            return Ok(None);
        };
        let currency = Currency::parse(currency)?;
        let amount = |raw: &Option<String>| {
            raw.as_deref()
                .filter(|a| !a.trim().is_empty())
                .map(|a| Money::parse(a, currency))
                .transpose()
        };
        let required = [
            amount(&self.total_amount)?,
            amount(&self.sub_total)?,
            amount(&self.shipping_fee)?,
            amount(&self.seller_discount)?,
            amount(&self.platform_discount)?,
        ];
        let [
            Some(total_amount),
            Some(sub_total),
            Some(shipping_fee),
            Some(seller_discount),
            Some(platform_discount),
        ] = required
        else {
            return Ok(None);
        };
        Ok(Some(Payment {
            currency,
            total_amount,
            sub_total,
            shipping_fee,
            seller_discount,
            platform_discount,
            original_total_product_price: amount(&self.original_total_product_price)?,
            original_shipping_fee: amount(&self.original_shipping_fee)?,
            shipping_fee_seller_discount: amount(&self.shipping_fee_seller_discount)?,
            shipping_fee_platform_discount: amount(&self.shipping_fee_platform_discount)?,
            tax: amount(&self.tax)?,
            retail_delivery_fee: amount(&self.retail_delivery_fee)?,
        }))
    }

    /// TikTok's shape of a payment, for the sandbox.
    pub fn from_payment(p: &Payment) -> Self {
        let text = |m: Money| Some(m.to_string());
        Self {
            currency: Some(p.currency.as_str().to_owned()),
            total_amount: text(p.total_amount),
            sub_total: text(p.sub_total),
            shipping_fee: text(p.shipping_fee),
            seller_discount: text(p.seller_discount),
            platform_discount: text(p.platform_discount),
            original_total_product_price: p.original_total_product_price.and_then(text),
            original_shipping_fee: p.original_shipping_fee.and_then(text),
            shipping_fee_seller_discount: p.shipping_fee_seller_discount.and_then(text),
            shipping_fee_platform_discount: p.shipping_fee_platform_discount.and_then(text),
            tax: p.tax.and_then(text),
            retail_delivery_fee: p.retail_delivery_fee.and_then(text),
        }
    }
}

impl WireLineItem {
    fn to_line_item(&self, order_currency: Option<Currency>) -> Result<LineItem, Invalid> {
        let currency = match self.currency.as_deref() {
            Some(code) => Some(Currency::parse(code)?),
            None => order_currency,
        };
        let price = |raw: &Option<String>| match (raw.as_deref(), currency) {
            (Some(amount), Some(currency)) if !amount.trim().is_empty() => {
                Money::parse(amount, currency).map(Some)
            }
            (Some(_), None) => Err(Invalid::new("currency", "a price without a currency")),
            _ => Ok(None),
        };
        Ok(LineItem {
            id: self.id.0.clone(),
            sku: Sku::parse(&self.sku_id.0)?,
            product_id: self.product_id.as_ref().map(|i| i.0.clone()),
            product_name: self.product_name.clone(),
            sku_name: self.sku_name.clone(),
            seller_sku: self.seller_sku.clone(),
            sale_price: price(&self.sale_price)?,
            original_price: price(&self.original_price)?,
            display_status: self.display_status.clone(),
            package_id: self.package_id.as_ref().map(|i| i.0.clone()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{
        "id": "576461413038785752", "status": "AWAITING_SHIPMENT", "create_time": 1619621355,
        "update_time": 1619621400, "rts_sla_time": 1619794155, "shipping_type": "TIKTOK",
        "payment": {"currency": "USD", "sub_total": "20.00", "shipping_fee": "4.00",
            "seller_discount": "3.00", "platform_discount": "1.00", "total_amount": "25.60",
            "original_total_product_price": "24.00", "tax": "1.60"},
        "line_items": [
            {"id": "1", "sku_id": 1729382256910270464, "sale_price": "10.00", "original_price": "12.00", "currency": "USD", "product_name": "Serum"},
            {"id": "2", "sku_id": "1729382256910270464", "sale_price": "10.00", "currency": "USD"}
        ],
        "recipient_address": {"name": "A. Buyer", "region_code": "US"},
        "packages": [{"id": "1152921504606846976"}],
        "unknown_future_field": {"ignored": true}
    }"#;

    #[test]
    fn a_tiktok_order_becomes_a_sound_detail_exactly() {
        let wire: WireOrder = serde_json::from_str(SAMPLE).unwrap();
        assert_eq!(wire.order_id().unwrap().as_str(), "576461413038785752");
        let detail = wire.to_detail().unwrap();
        assert_eq!(detail.status, OrderStatus::AwaitingShipment);
        assert_eq!(detail.payment.as_ref().unwrap().total_amount.minor(), 2560);
        assert_eq!(detail.items.len(), 2);
        assert_eq!(detail.items[0].sku.as_str(), "1729382256910270464");
        assert_eq!(detail.rts_sla_time, Some(1619794155));
        assert!(detail.problems().is_empty(), "{:?}", detail.problems());
    }

    #[test]
    fn inexact_money_is_an_error_and_missing_amounts_an_exception() {
        let mut wire: WireOrder = serde_json::from_str(SAMPLE).unwrap();
        wire.payment.as_mut().unwrap().total_amount = Some("25.601".into());
        assert!(
            wire.to_detail()
                .unwrap_err()
                .to_string()
                .contains("decimal places")
        );
        wire.payment.as_mut().unwrap().total_amount = None;
        let detail = wire.to_detail().unwrap();
        assert!(detail.problems().iter().any(|p| p.contains("no payment")));
    }
}

/// Get Package Shipping Document's `data`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ShippingDocument {
    pub doc_url: Option<String>,
    pub tracking_number: Option<String>,
}
