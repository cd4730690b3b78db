//! `pickList`: each SKU's units over the orders a search matches that may leave now, and the
//! orders held back with why (what `GET /api/v1/pick-list` answers).

use async_graphql::{ID, SimpleObject};

use crate::http::pick_list::PickList as Computed;

/// What to take off the shelves.
#[derive(SimpleObject)]
pub struct PickList {
    /// Orders that may leave now (their units are on the list).
    orders: u64,
    units: u32,
    /// Sorted by the code a picker looks for (the seller's SKU code, else TikTok's SKU id).
    lines: Vec<PickLine>,
    held_back: Vec<HeldBack>,
}

/// Units of one SKU.
#[derive(SimpleObject)]
pub struct PickLine {
    sku_id: String,
    /// The seller's own code for the SKU, when TikTok has one.
    seller_sku: Option<String>,
    /// The product and its variant.
    product: String,
    units: u32,
}

/// An order that must not leave now, and why.
#[derive(SimpleObject)]
pub struct HeldBack {
    order_id: ID,
    reason: String,
}

impl From<Computed> for PickList {
    fn from(list: Computed) -> Self {
        Self {
            orders: list.orders as u64,
            units: list.units(),
            lines: list
                .lines
                .into_iter()
                .map(|line| PickLine {
                    sku_id: line.sku.as_str().to_owned(),
                    seller_sku: line.seller_sku,
                    product: line.product,
                    units: line.units,
                })
                .collect(),
            held_back: list
                .held_back
                .into_iter()
                .map(|(order, reason)| HeldBack {
                    order_id: ID(order.as_str().to_owned()),
                    reason,
                })
                .collect(),
        }
    }
}
