//! Where an order's shipment stands, and who made its label.

use super::serde_text::text_enum;

text_enum! {
    /// A shipment's state.
    pub enum ShipmentState ("shipment state") {
        /// The label is bought; TikTok is not told yet.
        Purchased = "purchased",
        Shipped = "shipped",
        /// The label was given back unused (the order was cancelled).
        Voided = "voided",
    }
}

text_enum! {
    /// Who made the label.
    pub enum ShipmentProvider ("shipment provider") {
        /// TikTok shipping: TikTok arranged the carrier.
        Tiktok = "tiktok",
        /// The seller's carrier, through the configured label API.
        LabelApi = "label_api",
    }
}
