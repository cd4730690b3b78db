//! The workflow engine: templates (TOML) of steps with CEL conditions, chosen per order by rules.

pub mod actions;
pub mod condition;
pub mod run;
pub mod runner;
pub mod simulate;
pub mod template;

pub use condition::{Condition, Facts};
pub use runner::Runner;
pub use template::{Action, Catalog, Retry, Step, Template};
