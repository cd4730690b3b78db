//! TikTok's order object (Get Order Detail / Search Orders, 202309) as it travels: amounts are
//! decimal strings, ids strings or numbers ([`Id`]), times unix seconds as either ([`Lenient`]).

use serde::{Deserialize, Serialize};

use crate::lenient::{Id, Lenient};

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

/// Get Package Shipping Document's `data`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ShippingDocument {
    pub doc_url: Option<String>,
    pub tracking_number: Option<String>,
}

/// Most packages one Batch Ship Packages call takes; the sandbox refuses a longer list.
pub const MAX_BATCH_SHIP: usize = 50;

/// Batch Ship Packages' `data`: the packages it refused, each with its own code and message;
/// every package not listed was shipped.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BatchShipResult {
    #[serde(default)]
    pub errors: Vec<PackageError>,
}

/// One refused package of a batch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PackageError {
    pub code: i64,
    pub message: String,
    pub detail: PackageRef,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PackageRef {
    pub package_id: String,
}
