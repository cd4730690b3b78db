//! Durable workflow runs: where each order's run is, when it is next due, and the history of its
//! steps. The runner reads due runs most urgent first and writes each step's outcome together
//! with the run's next position, so a restart resumes at the pending step.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entities::{order_tags, workflow_runs, workflow_steps};
use sea_orm::sea_query::{NullOrdering, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, Order,
    QueryFilter, QueryOrder, QuerySelect, Set, Statement,
};

use super::cluster::Fence;
use super::{Database, Error};
use crate::domain::{Invalid, OrderId, Scope, ShopId};
use crate::workflow::run::{Status as RunStatus, StepStatus};

const OPEN: [&str; 3] = ["running", "held", "waiting"];

#[derive(Debug, Clone)]
pub struct Run {
    pub id: i64,
    pub order_id: OrderId,
    pub shop_id: ShopId,
    pub template: String,
    pub status: RunStatus,
    /// Index of the pending step.
    pub step: i32,
    /// Failed attempts of the pending step so far.
    pub attempts: i32,
    pub last_error: Option<String>,
    pub next_at: DateTime<Utc>,
    pub rts_sla_time: Option<i64>,
    /// Set by `set_priority`; higher runs first, before the deadline order.
    pub priority: i32,
    /// When the run started: the order had just become ready to ship.
    pub created_at: DateTime<Utc>,
    /// The SKU a waiting run waits for.
    pub waiting_for: Option<String>,
}

#[derive(Debug, Clone)]
pub struct StepRecord {
    pub id: i64,
    pub run_id: i64,
    pub seq: i32,
    pub name: String,
    pub action: String,
    pub status: StepStatus,
    pub attempts: i32,
    pub idempotency_key: String,
    pub detail: Option<String>,
    pub duration_micros: i64,
    pub finished_at: DateTime<Utc>,
}

/// A run to start.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub order_id: OrderId,
    pub shop_id: ShopId,
    pub template: String,
    pub rts_sla_time: Option<i64>,
}

/// A finished step to record.
#[derive(Debug, Clone)]
pub struct StepOutcome {
    pub seq: i32,
    pub name: String,
    pub action: &'static str,
    pub status: StepStatus,
    pub attempts: i32,
    pub idempotency_key: String,
    pub detail: Option<String>,
    pub duration_micros: i64,
}

/// Where the run goes next.
#[derive(Debug, Clone)]
pub struct Position {
    pub status: RunStatus,
    pub step: i32,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub next_at: DateTime<Utc>,
    /// The SKU and units a waiting run waits for.
    pub waiting_for: Option<(String, i64)>,
}

impl TryFrom<workflow_runs::Model> for Run {
    type Error = Error;

    fn try_from(r: workflow_runs::Model) -> Result<Self, Error> {
        let bad = |e: Invalid| Error::Db(DbErr::Custom(format!("workflow run {}: {e}", r.id)));
        Ok(Self {
            id: r.id,
            order_id: OrderId::parse(&r.order_id).map_err(bad)?,
            shop_id: ShopId::parse(&r.shop_id).map_err(bad)?,
            status: RunStatus::parse(&r.status).map_err(bad)?,
            template: r.template,
            step: r.step,
            attempts: r.attempts,
            last_error: r.last_error,
            next_at: r.next_at.with_timezone(&Utc),
            rts_sla_time: r.rts_sla_time,
            priority: r.priority,
            created_at: r.created_at.with_timezone(&Utc),
            waiting_for: r.waiting_for,
        })
    }
}

impl TryFrom<workflow_steps::Model> for StepRecord {
    type Error = Error;

    fn try_from(s: workflow_steps::Model) -> Result<Self, Error> {
        let status = StepStatus::parse(&s.status)
            .map_err(|e| Error::Db(DbErr::Custom(format!("workflow step {}: {e}", s.id))))?;
        Ok(Self {
            id: s.id,
            run_id: s.run_id,
            seq: s.seq,
            name: s.name,
            action: s.action,
            status,
            attempts: s.attempts,
            idempotency_key: s.idempotency_key,
            detail: s.detail,
            duration_micros: s.duration_micros,
            finished_at: s.finished_at.with_timezone(&Utc),
        })
    }
}

/// The store of workflow runs, their steps, tags, priorities and dead letters, over the shared pool.
#[derive(Clone, Copy)]
pub struct RunStore<'a> {
    db: &'a Database,
}

impl Database {
    pub fn runs(&self) -> RunStore<'_> {
        RunStore { db: self }
    }
}

impl RunStore<'_> {
    /// Sets the priority of the order's run (higher runs first).
    pub async fn set_priority(&self, order_id: &str, priority: i32) -> Result<(), Error> {
        workflow_runs::Entity::update_many()
            .col_expr(
                workflow_runs::Column::Priority,
                sea_orm::sea_query::Expr::value(priority),
            )
            .filter(workflow_runs::Column::OrderId.eq(order_id))
            .exec(&self.db.conn)
            .await?;
        Ok(())
    }

    /// Tags the order (again is a no-op).
    pub async fn tag_order(&self, order_id: &str, tag: &str) -> Result<(), Error> {
        order_tags::Entity::insert(order_tags::ActiveModel {
            order_id: Set(order_id.to_owned()),
            tag: Set(tag.to_owned()),
            created_at: Set(Utc::now().fixed_offset()),
        })
        .on_conflict(
            OnConflict::columns([order_tags::Column::OrderId, order_tags::Column::Tag])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&self.db.conn)
        .await?;
        Ok(())
    }

    pub async fn untag_order(&self, order_id: &str, tag: &str) -> Result<(), Error> {
        order_tags::Entity::delete_many()
            .filter(order_tags::Column::OrderId.eq(order_id))
            .filter(order_tags::Column::Tag.eq(tag))
            .exec(&self.db.conn)
            .await?;
        Ok(())
    }

    /// The order's tags, sorted.
    pub async fn order_tags(&self, order_id: &str) -> Result<Vec<String>, Error> {
        Ok(order_tags::Entity::find()
            .filter(order_tags::Column::OrderId.eq(order_id))
            .order_by_asc(order_tags::Column::Tag)
            .all(&self.db.conn)
            .await?
            .into_iter()
            .map(|t| t.tag)
            .collect())
    }

    /// Makes the order's unfinished run due now (its order changed in a way it must see, e.g.
    /// it was cancelled while a step waited for a retry). `true` if there was one.
    pub async fn wake(&self, order_id: &str) -> Result<bool, Error> {
        let woken = workflow_runs::Entity::update_many()
            .col_expr(
                workflow_runs::Column::NextAt,
                sea_orm::sea_query::Expr::value(Utc::now().fixed_offset()),
            )
            .filter(workflow_runs::Column::OrderId.eq(order_id))
            .filter(workflow_runs::Column::Status.is_in(OPEN))
            .exec(&self.db.conn)
            .await?;
        Ok(woken.rows_affected > 0)
    }

    /// Wakes the runs waiting for `sku` of `shop` that `available` units can serve, in
    /// allocation order: priority, then TikTok's ship-by deadline, then arrival. The first that
    /// needs more than what is left stops the wake (no order jumps the queue for being small).
    /// Returns how many were woken.
    pub async fn wake_waiting(&self, shop: &str, sku: &str, available: i64) -> Result<u64, Error> {
        if available <= 0 {
            return Ok(0);
        }
        let waiting: Vec<(i64, Option<i64>)> = workflow_runs::Entity::find()
            .select_only()
            .column(workflow_runs::Column::Id)
            .column(workflow_runs::Column::WaitingUnits)
            .filter(workflow_runs::Column::ShopId.eq(shop))
            .filter(workflow_runs::Column::WaitingFor.eq(sku))
            .filter(workflow_runs::Column::Status.eq(RunStatus::Waiting.as_str()))
            .order_by_desc(workflow_runs::Column::Priority)
            .order_by_with_nulls(
                workflow_runs::Column::RtsSlaTime,
                Order::Asc,
                NullOrdering::Last,
            )
            .order_by_asc(workflow_runs::Column::Id)
            .limit(available.min(10_000) as u64)
            .into_tuple()
            .all(&self.db.conn)
            .await?;
        let mut left = available;
        let mut ids = Vec::new();
        for (id, units) in waiting {
            let units = units.unwrap_or(1).max(1);
            if units > left {
                break;
            }
            left -= units;
            ids.push(id);
        }
        if ids.is_empty() {
            return Ok(0);
        }
        let woken = workflow_runs::Entity::update_many()
            .col_expr(
                workflow_runs::Column::Status,
                RunStatus::Running.as_str().into(),
            )
            .col_expr(
                workflow_runs::Column::NextAt,
                sea_orm::sea_query::Expr::value(Utc::now().fixed_offset()),
            )
            .filter(workflow_runs::Column::Id.is_in(ids))
            .filter(workflow_runs::Column::Status.eq(RunStatus::Waiting.as_str()))
            .exec(&self.db.conn)
            .await?;
        Ok(woken.rows_affected)
    }

    /// Starts a run for each order that has none, in one transaction, and marks the
    /// `workflow.start` outbox rows that asked for them as sent in the same commit. Returns how
    /// many runs were started.
    pub async fn start(&self, runs: &[NewRun], outbox_ids: &[i64]) -> Result<u64, Error> {
        let txn = self.db.begin_write().await?;
        let now = Utc::now().fixed_offset();
        let mut started = 0;
        for chunk in runs.chunks(500) {
            let rows = chunk.iter().map(|run| workflow_runs::ActiveModel {
                order_id: Set(run.order_id.as_str().to_owned()),
                shop_id: Set(run.shop_id.as_str().to_owned()),
                template: Set(run.template.clone()),
                status: Set(RunStatus::Running.as_str().to_owned()),
                step: Set(0),
                attempts: Set(0),
                last_error: Set(None),
                next_at: Set(now),
                rts_sla_time: Set(run.rts_sla_time),
                priority: Set(0),
                slot: Set(run.order_id.slot()),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            });
            started += workflow_runs::Entity::insert_many(rows)
                .on_conflict(
                    OnConflict::column(workflow_runs::Column::OrderId)
                        .do_nothing()
                        .to_owned(),
                )
                .exec_without_returning(&txn)
                .await?;
        }
        super::outbox::delete_sent(&txn, outbox_ids).await?;
        txn.commit().await?;
        Ok(started)
    }

    /// Runs due now (running, or held and due for a look), most urgent first: the highest
    /// priority, then the earliest `rts_sla_time`, then the oldest.
    pub async fn due(&self, limit: u64, slots: Option<&[i16]>) -> Result<Vec<Run>, Error> {
        let mut due = workflow_runs::Entity::find();
        if let Some(slots) = slots {
            due = due.filter(workflow_runs::Column::Slot.is_in(slots.iter().copied()));
        }
        due.filter(workflow_runs::Column::Status.is_in(OPEN))
            .filter(workflow_runs::Column::NextAt.lte(Utc::now().fixed_offset()))
            .order_by_desc(workflow_runs::Column::Priority)
            .order_by_with_nulls(
                workflow_runs::Column::RtsSlaTime,
                Order::Asc,
                NullOrdering::Last,
            )
            .order_by_asc(workflow_runs::Column::Id)
            .limit(limit)
            .all(&self.db.conn)
            .await?
            .into_iter()
            .map(Run::try_from)
            .collect()
    }

    /// Runs not finished (running or held) within `scope`, next due first.
    pub async fn in_flight(&self, scope: &Scope, limit: u64) -> Result<Vec<Run>, Error> {
        let mut runs =
            workflow_runs::Entity::find().filter(workflow_runs::Column::Status.is_in(OPEN));
        if let Scope::Shop(shop) = scope {
            runs = runs.filter(workflow_runs::Column::ShopId.eq(shop.as_str()));
        }
        let reader = self.db.reader(scope).await?;
        let runs = runs
            .order_by_asc(workflow_runs::Column::NextAt)
            .limit(limit)
            .all(&reader)
            .await?;
        reader.done();
        runs.into_iter().map(Run::try_from).collect()
    }

    /// Moves the run; with `step`, records the finished step in the same transaction.
    pub async fn advance(
        &self,
        run_id: i64,
        step: Option<StepOutcome>,
        to: Position,
    ) -> Result<(), Error> {
        self.advance_many(vec![(run_id, step, to)], None)
            .await
            .map(|_| ())
    }

    /// Moves many runs (and records their finished steps) in one transaction. With a `fence`
    /// (a cluster node and the slots it holds), only the runs of slots whose leases still name
    /// it at those epochs move (their lease rows locked `FOR SHARE` until the commit); the
    /// others' steps are left to the slot's new owner. Returns how many runs moved.
    pub async fn advance_many(
        &self,
        mut moves: Vec<(i64, Option<StepOutcome>, Position)>,
        fence: Option<Fence<'_>>,
    ) -> Result<usize, Error> {
        if moves.is_empty() {
            return Ok(0);
        }
        let txn = self.db.begin_write().await?;
        if let Some((node, held)) = fence {
            let ids: Vec<i64> = moves.iter().map(|(id, _, _)| *id).collect();
            let (slots, epochs): (Vec<i16>, Vec<i64>) = held.iter().copied().unzip();
            let kept: Vec<i64> = txn
                .query_all_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT r.id FROM workflow_runs r JOIN slot_leases l ON l.slot = r.slot \
                     JOIN UNNEST($2::int2[], $3::int8[]) AS h(slot, epoch) \
                     ON h.slot = l.slot AND h.epoch = l.epoch \
                     WHERE r.id = ANY($1::int8[]) AND l.owner = $4 AND l.expires_at > now() \
                     ORDER BY l.slot FOR SHARE OF l",
                    vec![ids.into(), slots.into(), epochs.into(), node.into()],
                ))
                .await?
                .iter()
                .map(|row| row.try_get_by_index(0))
                .collect::<Result<_, _>>()?;
            let before = moves.len();
            moves.retain(|(id, _, _)| kept.contains(id));
            if moves.len() < before {
                tracing::warn!(
                    runs = before - moves.len(),
                    "workflow steps not recorded: their slots are no longer this node's"
                );
            }
        }
        let moved = moves.len();
        let now = Utc::now().fixed_offset();
        for (run_id, step, to) in moves {
            if let Some(step) = step {
                workflow_steps::ActiveModel {
                    run_id: Set(run_id),
                    seq: Set(step.seq),
                    name: Set(step.name),
                    action: Set(step.action.to_owned()),
                    status: Set(step.status.as_str().to_owned()),
                    attempts: Set(step.attempts),
                    idempotency_key: Set(step.idempotency_key),
                    detail: Set(step.detail),
                    duration_micros: Set(step.duration_micros),
                    finished_at: Set(now),
                    ..Default::default()
                }
                .insert(&txn)
                .await?;
            }
            workflow_runs::Entity::update_many()
                .col_expr(workflow_runs::Column::Status, to.status.as_str().into())
                .col_expr(workflow_runs::Column::Step, to.step.into())
                .col_expr(workflow_runs::Column::Attempts, to.attempts.into())
                .col_expr(workflow_runs::Column::LastError, to.last_error.into())
                .col_expr(
                    workflow_runs::Column::NextAt,
                    to.next_at.fixed_offset().into(),
                )
                .col_expr(
                    workflow_runs::Column::WaitingFor,
                    to.waiting_for.as_ref().map(|(sku, _)| sku.clone()).into(),
                )
                .col_expr(
                    workflow_runs::Column::WaitingUnits,
                    to.waiting_for.as_ref().map(|(_, units)| *units).into(),
                )
                .col_expr(workflow_runs::Column::UpdatedAt, now.into())
                .filter(workflow_runs::Column::Id.eq(run_id))
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
        Ok(moved)
    }

    /// The order's run and its step history, oldest step first.
    pub async fn of_order(
        &self,
        order_id: &OrderId,
    ) -> Result<Option<(Run, Vec<StepRecord>)>, Error> {
        let Some(run) = workflow_runs::Entity::find()
            .filter(workflow_runs::Column::OrderId.eq(order_id.as_str()))
            .one(&self.db.conn)
            .await?
        else {
            return Ok(None);
        };
        let steps = workflow_steps::Entity::find()
            .filter(workflow_steps::Column::RunId.eq(run.id))
            .order_by_asc(workflow_steps::Column::Id)
            .all(&self.db.conn)
            .await?;
        Ok(Some((
            run.try_into()?,
            steps
                .into_iter()
                .map(StepRecord::try_from)
                .collect::<Result<_, _>>()?,
        )))
    }

    /// Steps that exhausted their retries within `scope`, newest first, with their run (two
    /// statements).
    pub async fn dead_letters(
        &self,
        scope: &Scope,
        limit: u64,
    ) -> Result<Vec<(StepRecord, Run)>, Error> {
        let mut steps = workflow_steps::Entity::find()
            .filter(workflow_steps::Column::Status.eq(StepStatus::Dead.as_str()));
        if let Scope::Shop(shop) = scope {
            steps = steps.filter(
                workflow_steps::Column::RunId.in_subquery(
                    sea_orm::sea_query::Query::select()
                        .column(workflow_runs::Column::Id)
                        .from(workflow_runs::Entity)
                        .and_where(workflow_runs::Column::ShopId.eq(shop.as_str()))
                        .to_owned(),
                ),
            );
        }
        let reader = self.db.reader(scope).await?;
        let steps = steps
            .order_by_desc(workflow_steps::Column::Id)
            .limit(limit)
            .all(&reader)
            .await?;
        let runs: HashMap<i64, workflow_runs::Model> = workflow_runs::Entity::find()
            .filter(workflow_runs::Column::Id.is_in(steps.iter().map(|s| s.run_id)))
            .all(&reader)
            .await?
            .into_iter()
            .map(|run| (run.id, run))
            .collect();
        reader.done();
        let mut out = Vec::with_capacity(steps.len());
        for step in steps {
            if let Some(run) = runs.get(&step.run_id).cloned() {
                out.push((step.try_into()?, run.try_into()?));
            }
        }
        Ok(out)
    }

    /// The dead letter `step_id` with its run, if it is one.
    pub async fn dead_letter(&self, step_id: i64) -> Result<Option<(StepRecord, Run)>, Error> {
        let Some(step) = workflow_steps::Entity::find_by_id(step_id)
            .filter(workflow_steps::Column::Status.eq(StepStatus::Dead.as_str()))
            .one(&self.db.conn)
            .await?
        else {
            return Ok(None);
        };
        let Some(run) = workflow_runs::Entity::find_by_id(step.run_id)
            .one(&self.db.conn)
            .await?
        else {
            return Ok(None);
        };
        Ok(Some((step.try_into()?, run.try_into()?)))
    }

    /// Sends a dead step back: the run resumes at that step, attempts from zero. `None` if there
    /// is no such dead letter.
    pub async fn replay_dead_letter(&self, step_id: i64) -> Result<Option<Run>, Error> {
        let txn = self.db.begin_write().await?;
        let Some(step) = workflow_steps::Entity::find_by_id(step_id)
            .filter(workflow_steps::Column::Status.eq(StepStatus::Dead.as_str()))
            .one(&txn)
            .await?
        else {
            txn.rollback().await?;
            return Ok(None);
        };
        let now = Utc::now().fixed_offset();
        let (run_id, seq) = (step.run_id, step.seq);
        let mut step: workflow_steps::ActiveModel = step.into();
        step.status = Set(StepStatus::Replayed.as_str().to_owned());
        step.update(&txn).await?;
        workflow_runs::Entity::update_many()
            .col_expr(
                workflow_runs::Column::Status,
                RunStatus::Running.as_str().into(),
            )
            .col_expr(workflow_runs::Column::Step, seq.into())
            .col_expr(workflow_runs::Column::Attempts, 0.into())
            .col_expr(workflow_runs::Column::NextAt, now.into())
            .col_expr(workflow_runs::Column::UpdatedAt, now.into())
            .filter(workflow_runs::Column::Id.eq(run_id))
            .exec(&txn)
            .await?;
        let run = workflow_runs::Entity::find_by_id(run_id).one(&txn).await?;
        txn.commit().await?;
        run.map(Run::try_from).transpose()
    }
}
