//! Works bulk jobs off, oldest first, one batch at a time, throttled.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tokio::sync::Notify;

use super::job::{JobState, Outcome};
use super::store::{Item, Job, dedupe_key};
use crate::actors;
use crate::commands::{self, Command, Commands};
use crate::domain::{OrderId, Rejection};
use crate::live::{Hub, JobProgress};
use crate::persistence::{self, Database};
use crate::shutdown::Stop;

/// Most items per batch: one read, one round of commands (the journal groups them), one
/// write. A batch is also at most a tenth of a second's worth at the configured rate, so the
/// throttle paces evenly and a cancel takes effect within one batch.
const BATCH: u64 = 500;

/// Commands of a job in flight at once.
const IN_FLIGHT: usize = 16;

/// What a job's progress event says.
pub type Progress = JobProgress;

/// The bulk job worker. Cheap to clone; [`Runner::wake`] starts a new job at once.
#[derive(Clone)]
pub struct Runner {
    db: Database,
    commands: Commands,
    hub: Hub,
    /// At most this many items a second, so that webhooks keep their latency while a large
    /// job runs.
    items_per_second: u32,
    wake: Arc<Notify>,
}

impl Runner {
    pub fn new(commands: Commands, hub: Hub, items_per_second: u32) -> Self {
        Self {
            db: commands.db.clone(),
            commands,
            hub,
            items_per_second: items_per_second.max(1),
            wake: Arc::new(Notify::new()),
        }
    }

    /// A job was created or canceled: look now rather than at the next idle tick.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Works until stopped; a job left mid-way resumes at its first item without an outcome.
    pub async fn run(self, mut stop: Stop) {
        loop {
            let idle = match self.step().await {
                Ok(worked) => !worked,
                Err(e) => {
                    tracing::warn!(error = %e, "bulk jobs cannot go on now; retrying");
                    if stop.sleep(Duration::from_secs(1)).await {
                        return;
                    }
                    continue;
                }
            };
            if stop.is_stopped() {
                return;
            }
            if idle {
                tokio::select! {
                    () = self.wake.notified() => {}
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    () = stop.stopped() => return,
                }
            }
        }
    }

    fn publish(&self, job: &Job) {
        self.hub.publish_job(JobProgress {
            job_id: job.id,
            shop_id: job.shop_id.as_ref().map(|s| s.as_str().to_owned()),
            action: job.action.as_str(),
            state: job.state.as_str(),
            total: job.total,
            processed: job.processed,
            succeeded: job.succeeded,
            failed: job.failed,
        });
    }

    /// One batch of the oldest active job; `false` if there was none.
    async fn step(&self) -> Result<bool, persistence::Error> {
        let store = self.db.bulk();
        let Some(mut job) = store.next_active().await? else {
            return Ok(false);
        };
        // In cluster mode a job is worked by the node holding its id's slot, one node at a time.
        let watermark = self.commands.registry.committed();
        let slot = crate::domain::slot_of(&job.id.to_string());
        if watermark.fence().is_some_and(|m| m.epoch(slot).is_none()) {
            return Ok(false);
        }
        match job.state {
            JobState::Canceling => {
                if let Some(job) = store.set_state(job.id, JobState::Canceled).await? {
                    self.publish(&job);
                }
                return Ok(true);
            }
            JobState::Created => {
                job = store
                    .set_state(job.id, JobState::Running)
                    .await?
                    .unwrap_or(job);
                self.publish(&job);
            }
            _ => {}
        }
        let started = Instant::now();
        let batch = (u64::from(self.items_per_second) / 10).clamp(1, BATCH);
        let pending = store.pending(job.id, batch).await?;
        if pending.is_empty() {
            if let Some(job) = store.set_state(job.id, JobState::Completed).await? {
                tracing::info!(
                    job = job.id,
                    succeeded = job.succeeded,
                    failed = job.failed,
                    "bulk job completed"
                );
                self.publish(&job);
            }
            return Ok(true);
        }
        let outcomes = self.process(&job, &pending).await?;
        if !outcomes.is_empty() {
            store.record(job.id, &outcomes).await?;
        }
        if let Some(job) = store.get(job.id).await? {
            self.publish(&job);
        }
        // Throttle: a batch of n items takes at least n / items_per_second.
        let least =
            Duration::from_secs_f64(pending.len() as f64 / f64::from(self.items_per_second));
        if let Some(rest) = least.checked_sub(started.elapsed()) {
            tokio::time::sleep(rest).await;
        }
        if outcomes.is_empty() {
            // Every item hit a passing failure (overload, TikTok down): give it a moment.
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Ok(true)
    }

    /// The outcome of each item that has one now; an item that hit a passing failure is left
    /// for the next round.
    async fn process(
        &self,
        job: &Job,
        items: &[Item],
    ) -> Result<Vec<(i64, Outcome, Option<String>)>, persistence::Error> {
        let Some(command) = job.action.command(&job.params) else {
            // An export changes nothing: every item is simply part of the result.
            return Ok(items
                .iter()
                .map(|i| (i.seq, Outcome::Succeeded, None))
                .collect());
        };
        let ids: Vec<Option<OrderId>> = items
            .iter()
            .map(|i| OrderId::parse(&i.order_id).ok())
            .collect();
        let keys: Vec<String> = ids
            .iter()
            .flatten()
            .map(|id| dedupe_key(job.id, id))
            .collect();
        let done = self.db.bulk().recorded(&keys).await?;
        let wanted: Vec<&OrderId> = ids.iter().flatten().collect();
        let versions: HashMap<OrderId, i64> = self
            .db
            .orders()
            .load_many(&wanted)
            .await?
            .into_iter()
            .map(|(id, order)| (id, order.version))
            .collect();
        let scope = job.scope();
        let name = format!("{} (bulk job {})", job.created_by, job.id);
        let runs = items.iter().zip(ids).map(|(item, id)| {
            let command = command.clone();
            let (scope, name, versions, done) = (&scope, &name, &versions, &done);
            async move {
                let Some(id) = id else {
                    return Some((
                        item.seq,
                        Outcome::Failed,
                        Some("not an order id".to_owned()),
                    ));
                };
                let key = dedupe_key(job.id, &id);
                if done.contains(&key) {
                    return Some((item.seq, Outcome::Succeeded, None));
                }
                let Some(&version) = versions.get(&id) else {
                    return Some((
                        item.seq,
                        Outcome::Failed,
                        Some(format!("order {id} not found")),
                    ));
                };
                self.one(scope, name, id, version, key, command)
                    .await
                    .map(|r| (item.seq, r.0, r.1))
            }
        });
        // Waves of a bounded number in flight: the journal groups each wave, and a webhook
        // arriving meanwhile waits behind at most one wave of the job's commits, not a batch.
        let mut runs = runs.collect::<Vec<_>>().into_iter();
        let mut outcomes = Vec::with_capacity(items.len());
        loop {
            let wave: Vec<_> = runs.by_ref().take(IN_FLIGHT).collect();
            if wave.is_empty() {
                break;
            }
            outcomes.extend(join_all(wave).await.into_iter().flatten());
        }
        Ok(outcomes)
    }

    /// One item: the command with the order's current version, once more if it moved on in
    /// between. `None` for a passing failure.
    async fn one(
        &self,
        scope: &crate::domain::Scope,
        name: &str,
        id: OrderId,
        mut version: i64,
        key: String,
        command: Command,
    ) -> Option<(Outcome, Option<String>)> {
        for attempt in 0..2 {
            let caller = commands::Caller {
                scope,
                name,
                dedupe: Some(key.clone()),
            };
            match self
                .commands
                .run(caller, id.clone(), version, command.clone())
                .await
            {
                Ok(_) => return Some((Outcome::Succeeded, None)),
                Err(commands::Error::Engine(actors::Error::Rejected(Rejection::Conflict {
                    actual,
                    ..
                }))) if attempt == 0 => version = actual,
                Err(
                    e @ (commands::Error::NotFound(_)
                    | commands::Error::NotAllowed(_)
                    | commands::Error::Refused(..)
                    | commands::Error::Engine(actors::Error::Rejected(_))),
                ) => {
                    return Some((Outcome::Failed, Some(e.to_string())));
                }
                Err(e) => {
                    tracing::debug!(order_id = %id, error = %e, "bulk item failed for now; retried");
                    return None;
                }
            }
        }
        Some((Outcome::Failed, Some("the order kept changing".into())))
    }
}
