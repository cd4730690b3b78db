//! A workflow run as a pure state machine, as orders are: given the run's state, what its order
//! says and the template, [`gate`] decides what the run does next; given what an attempt at a
//! step came to, [`after`] decides where the run goes, what is recorded and how the order's
//! stage moves. No I/O, no clock, no randomness: the runner (`runner.rs`) passes the time and
//! the jitter in, carries out the actions, and writes them.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::template::Step;
use crate::domain::{Invalid, OrderStatus, Stage};

/// How long a run waiting on its order (held, unpaid) waits before it looks again.
pub const RECHECK: Duration = Duration::from_secs(1);

/// How long a run waiting for stock waits before it looks again by itself. A restock or a
/// released reservation of its SKU wakes it at once; this covers changes made behind the
/// daemon's back, and a wake that failed after its change committed (logged; the change
/// stands). The stock actors batch the looks, so it is cheap.
pub const STOCK_RECHECK: Duration = Duration::from_secs(10);

/// The longest backoff between two attempts of a step.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// A run's status, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Steps remain; the pending one is due at `next_at`.
    Running,
    /// Its order is on hold or in exception; it looks again at `next_at`.
    Held,
    /// Its stock reservation found too few units of the SKU in `waiting_for`: it waits, not
    /// failed, until a restock or a released reservation of that SKU wakes it.
    Waiting,
    Completed,
    /// Its order was cancelled (what it held was compensated).
    Cancelled,
    /// A step exhausted its attempts: a dead letter, replayable.
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Held => "held",
            Status::Waiting => "waiting",
            Status::Completed => "completed",
            Status::Cancelled => "cancelled",
            Status::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        Ok(match raw {
            "running" => Status::Running,
            "held" => Status::Held,
            "waiting" => Status::Waiting,
            "completed" => Status::Completed,
            "cancelled" => Status::Cancelled,
            "failed" => Status::Failed,
            other => {
                return Err(Invalid::new(
                    "run status",
                    format!("unknown status `{other}`"),
                ));
            }
        })
    }

    /// Whether the scheduler still looks at the run.
    pub fn is_open(self) -> bool {
        matches!(self, Status::Running | Status::Held | Status::Waiting)
    }
}

/// What a step's record says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Done,
    /// Its `when` condition was false.
    Skipped,
    /// It exhausted its attempts: the dead letter.
    Dead,
    /// A dead letter an operator sent back; the step runs again.
    Replayed,
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Done => "done",
            StepStatus::Skipped => "skipped",
            StepStatus::Dead => "dead",
            StepStatus::Replayed => "replayed",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        Ok(match raw {
            "done" => StepStatus::Done,
            "skipped" => StepStatus::Skipped,
            "dead" => StepStatus::Dead,
            "replayed" => StepStatus::Replayed,
            other => {
                return Err(Invalid::new(
                    "step status",
                    format!("unknown status `{other}`"),
                ));
            }
        })
    }
}

/// The part of a run the decisions read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct State {
    /// Index of the pending step.
    pub step: usize,
    /// Failed attempts of the pending step so far (for a wait: 1 once it is waiting).
    pub attempts: u32,
}

/// What the run does now, from its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// The order was cancelled: compensate (release stock, void an unused label), then end.
    Compensate,
    /// The order is on hold or in exception: wait, held, and look again after [`RECHECK`].
    Hold,
    /// TikTok does not let the order be fulfilled (UNPAID, ON_HOLD): look again later.
    AwaitOrder,
    /// Every step is done.
    Complete,
    /// Attempt the pending step.
    Attempt(usize),
}

/// Decides what a run in `state` does, given its order's stage and status and how many steps
/// its template has.
pub fn gate(state: State, stage: Stage, status: &OrderStatus, steps: usize) -> Gate {
    match stage {
        Stage::Cancelled => return Gate::Compensate,
        Stage::OnHold | Stage::Exception => return Gate::Hold,
        _ => {}
    }
    if !status.lets_fulfilment_go_on() {
        return Gate::AwaitOrder;
    }
    if state.step >= steps {
        return Gate::Complete;
    }
    Gate::Attempt(state.step)
}

/// What an attempt at a step came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The action did its work (with a note for the record).
    Done(Option<String>),
    /// The step waits until then (a `wait` step, or an action that must wait).
    WaitUntil(DateTime<Utc>),
    /// Its `when` condition was false.
    Skipped(String),
    /// It failed; worth another attempt unless the step's attempts are spent.
    Failed(String),
    /// It failed in a way no retry mends: a dead letter at once.
    Refused(String),
    /// Too few units of `sku` to reserve `units` (`reason` says how many there are): wait for
    /// stock.
    Short {
        sku: String,
        units: i64,
        reason: String,
    },
}

/// Where the run goes after an attempt, and what comes with it.
#[derive(Debug, Clone, PartialEq)]
pub struct After {
    /// The step's record, if the step is over (done, skipped or dead).
    pub record: Option<(StepStatus, u32, Option<String>)>,
    pub status: Status,
    pub step: usize,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub next_at: DateTime<Utc>,
    /// The stage the order moves to, and why.
    pub stage: Option<(Stage, Option<String>)>,
    /// The SKU the run now waits for and the units it needs (status [`Status::Waiting`]).
    pub waiting_for: Option<(String, i64)>,
}

/// Decides what follows `attempt` at `step` (the run's pending one) at `now`; `jitter` in
/// `[0, 1)` spreads retries (up to a quarter of the backoff). `template` names the run's
/// template, for the exception's reason.
pub fn after(
    state: State,
    template: &str,
    step: &Step,
    attempt: Attempt,
    now: DateTime<Utc>,
    jitter: f64,
) -> After {
    let next = |record, stage| After {
        record: Some(record),
        status: Status::Running,
        step: state.step + 1,
        attempts: 0,
        last_error: None,
        next_at: now,
        stage,
        waiting_for: None,
    };
    match attempt {
        Attempt::Done(note) => next(
            (StepStatus::Done, state.attempts + 1, note),
            step.action.stage_after().map(|s| (s, None)),
        ),
        Attempt::Skipped(why) => next((StepStatus::Skipped, 0, Some(why)), None),
        Attempt::WaitUntil(until) => After {
            record: None,
            status: Status::Running,
            step: state.step,
            attempts: 1,
            last_error: None,
            next_at: until,
            stage: None,
            waiting_for: None,
        },
        // Not a failure: the attempts stay as they were, nothing is retried blindly and nothing
        // dead-letters; the order keeps its stage.
        Attempt::Short { sku, units, reason } => After {
            record: None,
            status: Status::Waiting,
            step: state.step,
            attempts: state.attempts,
            last_error: Some(format!("waiting for stock: {reason}")),
            next_at: now + TimeDelta::from_std(STOCK_RECHECK).expect("seconds"),
            stage: None,
            waiting_for: Some((sku, units)),
        },
        Attempt::Failed(reason) if state.attempts + 1 < step.retry.max_attempts => {
            let attempts = state.attempts + 1;
            After {
                record: None,
                status: Status::Running,
                step: state.step,
                attempts,
                last_error: Some(reason),
                next_at: now + backoff(step.retry.backoff, attempts, jitter),
                stage: None,
                waiting_for: None,
            }
        }
        Attempt::Failed(reason) | Attempt::Refused(reason) => {
            let attempts = state.attempts + 1;
            let why = format!(
                "workflow {template} step {} failed after {attempts} {}: {reason}",
                step.name,
                if attempts == 1 { "attempt" } else { "attempts" }
            );
            After {
                record: Some((StepStatus::Dead, attempts, Some(reason.clone()))),
                status: Status::Failed,
                step: state.step,
                attempts,
                last_error: Some(reason),
                next_at: now,
                stage: Some((Stage::Exception, Some(why))),
                waiting_for: None,
            }
        }
    }
}

/// The wait before attempt `attempts + 1`: `base` doubled per failed attempt, plus up to a
/// quarter for `jitter`, at most an hour.
pub fn backoff(base: Duration, attempts: u32, jitter: f64) -> TimeDelta {
    let doubled = base.as_secs_f64() * 2f64.powi(attempts.saturating_sub(1) as i32);
    let seconds = (doubled * (1.0 + jitter.clamp(0.0, 1.0) * 0.25)).min(MAX_BACKOFF.as_secs_f64());
    TimeDelta::from_std(Duration::from_secs_f64(seconds)).expect("at most an hour")
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::workflow::template::{Action, Retry};

    fn step(action: Action, max_attempts: u32) -> Step {
        Step {
            name: "s".into(),
            action,
            when: None,
            retry: Retry {
                max_attempts,
                backoff: Duration::from_secs(10),
                timeout: Duration::from_secs(30),
            },
        }
    }

    fn at(step: usize, attempts: u32) -> State {
        State { step, attempts }
    }

    #[test]
    fn a_refusal_no_retry_mends_is_dead_lettered_at_the_first_attempt() {
        let now = Utc::now();
        let after = after(
            at(1, 0),
            "t",
            &step(Action::Ship, 5),
            Attempt::Refused("no label API is configured".into()),
            now,
            0.0,
        );
        assert_eq!(after.status, Status::Failed);
        assert_eq!(after.attempts, 1, "one attempt of five was enough to know");
        assert_eq!(
            after.record,
            Some((
                StepStatus::Dead,
                1,
                Some("no label API is configured".into())
            ))
        );
        assert_eq!(
            after.stage,
            Some((
                Stage::Exception,
                Some("workflow t step s failed after 1 attempt: no label API is configured".into())
            ))
        );
    }

    #[test]
    fn the_order_gates_the_run_before_any_step() {
        let paid = OrderStatus::AwaitingShipment;
        assert_eq!(gate(at(0, 0), Stage::Cancelled, &paid, 3), Gate::Compensate);
        assert_eq!(gate(at(1, 0), Stage::OnHold, &paid, 3), Gate::Hold);
        assert_eq!(gate(at(1, 0), Stage::Exception, &paid, 3), Gate::Hold);
        for unpaid in [OrderStatus::Unpaid, OrderStatus::OnHold] {
            assert_eq!(
                gate(at(0, 0), Stage::Validated, &unpaid, 3),
                Gate::AwaitOrder
            );
        }
        assert_eq!(gate(at(1, 0), Stage::Validated, &paid, 3), Gate::Attempt(1));
        assert_eq!(gate(at(3, 0), Stage::Shipped, &paid, 3), Gate::Complete);
        // Shipped on TikTok's side already: the remaining steps still run.
        let sent = OrderStatus::InTransit;
        assert_eq!(gate(at(2, 0), Stage::InTransit, &sent, 3), Gate::Attempt(2));
    }

    #[test]
    fn a_done_step_moves_the_run_on_and_the_order_to_its_stage() {
        let now = Utc::now();
        let after = after(
            at(1, 2),
            "standard",
            &step(Action::Ship, 5),
            Attempt::Done(None),
            now,
            0.0,
        );
        assert_eq!(after.record, Some((StepStatus::Done, 3, None)));
        assert_eq!(
            (after.status, after.step, after.attempts),
            (Status::Running, 2, 0)
        );
        assert_eq!(after.stage, Some((Stage::Shipped, None)));
    }

    #[test]
    fn a_false_condition_skips_the_step_without_moving_the_order() {
        let now = Utc::now();
        let after = after(
            at(0, 0),
            "standard",
            &step(Action::ReserveStock, 5),
            Attempt::Skipped("`x` is false".into()),
            now,
            0.0,
        );
        assert_eq!(after.record.unwrap().0, StepStatus::Skipped);
        assert_eq!(after.step, 1);
        assert_eq!(after.stage, None);
    }

    #[test]
    fn a_wait_keeps_the_step_and_marks_it_waiting() {
        let now = Utc::now();
        let until = now + TimeDelta::hours(2);
        let wait = step(
            Action::Wait(crate::workflow::template::Wait::For(Duration::from_secs(
                7200,
            ))),
            1,
        );
        let after = after(at(4, 0), "drop", &wait, Attempt::WaitUntil(until), now, 0.0);
        assert_eq!((after.step, after.attempts, after.next_at), (4, 1, until));
        assert_eq!(after.record, None);
    }

    #[test]
    fn short_stock_waits_for_the_sku_without_spending_an_attempt_or_failing_the_order() {
        let now = Utc::now();
        let after = after(
            at(1, 2),
            "standard",
            &step(Action::ReserveStock, 3),
            Attempt::Short {
                sku: "1729382256910270000".into(),
                units: 1,
                reason: "0 available, 1 wanted".into(),
            },
            now,
            0.0,
        );
        assert_eq!(after.status, Status::Waiting);
        assert_eq!(
            (after.step, after.attempts),
            (1, 2),
            "the third attempt is still there"
        );
        assert_eq!(after.record, None, "no dead letter");
        assert_eq!(after.stage, None, "the order is not put in exception");
        assert_eq!(
            after.waiting_for,
            Some(("1729382256910270000".to_owned(), 1))
        );
        assert_eq!(
            after.last_error.as_deref(),
            Some("waiting for stock: 0 available, 1 wanted")
        );
        assert_eq!(after.next_at, now + TimeDelta::seconds(10));
        assert!(after.status.is_open());
    }

    #[test]
    fn the_last_failed_attempt_is_a_dead_letter_and_the_order_an_exception() {
        let now = Utc::now();
        let after = after(
            at(2, 2),
            "standard",
            &step(Action::BuyLabel, 3),
            Attempt::Failed("carrier down".into()),
            now,
            0.5,
        );
        assert_eq!(after.status, Status::Failed);
        assert_eq!(
            after.record,
            Some((StepStatus::Dead, 3, Some("carrier down".into())))
        );
        let (stage, why) = after.stage.unwrap();
        assert_eq!(stage, Stage::Exception);
        assert!(
            why.unwrap()
                .contains("workflow standard step s failed after 3 attempts: carrier down")
        );
    }

    proptest! {
        #[test]
        fn a_failed_attempt_with_attempts_left_retries_later_with_a_doubling_bounded_backoff(
            attempts in 0u32..30,
            jitter in 0.0f64..1.0,
        ) {
            let now = Utc::now();
            let max = 31;
            let after = after(at(1, attempts), "t", &step(Action::Ship, max), Attempt::Failed("e".into()), now, jitter);
            prop_assert_eq!(after.status, Status::Running);
            prop_assert_eq!((after.step, after.attempts), (1, attempts + 1));
            prop_assert_eq!(after.record, None);
            let wait = (after.next_at - now).to_std().unwrap();
            let base = 10.0 * 2f64.powi(attempts as i32);
            prop_assert!(wait.as_secs_f64() >= base.min(3600.0) - 1e-6);
            prop_assert!(wait.as_secs_f64() <= (base * 1.25).min(3600.0) + 1e-6);
        }

        #[test]
        fn every_failure_ends_in_a_retry_or_a_dead_letter_never_a_move_forward(
            attempts in 0u32..10,
            max in 1u32..10,
        ) {
            let after = after(at(0, attempts), "t", &step(Action::ReserveStock, max), Attempt::Failed("e".into()), Utc::now(), 0.0);
            prop_assert_eq!(after.step, 0);
            let dead = attempts + 1 >= max;
            prop_assert_eq!(after.status == Status::Failed, dead);
            prop_assert_eq!(after.stage.is_some(), dead);
        }
    }
}
