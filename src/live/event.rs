//! What the live stream says about one audit event.

use chrono::{DateTime, FixedOffset};
use serde::Serialize;

use crate::journal::Change;

/// The kinds of event a client may ask for (`?types=order,dead_letter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Any change to an order: its status, stage and version after it.
    Order,
    /// A workflow step gave up on an order (its attempts are spent, or the answer was final)
    /// and put it in `exception`: a new dead letter.
    DeadLetter,
    /// A bulk job's progress (no id: progress is not in the log; fetch the job on reconnect).
    BulkJob,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Order, Kind::DeadLetter, Kind::BulkJob];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Order => "order",
            Kind::DeadLetter => "dead_letter",
            Kind::BulkJob => "bulk_job",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }
}

/// Where a bulk job stands, as its runner reports after each batch.
#[derive(Debug, Clone, Serialize)]
pub struct JobProgress {
    pub job_id: i64,
    /// The creating key's shop; `None` for an admin's job.
    pub shop_id: Option<String>,
    pub action: &'static str,
    pub state: &'static str,
    pub total: i64,
    pub processed: i64,
    pub succeeded: i64,
    pub failed: i64,
}

/// One event of the stream: its id is the log position.
#[derive(Debug, Clone, Serialize)]
pub struct LiveEvent {
    #[serde(skip)]
    pub kind: Kind,
    pub position: i64,
    pub order_id: String,
    pub shop_id: String,
    /// The audit event's kind: `status_changed`, `stage_changed`, `tagged`, …
    pub event: String,
    pub status: String,
    pub stage: String,
    pub version: i64,
    pub cause: String,
    /// When the change was committed.
    pub at: DateTime<FixedOffset>,
}

impl LiveEvent {
    /// The stream's events for one audit event: an `order` event always, and a `dead_letter`
    /// event too when a workflow step put the order in `exception`.
    pub fn of(change: Change) -> impl Iterator<Item = LiveEvent> {
        let dead_letter = change.kind == "stage_changed"
            && change.stage == "exception"
            && change.cause.starts_with("rule:")
            && change.cause != "rule:rules/choose";
        let order = LiveEvent {
            kind: Kind::Order,
            position: change.position,
            order_id: change.order_id,
            shop_id: change.shop_id,
            event: change.kind,
            status: change.status,
            stage: change.stage,
            version: change.version,
            cause: change.cause,
            at: change.at,
        };
        let letter = dead_letter.then(|| LiveEvent {
            kind: Kind::DeadLetter,
            ..order.clone()
        });
        std::iter::once(order).chain(letter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(kind: &str, stage: &str, cause: &str) -> Change {
        Change {
            position: 7,
            order_id: "1".into(),
            shop_id: "2".into(),
            version: 3,
            kind: kind.into(),
            status: "AWAITING_SHIPMENT".into(),
            stage: stage.into(),
            cause: cause.into(),
            at: chrono::Utc::now().fixed_offset(),
        }
    }

    #[test]
    fn a_step_that_puts_an_order_in_exception_is_a_dead_letter_too() {
        let kinds = |c| LiveEvent::of(c).map(|e| e.kind).collect::<Vec<_>>();
        assert_eq!(
            kinds(change("stage_changed", "exception", "rule:standard/ship")),
            [Kind::Order, Kind::DeadLetter]
        );
        // A person, the rules' own choice, or another stage: an order event only.
        for c in [
            change("stage_changed", "exception", "user:ops"),
            change("stage_changed", "exception", "rule:rules/choose"),
            change("stage_changed", "shipped", "rule:standard/ship"),
        ] {
            assert_eq!(kinds(c), [Kind::Order]);
        }
    }
}
