//! TikTok's order object (see `tiktok_wire::order`) in the domain's terms: its [`Detail`].
//! Amounts are decimal strings, converted exactly.

pub use tiktok_wire::order::{ShippingDocument, WireLineItem, WireOrder, WirePackage, WirePayment};

use crate::domain::{
    Currency, Detail, Invalid, LineItem, Money, OrderId, OrderStatus, Payment, Sku,
};

/// The id of TikTok's order, validated.
pub fn order_id(wire: &WireOrder) -> Result<OrderId, Invalid> {
    OrderId::parse(&wire.id.0)
}

/// The order in domain terms. A payment without its required amounts becomes no payment (the
/// order goes to `exception` saying so); an amount that is not an exact decimal in its currency
/// is an error, since guessing would lose money.
pub fn detail(wire: &WireOrder) -> Result<Detail, Invalid> {
    let payment = wire.payment.as_ref().map(payment).transpose()?.flatten();
    let items = wire
        .line_items
        .iter()
        .map(|item| line_item(item, payment.as_ref().map(|p| p.currency)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Detail {
        status: OrderStatus::parse(&wire.status),
        update_time: wire.update_time.0,
        create_time: wire.create_time.as_ref().map(|t| t.0),
        payment,
        items,
        recipient: wire.recipient_address.clone(),
        rts_sla_time: wire.rts_sla_time.as_ref().map(|t| t.0),
        tts_sla_time: wire.tts_sla_time.as_ref().map(|t| t.0),
        delivery_sla_time: wire.delivery_sla_time.as_ref().map(|t| t.0),
        packages: wire.packages.iter().map(|p| p.id.0.clone()).collect(),
        shipping_type: wire.shipping_type.clone(),
        order_type: wire.order_type.clone(),
        release_date: wire.release_date.as_ref().map(|t| t.0),
        buyer_message: wire.buyer_message.clone(),
    })
}

fn payment(p: &WirePayment) -> Result<Option<Payment>, Invalid> {
    let Some(currency) = p.currency.as_deref() else {
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
        amount(&p.total_amount)?,
        amount(&p.sub_total)?,
        amount(&p.shipping_fee)?,
        amount(&p.seller_discount)?,
        amount(&p.platform_discount)?,
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
        original_total_product_price: amount(&p.original_total_product_price)?,
        original_shipping_fee: amount(&p.original_shipping_fee)?,
        shipping_fee_seller_discount: amount(&p.shipping_fee_seller_discount)?,
        shipping_fee_platform_discount: amount(&p.shipping_fee_platform_discount)?,
        tax: amount(&p.tax)?,
        retail_delivery_fee: amount(&p.retail_delivery_fee)?,
    }))
}

fn line_item(item: &WireLineItem, order_currency: Option<Currency>) -> Result<LineItem, Invalid> {
    let currency = match item.currency.as_deref() {
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
        id: item.id.0.clone(),
        sku: Sku::parse(&item.sku_id.0)?,
        product_id: item.product_id.as_ref().map(|i| i.0.clone()),
        product_name: item.product_name.clone(),
        sku_name: item.sku_name.clone(),
        seller_sku: item.seller_sku.clone(),
        sale_price: price(&item.sale_price)?,
        original_price: price(&item.original_price)?,
        display_status: item.display_status.clone(),
        package_id: item.package_id.as_ref().map(|i| i.0.clone()),
    })
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
        assert_eq!(order_id(&wire).unwrap().as_str(), "576461413038785752");
        let converted = detail(&wire).unwrap();
        assert_eq!(converted.status, OrderStatus::AwaitingShipment);
        assert_eq!(
            converted.payment.as_ref().unwrap().total_amount.minor(),
            2560
        );
        assert_eq!(converted.items.len(), 2);
        assert_eq!(converted.items[0].sku.as_str(), "1729382256910270464");
        assert_eq!(converted.rts_sla_time, Some(1619794155));
        assert!(
            converted.problems().is_empty(),
            "{:?}",
            converted.problems()
        );
    }

    #[test]
    fn inexact_money_is_an_error_and_missing_amounts_an_exception() {
        let mut wire: WireOrder = serde_json::from_str(SAMPLE).unwrap();
        wire.payment.as_mut().unwrap().total_amount = Some("25.601".into());
        assert!(
            detail(&wire)
                .unwrap_err()
                .to_string()
                .contains("decimal places")
        );
        wire.payment.as_mut().unwrap().total_amount = None;
        let converted = detail(&wire).unwrap();
        assert!(
            converted
                .problems()
                .iter()
                .any(|p| p.contains("no payment"))
        );
    }
}
