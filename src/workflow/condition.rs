//! Conditions: CEL expressions (the `cel-interpreter` crate) over an order's facts, compiled once
//! when the templates load. Money is exposed in integer minor units, never as a float.

use std::collections::HashMap;

use cel_interpreter::{Context, Program, Value};
use serde::Serialize;

/// What a condition can see of an order, as `order.<field>`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Facts {
    pub id: String,
    pub shop_id: String,
    pub status: String,
    pub stage: String,
    pub currency: String,
    /// `total_amount` in minor units (cents); 0 before the detail arrived.
    pub total_minor: i64,
    pub sub_total_minor: i64,
    pub skus: Vec<String>,
    pub quantities: HashMap<String, i64>,
    pub units: i64,
    /// The recipient's `region_code` (e.g. "US"); empty when masked or unknown.
    pub region: String,
    pub tags: Vec<String>,
    pub buyer_message: String,
    pub order_type: String,
    pub shipping_type: String,
    /// Seconds until TikTok's `rts_sla_time` (negative once late; a large number when unknown).
    pub sla_seconds_left: i64,
}

/// A compiled condition with its source, for messages.
pub struct Condition {
    source: String,
    program: Program,
}

impl std::fmt::Debug for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Condition({:?})", self.source)
    }
}

/// Why a condition cannot be compiled or decided; the message is fit to show the template's
/// author.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Compile(String),
    #[error("{0}")]
    Evaluate(String),
}

impl Condition {
    /// Compiles `source`; the error is fit to show the author.
    pub fn compile(source: &str) -> Result<Self, Error> {
        // cel-parser 0.10's ANTLR runtime panics on some malformed input (e.g. `a >`) instead of
        // returning an error; a bad template must fail with a message, not take the daemon down.
        let compiled = std::panic::catch_unwind(|| Program::compile(source)).map_err(|_| {
            Error::Compile(format!("`{source}` is not valid CEL: it does not parse"))
        })?;
        let program =
            compiled.map_err(|e| Error::Compile(format!("`{source}` is not valid CEL: {e}")))?;
        let refs = program.references();
        for variable in refs.variables() {
            if !matches!(variable, "order" | "vars") {
                return Err(Error::Compile(format!(
                    "`{source}` uses `{variable}`; conditions see only `order` and `vars`"
                )));
            }
        }
        Ok(Self {
            source: source.to_owned(),
            program,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// True, false, or why it could not be decided (a missing field, a type mismatch, a
    /// result that is not a boolean).
    pub fn holds(&self, facts: &Facts, vars: &HashMap<String, i64>) -> Result<bool, Error> {
        let mut context = Context::default();
        context
            .add_variable("order", facts)
            .map_err(|e| Error::Evaluate(format!("cannot expose the order: {e}")))?;
        context
            .add_variable("vars", vars)
            .map_err(|e| Error::Evaluate(format!("cannot expose vars: {e}")))?;
        match self.program.execute(&context) {
            Ok(Value::Bool(b)) => Ok(b),
            Ok(other) => Err(Error::Evaluate(format!(
                "`{}` gave {other:?}, not true or false",
                self.source
            ))),
            Err(e) => Err(Error::Evaluate(format!("`{}` failed: {e}", self.source))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        Facts {
            status: "AWAITING_SHIPMENT".into(),
            currency: "USD".into(),
            total_minor: 60_000,
            skus: vec!["A".into(), "B".into()],
            quantities: HashMap::from([("A".into(), 2), ("B".into(), 1)]),
            units: 3,
            region: "US".into(),
            order_type: "NORMAL".into(),
            ..Facts::default()
        }
    }

    #[test]
    fn conditions_see_the_order_and_vars() {
        let vars = HashMap::from([("high_value_minor".to_owned(), 50_000)]);
        for (source, expected) in [
            ("order.total_minor >= vars.high_value_minor", true),
            (
                "order.status == 'AWAITING_SHIPMENT' && order.region == 'US'",
                true,
            ),
            ("'A' in order.skus && order.quantities['A'] == 2", true),
            ("order.units > 3", false),
            ("order.order_type == 'PRE_ORDER'", false),
        ] {
            let condition = Condition::compile(source).unwrap();
            assert_eq!(condition.holds(&facts(), &vars), Ok(expected), "{source}");
        }
    }

    #[test]
    fn bad_conditions_say_why() {
        assert!(
            matches!(Condition::compile("order.total_minor >"), Err(Error::Compile(m)) if m.contains("not valid CEL"))
        );
        assert!(
            matches!(Condition::compile("customer.vip"), Err(Error::Compile(m)) if m.contains("only `order` and `vars`"))
        );
        let not_bool = Condition::compile("order.total_minor").unwrap();
        assert!(
            matches!(not_bool.holds(&facts(), &HashMap::new()), Err(Error::Evaluate(m)) if m.contains("not true or false"))
        );
        let missing = Condition::compile("order.nope == 1").unwrap();
        assert!(missing.holds(&facts(), &HashMap::new()).is_err());
    }
}
