//! Bulk jobs and their items in the database.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use entities::{bulk_job_items as items, bulk_jobs as jobs, order_events};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::job::{Action, JobState, MAX_ITEMS, NewJob, Outcome, Params, Target};
use crate::domain::{OrderId, Scope, ShopId};
use crate::persistence::{Database, Error, OrderFilter};

/// Rows per insert: under both backends' bind-parameter limits.
const ROWS_PER_STATEMENT: usize = 500;

/// A job as stored.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: i64,
    /// The creating key's shop; `None` for an admin key.
    pub shop_id: Option<ShopId>,
    pub action: Action,
    pub params: Params,
    pub query: Option<String>,
    pub state: JobState,
    pub total: i64,
    pub processed: i64,
    pub succeeded: i64,
    pub failed: i64,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

impl Job {
    /// Whether a key with `scope` may see this job: its own shop's, or any for an admin.
    pub fn visible_to(&self, scope: &Scope) -> bool {
        match scope {
            Scope::Admin => true,
            Scope::Shop(shop) => self.shop_id.as_ref() == Some(shop),
        }
    }

    /// The scope the job acts in: the creating key's.
    pub fn scope(&self) -> Scope {
        match &self.shop_id {
            Some(shop) => Scope::Shop(shop.clone()),
            None => Scope::Admin,
        }
    }
}

/// One target order and its outcome.
#[derive(Debug, Clone)]
pub struct Item {
    pub seq: i64,
    pub order_id: String,
    pub outcome: Option<Outcome>,
    pub reason: Option<String>,
    pub processed_at: Option<DateTime<Utc>>,
}

fn job(row: jobs::Model) -> Result<Job, Error> {
    let bad = |what: String| {
        Error::Db(sea_orm::DbErr::Custom(format!(
            "bulk job {}: {what}",
            row.id
        )))
    };
    Ok(Job {
        id: row.id,
        shop_id: row
            .shop_id
            .as_deref()
            .map(ShopId::parse)
            .transpose()
            .map_err(|e| bad(e.to_string()))?,
        action: Action::parse(&row.action).map_err(|e| bad(e.to_string()))?,
        params: serde_json::from_value(row.params.clone()).map_err(|e| bad(e.to_string()))?,
        query: row.query.clone(),
        state: JobState::parse(&row.state).map_err(|e| bad(e.to_string()))?,
        total: row.total,
        processed: row.processed,
        succeeded: row.succeeded,
        failed: row.failed,
        created_by: row.created_by.clone(),
        created_at: row.created_at.with_timezone(&Utc),
        started_at: row.started_at.map(|t| t.with_timezone(&Utc)),
        finished_at: row.finished_at.map(|t| t.with_timezone(&Utc)),
        updated_at: row.updated_at.with_timezone(&Utc),
    })
}

/// The store of bulk jobs, over the shared pool.
#[derive(Clone, Copy)]
pub struct BulkStore<'a> {
    db: &'a Database,
}

impl Database {
    pub fn bulk(&self) -> BulkStore<'_> {
        BulkStore { db: self }
    }
}

impl BulkStore<'_> {
    /// Resolves the job's target set in its scope (fixed from now on) and stores the job with
    /// one item per order, in one transaction. `Err(NotAllowed)` when the set is too large.
    pub async fn create(&self, new: &NewJob) -> Result<Result<Job, String>, Error> {
        let targets = match &new.target {
            Target::Ids(ids) => {
                let mut seen = HashSet::new();
                ids.iter()
                    .filter(|id| seen.insert((*id).clone()))
                    .map(|id| id.as_str().to_owned())
                    .collect::<Vec<_>>()
            }
            Target::Query(search) => match self.matching(&new.scope, search).await? {
                Some(ids) => ids,
                None => {
                    return Ok(Err(format!(
                        "the query matches more than {MAX_ITEMS} orders; narrow it"
                    )));
                }
            },
        };
        if targets.len() > MAX_ITEMS {
            return Ok(Err(format!("a job takes at most {MAX_ITEMS} orders")));
        }
        let now = Utc::now().fixed_offset();
        let txn = self.db.begin_write().await?;
        let row = jobs::ActiveModel {
            shop_id: Set(match &new.scope {
                Scope::Shop(shop) => Some(shop.as_str().to_owned()),
                Scope::Admin => None,
            }),
            action: Set(new.action.as_str().to_owned()),
            params: Set(serde_json::to_value(&new.params).expect("params serialise")),
            query: Set(new.query.clone()),
            state: Set(JobState::Created.as_str().to_owned()),
            total: Set(targets.len() as i64),
            processed: Set(0),
            succeeded: Set(0),
            failed: Set(0),
            created_by: Set(new.created_by.clone()),
            created_at: Set(now),
            started_at: Set(None),
            finished_at: Set(None),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        for (chunk_index, chunk) in targets.chunks(ROWS_PER_STATEMENT).enumerate() {
            let mut insert = Query::insert();
            insert.into_table(items::Entity).columns([
                items::Column::JobId,
                items::Column::Seq,
                items::Column::OrderId,
            ]);
            for (i, order_id) in chunk.iter().enumerate() {
                let seq = (chunk_index * ROWS_PER_STATEMENT + i) as i64;
                insert.values_panic([row.id.into(), seq.into(), order_id.as_str().into()]);
            }
            txn.execute(&insert).await?;
        }
        txn.commit().await?;
        Ok(Ok(job(row)?))
    }

    /// Every order in `scope` the search matches now, oldest change first; `None` past
    /// [`MAX_ITEMS`]. Paging oldest first by `updated_at`, an order that changes meanwhile moves
    /// behind the page being read, so none is missed (one seen twice is kept once).
    async fn matching(
        &self,
        scope: &Scope,
        search: &crate::domain::Search,
    ) -> Result<Option<Vec<String>>, Error> {
        let mut ids = Vec::new();
        let mut seen = HashSet::new();
        let mut after = None;
        loop {
            let filter = OrderFilter {
                shop: None,
                status: None,
                stage: None,
                updated_since: None,
                search: Some(search.clone()),
                after: after.clone(),
                oldest_first: true,
                limit: 500,
            };
            let page = self.db.orders().list(scope, &filter).await?;
            let full = page.len() == 500;
            for order in &page {
                if seen.insert(order.id.clone()) {
                    ids.push(order.id.as_str().to_owned());
                }
            }
            if ids.len() > MAX_ITEMS {
                return Ok(None);
            }
            match page.last() {
                Some(last) if full => {
                    after = Some((last.updated_at, last.id.as_str().to_owned()));
                }
                _ => return Ok(Some(ids)),
            }
        }
    }

    pub async fn get(&self, id: i64) -> Result<Option<Job>, Error> {
        jobs::Entity::find_by_id(id)
            .one(&self.db.conn)
            .await?
            .map(job)
            .transpose()
    }

    /// The jobs `scope` may see, newest first.
    pub async fn list(&self, scope: &Scope, limit: u64) -> Result<Vec<Job>, Error> {
        let mut query = jobs::Entity::find()
            .order_by_desc(jobs::Column::Id)
            .limit(limit);
        if let Scope::Shop(shop) = scope {
            query = query.filter(jobs::Column::ShopId.eq(shop.as_str()));
        }
        let reader = self.db.reader(scope).await?;
        let rows = query.all(&reader).await?;
        reader.done();
        rows.into_iter().map(job).collect()
    }

    /// The oldest job still to be worked on (created, running or canceling).
    pub async fn next_active(&self) -> Result<Option<Job>, Error> {
        jobs::Entity::find()
            .filter(jobs::Column::State.is_in([
                JobState::Created.as_str(),
                JobState::Running.as_str(),
                JobState::Canceling.as_str(),
            ]))
            .order_by_asc(jobs::Column::Id)
            .one(&self.db.conn)
            .await?
            .map(job)
            .transpose()
    }

    /// Moves job `id` to `state` (stamping when it started or finished); returns the job.
    pub async fn set_state(&self, id: i64, state: JobState) -> Result<Option<Job>, Error> {
        let now = Utc::now().fixed_offset();
        let mut update = jobs::Entity::update_many()
            .col_expr(jobs::Column::State, Expr::value(state.as_str()))
            .col_expr(jobs::Column::UpdatedAt, Expr::value(now))
            .filter(jobs::Column::Id.eq(id));
        if state == JobState::Running {
            update = update.col_expr(jobs::Column::StartedAt, Expr::value(now));
        }
        if state.is_final() {
            update = update.col_expr(jobs::Column::FinishedAt, Expr::value(now));
        }
        update.exec(&self.db.conn).await?;
        self.get(id).await
    }

    /// Asks job `id` to stop: `canceling` if it has not finished. Returns the job as it now is.
    pub async fn cancel(&self, id: i64) -> Result<Option<Job>, Error> {
        jobs::Entity::update_many()
            .col_expr(
                jobs::Column::State,
                Expr::value(JobState::Canceling.as_str()),
            )
            .col_expr(
                jobs::Column::UpdatedAt,
                Expr::value(Utc::now().fixed_offset()),
            )
            .filter(jobs::Column::Id.eq(id))
            .filter(
                jobs::Column::State.is_in([JobState::Created.as_str(), JobState::Running.as_str()]),
            )
            .exec(&self.db.conn)
            .await?;
        self.get(id).await
    }

    /// The next items without an outcome, in order.
    pub async fn pending(&self, job_id: i64, limit: u64) -> Result<Vec<Item>, Error> {
        self.items(job_id, None, true, 0, limit).await
    }

    /// Items after `after_seq`, in order; with `outcome`, only those; with `pending`, only those
    /// without an outcome.
    pub async fn items(
        &self,
        job_id: i64,
        outcome: Option<Outcome>,
        pending: bool,
        after_seq: i64,
        limit: u64,
    ) -> Result<Vec<Item>, Error> {
        let mut query = items::Entity::find()
            .filter(items::Column::JobId.eq(job_id))
            .filter(items::Column::Seq.gte(after_seq))
            .order_by_asc(items::Column::Seq)
            .limit(limit);
        if pending {
            query = query.filter(items::Column::Outcome.is_null());
        }
        if let Some(outcome) = outcome {
            query = query.filter(items::Column::Outcome.eq(outcome.as_str()));
        }
        query
            .all(&self.db.conn)
            .await?
            .into_iter()
            .map(|row| {
                Ok(Item {
                    seq: row.seq,
                    outcome: row
                        .outcome
                        .as_deref()
                        .map(Outcome::parse)
                        .transpose()
                        .map_err(|e| Error::Db(sea_orm::DbErr::Custom(e.to_string())))?,
                    order_id: row.order_id,
                    reason: row.reason,
                    processed_at: row.processed_at.map(|t| t.with_timezone(&Utc)),
                })
            })
            .collect()
    }

    /// Which of `keys` the log holds: the commands that already took effect.
    pub async fn recorded(&self, keys: &[String]) -> Result<HashSet<String>, Error> {
        let mut found = HashSet::new();
        for chunk in keys.chunks(ROWS_PER_STATEMENT) {
            let rows: Vec<Option<String>> = order_events::Entity::find()
                .select_only()
                .column(order_events::Column::DedupeKey)
                .filter(order_events::Column::DedupeKey.is_in(chunk.iter().map(String::as_str)))
                .into_tuple()
                .all(&self.db.conn)
                .await?;
            found.extend(rows.into_iter().flatten());
        }
        Ok(found)
    }

    /// Records the outcomes of a batch and moves the job's counters, in one transaction. An
    /// item that already has an outcome (recorded by another worker meanwhile, e.g. on another
    /// node of a cluster) is neither changed nor counted again.
    pub async fn record(
        &self,
        job_id: i64,
        outcomes: &[(i64, Outcome, Option<String>)],
    ) -> Result<(), Error> {
        let now = Utc::now().fixed_offset();
        let txn = self.db.begin_write().await?;
        let (mut succeeded, mut failed) = (0, 0);
        let unrecorded = || {
            items::Entity::update_many()
                .col_expr(items::Column::ProcessedAt, Expr::value(now))
                .filter(items::Column::JobId.eq(job_id))
                .filter(items::Column::Outcome.is_null())
        };
        // Succeeded items carry no reason: one statement per chunk.
        let seqs: Vec<i64> = outcomes
            .iter()
            .filter(|(_, o, _)| *o == Outcome::Succeeded)
            .map(|(seq, _, _)| *seq)
            .collect();
        for chunk in seqs.chunks(ROWS_PER_STATEMENT) {
            succeeded += unrecorded()
                .col_expr(
                    items::Column::Outcome,
                    Expr::value(Outcome::Succeeded.as_str()),
                )
                .filter(items::Column::Seq.is_in(chunk.iter().copied()))
                .exec(&txn)
                .await?
                .rows_affected as i64;
        }
        for (seq, _, reason) in outcomes.iter().filter(|(_, o, _)| *o == Outcome::Failed) {
            failed += unrecorded()
                .col_expr(
                    items::Column::Outcome,
                    Expr::value(Outcome::Failed.as_str()),
                )
                .col_expr(items::Column::Reason, Expr::value(reason.clone()))
                .filter(items::Column::Seq.eq(*seq))
                .exec(&txn)
                .await?
                .rows_affected as i64;
        }
        jobs::Entity::update_many()
            .col_expr(
                jobs::Column::Processed,
                Expr::col(jobs::Column::Processed).add(succeeded + failed),
            )
            .col_expr(
                jobs::Column::Succeeded,
                Expr::col(jobs::Column::Succeeded).add(succeeded),
            )
            .col_expr(
                jobs::Column::Failed,
                Expr::col(jobs::Column::Failed).add(failed),
            )
            .col_expr(jobs::Column::UpdatedAt, Expr::value(now))
            .filter(jobs::Column::Id.eq(job_id))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }
}

/// The key a job's command for `order` carries, so that it takes effect once.
pub fn dedupe_key(job_id: i64, order: &OrderId) -> String {
    format!("bulk:{job_id}:{order}")
}
