//! Analytics: the read model of order transitions (per shop and day, time to ship, SLA
//! breaches), fed by the bus.

mod consumer;
mod store;

pub use consumer::{TransitionMessage, subscription};
pub use store::{
    AnalyticsStore, AtRisk, Percentiles, ShopDay, SlaBreaches, Summary, TransitionRecord,
};
