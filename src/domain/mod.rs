//! Pure domain types and rules: no async, no I/O, no actix, no sea-orm. Wire types convert into
//! these once, at the edge, and everything inside speaks them.

mod address;
mod api_key;
mod cause;
mod deadline;
mod detail;
pub mod flag;
mod invalid;
mod item;
mod lifecycle;
mod money;
mod order;
mod packing;
pub mod request;
pub mod search;
pub(crate) mod serde_text;
mod shipment;
mod shop;
mod stage;
mod status;
mod stock;
mod tag;

pub use address::Address;
pub use api_key::{ApiKey, KeyHash, Role, Scope};
pub use cause::Cause;
pub use deadline::{Deadline, Milestone};
pub use detail::{Detail, Payment};
pub use flag::Rollout;
pub use invalid::Invalid;
pub use item::{LineItem, Sku, quantities};
pub use lifecycle::{
    AfterSale, AfterSaleKind, Decision, Effect, Event, IgnoreReason, Msg, Rejection, Transition,
    decide,
};
pub use money::{Currency, Money};
pub use order::{Applied, Order, OrderId, SLOTS, slot_of, slot_of_hash, stable_hash};
pub use packing::{NO_DETAIL, PackLine, hold_back, pick_list, slip_lines};
pub use request::{AWAITING_SELLER, Answer, RejectReason};
pub use search::Search;
pub use shipment::{ShipmentProvider, ShipmentState};
pub use shop::{ShopId, ShopName};
pub use stage::Stage;
pub use status::{Change, OrderStatus};
pub use stock::{Level, LowStock, ReservationState, low_stock};
pub use tag::Tag;

#[cfg(test)]
mod properties;
