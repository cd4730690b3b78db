//! Inventory: the built-in stock ledger (levels, reservations, their expiry), as the workflow
//! uses it, and the consumer of `inventory.command.*` messages through which a warehouse system
//! pushes stock levels.

mod commands;
mod reservations;
mod service;
mod store;

pub use commands::subscription;
pub use reservations::{Reservation, ReservationLine};
pub use service::{Change, Inventory};
pub use store::{Error, StockLevel, StockStore};
