//! Runs workflows durably. The starter, the log's subscription `workflow.start`, turns
//! `workflow.start` effects (committed with the order change that made it fulfillable) into runs
//! (one per order: a repeated start is a no-op); the scheduler takes due runs most urgent first
//! (TikTok's `rts_sla_time`), executes the pending step with its timeout, and writes the outcome
//! with the run's next position in one transaction — so after a crash a run resumes at its
//! pending step, and a step recorded done is never executed again.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use metrics::{counter, histogram};
use tokio::sync::Semaphore;

use super::actions::{Executed, Executor};
use super::template::{Action, Catalog, Wait};
use super::{Facts, run};
use crate::actors::{Envelope, RegistryHandle};
use crate::cluster::Membership;
use crate::domain::{Cause, Effect, Msg, OrderId, ShopId, Stage};
use crate::flags::Flags;
use crate::journal::Tail;
use crate::journal::{Consumer, Entry};
use crate::persistence::workflows::{NewRun, Position, Run, StepOutcome};
use crate::persistence::{self, Database, OrderRecord};
use crate::shutdown::{Stop, Tasks};
use crate::telemetry::metrics::{
    WORKFLOW_DEAD_LETTERS_TOTAL, WORKFLOW_RETRIES_TOTAL, WORKFLOW_RUNS_TOTAL,
    WORKFLOW_STEP_OVERHEAD_SECONDS, WORKFLOW_STEP_SECONDS, WORKFLOW_TIME_TO_SHIP_SECONDS,
};

pub const START: &str = "workflow.start";

#[derive(Clone)]
pub struct Runner {
    inner: Arc<Inner>,
}

struct Inner {
    catalog: Arc<Catalog>,
    flags: Flags,
    db: Database,
    registry: RegistryHandle,
    executor: Executor,
    concurrency: usize,
    /// Per action kind, where `workflow.action_concurrency` limits it.
    limits: HashMap<&'static str, Arc<Semaphore>>,
}

/// The starter as the log's subscription `workflow.start`.
struct Starting(Runner);

impl Consumer for Starting {
    async fn consume(&mut self, entries: &[Entry]) -> Result<(), persistence::Error> {
        let ids = entries
            .iter()
            .flat_map(|e| e.effects.iter())
            .filter(|p| p.routing_key == START)
            .filter_map(|p| match p.effect() {
                Ok(Effect::StartFulfilment { order_id, .. }) => Some(order_id),
                other => {
                    tracing::error!(
                        ?other,
                        "a workflow.start entry that starts nothing; skipped"
                    );
                    None
                }
            })
            .collect();
        self.0.start_runs(ids, &[]).await
    }

    async fn owed(&mut self) -> Result<(), persistence::Error> {
        self.0.start_owed().await.map(|_| ())
    }
}

/// Wakes an order's run when the order is cancelled, so compensation (releasing stock,
/// voiding an unused label) happens now rather than when a waiting step comes due.
pub fn wake_subscription(db: Database) -> crate::bus::Subscription {
    crate::bus::Subscription::new(
        "workflow",
        &["order.transition.cancelled"],
        move |d: crate::bus::Delivery| {
            let db = db.clone();
            async move {
                let order_id = serde_json::from_slice::<serde_json::Value>(&d.body)
                    .ok()
                    .and_then(|v| {
                        v.get("order_id")
                            .and_then(|o| o.as_str())
                            .map(str::to_owned)
                    })
                    .ok_or_else(|| crate::bus::Failure::Poison("no order_id".into()))?;
                db.runs()
                    .wake(&order_id)
                    .await
                    .map(|_| ())
                    .map_err(|e| crate::bus::Failure::Retry(e.to_string()))
            }
        },
    )
}

/// Exports the runner's series at zero, whether workflows run or not: the alert on the failure
/// ratio needs both series before the first failure, and the board lists dead letters by action.
pub fn register_metrics() {
    for outcome in ["started", "completed", "failed", "cancelled"] {
        counter!(WORKFLOW_RUNS_TOTAL, "outcome" => outcome).increment(0);
    }
    for kind in Action::KINDS {
        counter!(WORKFLOW_DEAD_LETTERS_TOTAL, "action" => kind).increment(0);
    }
}

impl Runner {
    /// A runner of `catalog`'s templates (those behind a flag only for the shops `flags` give
    /// it) whose steps `executor` carries out.
    pub fn new(
        catalog: Arc<Catalog>,
        flags: Flags,
        executor: Executor,
        settings: &crate::config::WorkflowSettings,
    ) -> Self {
        let limits = Action::KINDS
            .iter()
            .filter_map(|kind| {
                let limit = *settings.action_concurrency.get(*kind)?;
                Some((*kind, Arc::new(Semaphore::new(limit))))
            })
            .collect();
        Self {
            inner: Arc::new(Inner {
                catalog,
                flags,
                db: executor.db.clone(),
                registry: executor.registry.clone(),
                executor,
                concurrency: settings.concurrency,
                limits,
            }),
        }
    }

    pub fn catalog(&self) -> &Catalog {
        &self.inner.catalog
    }

    /// Starts the starter and the scheduler in `tasks`. On stop the scheduler finishes its
    /// round (a round cut short would execute its steps again after the restart) and the
    /// starter saves its checkpoint.
    pub fn start(&self, tasks: &mut Tasks) {
        let (starter, scheduler) = (self.clone(), self.clone());
        let committed = self.inner.registry.committed();
        tasks.spawn("workflow starter", move |stop| async move {
            starter.run_starter(committed, stop).await
        });
        tasks.spawn("workflow scheduler", move |mut stop| async move {
            loop {
                let pause = match scheduler.run_due().await {
                    Ok(0) => Duration::from_millis(50),
                    Ok(_) => Duration::ZERO,
                    Err(e) => {
                        tracing::warn!(error = ?anyhow::Error::from(e), "cannot run workflow steps");
                        Duration::from_secs(1)
                    }
                };
                if stop.sleep(pause).await {
                    return;
                }
            }
        });
    }

    /// Tails the log for `workflow.start` effects, and once a second starts what the outbox
    /// still owes from before the log.
    async fn run_starter(&self, committed: crate::journal::Watermark, mut stop: Stop) {
        let db = &self.inner.db;
        // Starts wait at most 100 ms, to be chosen and written together.
        let every = Duration::from_millis(100);
        let Some(tail) = Tail::open_or_stop(db, START, &committed, every, &mut stop).await else {
            return;
        };
        tail.follow(500, &mut Starting(self.clone()), &mut stop)
            .await;
    }

    /// Starts a run for each `workflow.start` the outbox still owes (a few hundred at a time);
    /// returns how many requests were handled.
    pub async fn start_owed(&self) -> Result<usize, persistence::Error> {
        let rows = self.inner.db.outbox().pending(START, 500).await?;
        let ids = rows
            .iter()
            .filter_map(|row| OrderId::parse(row.payload.get("order_id")?.as_str()?).ok())
            .collect();
        let done: Vec<i64> = rows.iter().map(|row| row.id).collect();
        self.start_runs(ids, &done).await?;
        Ok(done.len())
    }

    /// Starts a run for each of `order_ids` that has none: their orders read in one go, the
    /// rules choose each one's template, the runs written in one commit (with the outbox rows
    /// `done`, if they came from there, deleted).
    async fn start_runs(
        &self,
        order_ids: Vec<OrderId>,
        done: &[i64],
    ) -> Result<(), persistence::Error> {
        if order_ids.is_empty() && done.is_empty() {
            return Ok(());
        }
        let db = &self.inner.db;
        let ids: Vec<&str> = order_ids.iter().map(OrderId::as_str).collect();
        let views = db.orders().details(&ids).await?;
        let mut runs = Vec::with_capacity(views.len());
        for order_id in &order_ids {
            let Some(view) = views.get(order_id) else {
                continue;
            };
            let flags = &self.inner.flags;
            match self
                .inner
                .catalog
                .choose(&facts(view), &|flag, shop| flags.on(flag, shop))
            {
                Ok(Some(template)) => runs.push(NewRun {
                    order_id: order_id.clone(),
                    shop_id: view.order.shop_id.clone(),
                    template: template.name.clone(),
                    rts_sla_time: view.detail.as_ref().and_then(|d| d.rts_sla_time),
                }),
                Ok(None) => {
                    tracing::info!(%order_id, "no workflow rule matches; nothing to run")
                }
                Err(reason) => {
                    let why = format!("no workflow could be chosen: {reason}");
                    self.progress(order_id, Stage::Exception, Some(why), Cause::rules_choice())
                        .await;
                }
            }
        }
        let started = db.runs().start(&runs, done).await?;
        counter!(WORKFLOW_RUNS_TOTAL, "outcome" => "started").increment(started);
        tracing::debug!(started, "workflows started");
        Ok(())
    }

    /// Executes the pending step of every due run (up to `workflow.concurrency` at once). A
    /// round reads its orders in one go, runs the steps concurrently, then hands the stage moves
    /// they caused to the orders' actors together (one group commit) and writes every outcome
    /// with its run's next position in one transaction.
    pub async fn run_due(&self) -> Result<usize, persistence::Error> {
        let round = Instant::now();
        let db = &self.inner.db;
        // A cluster node runs only the runs of the slots it holds, and records their steps
        // only while it still holds them.
        let watermark = self.inner.registry.committed();
        let membership = watermark.fence();
        let held = membership.map(Membership::held);
        let slots: Option<Vec<i16>> = held
            .as_ref()
            .map(|held| held.iter().map(|(slot, _)| *slot).collect());
        if slots.as_ref().is_some_and(Vec::is_empty) {
            return Ok(0);
        }
        let limit = self.inner.concurrency as u64;
        let runs = db.runs().due(limit, slots.as_deref()).await?;
        if runs.is_empty() {
            return Ok(0);
        }
        let ids: Vec<&str> = runs.iter().map(|r| r.order_id.as_str()).collect();
        let views = db.orders().details(&ids).await?;
        let mut shared = round.elapsed();
        let count = runs.len();
        let sink = Sink::default();
        let steps = runs
            .into_iter()
            .map(|run| {
                let view = views.get(&run.order_id);
                self.advance(run, view, &sink)
            })
            .collect::<Vec<_>>();
        let results = futures_util::future::join_all(steps).await;
        let closing = Instant::now();
        let Round {
            moves,
            stages,
            short,
        } = sink.take();
        let stage_moves = stages
            .into_iter()
            .map(|(order_id, to, reason, cause)| async move {
                self.progress(&order_id, to, reason, cause).await
            });
        futures_util::future::join_all(stage_moves).await;
        let fence = membership
            .zip(held.as_deref())
            .map(|(m, held)| (m.node_id(), held));
        db.runs().advance_many(moves, fence).await?;
        // Stock freed while these runs decided they were short woke nobody (they were not
        // waiting yet): now that they are, look once more.
        for (shop, sku) in short {
            db.stock().wake(shop.as_str(), &sku).await?;
        }
        shared += closing.elapsed();
        // The engine's own time per step: what the step did outside its action, plus its share
        // of the round's reads and writes.
        let share = shared / count as u32;
        for (kind, own) in results.into_iter().flatten() {
            histogram!(WORKFLOW_STEP_OVERHEAD_SECONDS, "action" => kind)
                .record((own + share).as_secs_f64());
        }
        Ok(count)
    }

    /// Executes the run's pending step, as [`run::gate`] and [`run::after`] decide; returns the
    /// action kind and the engine's own time spent on it, if a step was executed.
    async fn advance(
        &self,
        run: Run,
        view: Option<&OrderRecord>,
        sink: &Sink,
    ) -> Option<(&'static str, Duration)> {
        let entered = Instant::now();
        let now = Utc::now();
        let position =
            |status: run::Status, step: i32, attempts: i32, last_error, next_at| Position {
                status,
                step,
                attempts,
                last_error,
                next_at,
                waiting_for: None,
            };
        let Some(template) = self.inner.catalog.template(&run.template) else {
            let why = format!("template `{}` no longer exists", run.template);
            let failed = position(run::Status::Failed, run.step, run.attempts, Some(why), now);
            sink.advance_run(run.id, None, failed);
            return None;
        };
        // A limited action kind waits its turn before anything else is awaited: the round's
        // runs are polled most urgent first and the semaphore is fair, so the most urgent goes
        // first. The wait is not engine overhead.
        let queued = Instant::now();
        let limit = template
            .steps
            .get(run.step as usize)
            .and_then(|s| self.inner.limits.get(s.action.kind()));
        let _permit = match limit {
            Some(limit) => Some(limit.clone().acquire_owned().await.expect("never closed")),
            None => None,
        };
        let waited = queued.elapsed();
        let Some(view) = view else {
            let gone = position(run::Status::Cancelled, run.step, 0, None, now);
            sink.advance_run(run.id, None, gone);
            return None;
        };
        let (order_id, stage) = (run.order_id.clone(), view.order.stage);
        let state = run::State {
            step: run.step.max(0) as usize,
            attempts: run.attempts.max(0) as u32,
        };
        let status = &view.order.status;
        let recheck = now + chrono::TimeDelta::from_std(run::RECHECK).expect("small");
        let index = match run::gate(state, stage, status, template.steps.len()) {
            run::Gate::Compensate => {
                // Nothing reserved is kept, no unused label stays bought.
                let released = self.inner.executor.compensate(view).await;
                counter!(WORKFLOW_RUNS_TOTAL, "outcome" => "cancelled").increment(1);
                let why = format!("the order was cancelled; {released}");
                let to = position(run::Status::Cancelled, run.step, 0, Some(why), now);
                sink.advance_run(run.id, None, to);
                return None;
            }
            run::Gate::Hold => {
                let to = position(run::Status::Held, run.step, run.attempts, None, recheck);
                sink.advance_run(run.id, None, to);
                return None;
            }
            run::Gate::AwaitOrder => {
                let to = position(run::Status::Running, run.step, run.attempts, None, recheck);
                sink.advance_run(run.id, None, to);
                return None;
            }
            run::Gate::Complete => {
                counter!(WORKFLOW_RUNS_TOTAL, "outcome" => "completed").increment(1);
                let to = position(run::Status::Completed, run.step, 0, None, now);
                sink.advance_run(run.id, None, to);
                return None;
            }
            run::Gate::Attempt(index) => index,
        };
        let step = &template.steps[index];
        let key = format!("run{}:{}:{}", run.id, step.name, step.action.kind());
        let cause = Cause::rule(&run.template, &step.name);
        let condition = step.when.as_ref().and_then(|when| {
            match when.holds(&facts(view), self.inner.catalog.vars()) {
                Ok(true) => None,
                Ok(false) => Some(run::Attempt::Skipped(format!(
                    "`{}` is false",
                    when.source()
                ))),
                Err(e) => Some(run::Attempt::Failed(e.to_string())),
            }
        });
        let started = Instant::now();
        let before = (started - entered).saturating_sub(waited);
        let executed = condition.is_none();
        let attempt = match condition {
            Some(attempt) => attempt,
            None => {
                let outcome = match &step.action {
                    Action::Wait(wait) => Ok(self.wait(&run, wait, view)),
                    action => match tokio::time::timeout(
                        step.retry.timeout,
                        self.inner.executor.execute(action, view, &cause),
                    )
                    .await
                    {
                        Ok(result) => result.map_err(|e| {
                            if e.is_permanent() {
                                run::Attempt::Refused(e.chain())
                            } else {
                                run::Attempt::Failed(e.chain())
                            }
                        }),
                        Err(_) => Err(run::Attempt::Failed(format!(
                            "timed out after {:?}",
                            step.retry.timeout
                        ))),
                    },
                };
                match outcome {
                    Ok(Executed::Done(detail)) => run::Attempt::Done(detail),
                    Ok(Executed::WaitUntil(until)) => run::Attempt::WaitUntil(until),
                    Ok(Executed::ShortOf { sku, units, reason }) => {
                        run::Attempt::Short { sku, units, reason }
                    }
                    Err(failed) => failed,
                }
            }
        };
        let took = started.elapsed();
        if executed {
            histogram!(WORKFLOW_STEP_SECONDS, "action" => step.action.kind())
                .record(took.as_secs_f64());
        }
        let finished = Instant::now();
        let after = run::after(
            state,
            &run.template,
            step,
            attempt,
            Utc::now(),
            rand::random(),
        );
        match (&after.record, after.status) {
            (Some((run::StepStatus::Dead, attempts, detail)), _) => {
                counter!(WORKFLOW_DEAD_LETTERS_TOTAL, "action" => step.action.kind()).increment(1);
                counter!(WORKFLOW_RUNS_TOTAL, "outcome" => "failed").increment(1);
                tracing::error!(%order_id, step = %step.name, attempts, error = ?detail, "workflow step dead-lettered");
            }
            (None, run::Status::Running) if after.last_error.is_some() => {
                counter!(WORKFLOW_RETRIES_TOTAL, "action" => step.action.kind()).increment(1);
                tracing::warn!(%order_id, step = %step.name, attempts = after.attempts, error = ?after.last_error, "workflow step failed; will retry");
            }
            (Some((run::StepStatus::Done, ..)), _) if step.action == Action::Ship => {
                let waited = (Utc::now() - run.created_at).to_std().unwrap_or_default();
                histogram!(WORKFLOW_TIME_TO_SHIP_SECONDS).record(waited.as_secs_f64());
            }
            _ => {}
        }
        let record = after.record.map(|(status, attempts, detail)| StepOutcome {
            seq: run.step,
            name: step.name.clone(),
            action: step.action.kind(),
            status,
            attempts: attempts as i32,
            idempotency_key: key.clone(),
            detail,
            duration_micros: took.as_micros() as i64,
        });
        if let Some((sku, _)) = &after.waiting_for {
            tracing::info!(%order_id, step = %step.name, %sku, "waiting for stock");
            sink.wait_for_stock(run.shop_id.clone(), sku.clone());
        }
        if let Some((stage, reason)) = after.stage {
            sink.move_stage(order_id, stage, reason, cause);
        }
        let to = Position {
            status: after.status,
            step: after.step as i32,
            attempts: after.attempts as i32,
            last_error: after.last_error,
            next_at: after.next_at,
            waiting_for: after.waiting_for,
        };
        sink.advance_run(run.id, record, to);
        // The engine's own part of the step: everything but the action itself.
        executed.then(|| (step.action.kind(), before + finished.elapsed()))
    }

    fn wait(&self, run: &Run, wait: &Wait, view: &OrderRecord) -> Executed {
        // attempts == 1 marks "already waiting": due again means the wait is over.
        if run.attempts >= 1 {
            return Executed::Done(Some("waited".into()));
        }
        let until = match wait {
            Wait::For(d) => {
                Utc::now() + chrono::TimeDelta::from_std(*d).unwrap_or(chrono::TimeDelta::MAX)
            }
            Wait::UntilReleaseDate => match view.detail.as_ref().and_then(|d| d.release_date) {
                Some(t) => match chrono::DateTime::from_timestamp(t, 0) {
                    Some(at) if at > Utc::now() => at,
                    _ => return Executed::Done(Some("the release date has passed".into())),
                },
                None => return Executed::Done(Some("the order names no release date".into())),
            },
        };
        Executed::WaitUntil(until)
    }

    /// Moves the order's stage; a move the order no longer allows (it went further on its own)
    /// is not an error.
    async fn progress(&self, order_id: &OrderId, to: Stage, reason: Option<String>, cause: Cause) {
        let envelope = Envelope {
            msg: Msg::Progress { to, reason },
            cause,
            inbox: None,
        };
        if let Err(e) = self.inner.registry.submit(order_id.clone(), envelope).await {
            tracing::debug!(order_id = %order_id, error = %e, "workflow progress not applied");
        }
    }
}

/// What one scheduling round decided: where its runs go next (written together in one
/// transaction) and the stage moves its steps caused (handed to the orders' actors together).
#[derive(Default)]
struct Round {
    moves: Vec<(i64, Option<StepOutcome>, Position)>,
    stages: Vec<(OrderId, Stage, Option<String>, Cause)>,
    /// The (shop, SKU)s some run now waits for.
    short: std::collections::BTreeSet<(ShopId, String)>,
}

#[derive(Default)]
struct Sink(std::sync::Mutex<Round>);

impl Sink {
    fn round(&self) -> std::sync::MutexGuard<'_, Round> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn advance_run(&self, run_id: i64, step: Option<StepOutcome>, to: Position) {
        self.round().moves.push((run_id, step, to));
    }

    fn wait_for_stock(&self, shop: ShopId, sku: String) {
        self.round().short.insert((shop, sku));
    }

    fn move_stage(&self, order_id: OrderId, to: Stage, reason: Option<String>, cause: Cause) {
        self.round().stages.push((order_id, to, reason, cause));
    }

    fn take(&self) -> Round {
        std::mem::take(&mut *self.round())
    }
}

/// What conditions see of an order.
pub fn facts(view: &OrderRecord) -> Facts {
    let detail = view.detail.as_ref();
    let payment = detail.and_then(|d| d.payment.as_ref());
    Facts {
        id: view.order.id.as_str().to_owned(),
        shop_id: view.order.shop_id.as_str().to_owned(),
        status: view.order.status.as_str().to_owned(),
        stage: view.order.stage.as_str().to_owned(),
        currency: payment.map_or_else(String::new, |p| p.currency.as_str().to_owned()),
        total_minor: payment.map_or(0, |p| p.total_amount.minor()),
        sub_total_minor: payment.map_or(0, |p| p.sub_total.minor()),
        skus: view
            .quantities
            .iter()
            .map(|(sku, _)| sku.as_str().to_owned())
            .collect(),
        quantities: view
            .quantities
            .iter()
            .map(|(sku, n)| (sku.as_str().to_owned(), i64::from(*n)))
            .collect(),
        units: view.quantities.iter().map(|(_, n)| i64::from(*n)).sum(),
        region: detail
            .and_then(|d| d.recipient.as_ref())
            .and_then(|r| r.get("region_code"))
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned(),
        tags: view.tags.clone(),
        buyer_message: detail
            .and_then(|d| d.buyer_message.clone())
            .unwrap_or_default(),
        order_type: detail
            .and_then(|d| d.order_type.clone())
            .unwrap_or_else(|| "NORMAL".into()),
        shipping_type: detail
            .and_then(|d| d.shipping_type.clone())
            .unwrap_or_default(),
        sla_seconds_left: detail
            .and_then(|d| d.rts_sla_time)
            .map_or(i64::MAX / 2, |t| t - Utc::now().timestamp()),
    }
}
