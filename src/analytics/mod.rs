//! Analytics: the read model of order transitions (per shop and day, time to ship, SLA
//! breaches), read from the log.

mod store;

pub use store::{AnalyticsStore, AtRisk, Percentiles, ShopDay, SlaBreaches, Summary};
