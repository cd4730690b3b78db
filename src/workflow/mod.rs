//! The workflow engine: templates (TOML) of steps with CEL conditions, chosen per order by rules.

pub mod condition;
pub mod template;

pub use condition::{Condition, Facts};
pub use template::{Action, Catalog, LoadError, Retry, Step, Template};
