//! Bulk jobs as GraphQL shows them: where a job stands, and its items with their outcomes.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Enum, ID, Json, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::errors::{bad_input, fail};
use super::limits;
use super::order::page_size;
use crate::bulk::{Job, Outcome};
use crate::live::JobProgress;
use crate::persistence::Database;

/// A bulk job: one action over a fixed set of orders.
pub struct BulkJob(pub Job);

/// What became of an item, or that it is still to do.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum BulkItemOutcome {
    Succeeded,
    Failed,
    Pending,
}

/// One target order of a job and what became of it.
#[derive(SimpleObject)]
pub struct BulkJobItem {
    seq: i64,
    order_id: String,
    outcome: BulkItemOutcome,
    /// Why it failed.
    reason: Option<String>,
    processed_at: Option<DateTime<Utc>>,
}

#[Object]
impl BulkJob {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// `hold`, `release`, `cancel`, `approve_requests`, `reject_requests` (each order's buyer's
    /// request that waits for the seller; `reject_requests` takes TikTok's reason code as its
    /// reason), `tags_add`, `tags_remove`, `retry_workflow`, `replay_dead_letters` or `export`.
    async fn action(&self) -> &str {
        self.0.action.as_str()
    }

    async fn params(&self) -> Json<serde_json::Value> {
        Json(serde_json::to_value(&self.0.params).unwrap_or_default())
    }

    /// The search that chose the orders, if a search did.
    async fn query(&self) -> Option<&str> {
        self.0.query.as_deref()
    }

    /// `created`, `running`, `canceling`, `canceled`, `completed` or `failed`.
    async fn state(&self) -> &str {
        self.0.state.as_str()
    }

    async fn total(&self) -> i64 {
        self.0.total
    }

    async fn processed(&self) -> i64 {
        self.0.processed
    }

    async fn succeeded(&self) -> i64 {
        self.0.succeeded
    }

    async fn failed(&self) -> i64 {
        self.0.failed
    }

    async fn created_by(&self) -> &str {
        &self.0.created_by
    }

    async fn shop_id(&self) -> Option<&str> {
        self.0.shop_id.as_ref().map(|s| s.as_str())
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn started_at(&self) -> Option<DateTime<Utc>> {
        self.0.started_at
    }

    async fn finished_at(&self) -> Option<DateTime<Utc>> {
        self.0.finished_at
    }

    /// The items in order; with `outcome`, only those.
    #[graphql(complexity = "limits::page(first, None, child_complexity)")]
    async fn items(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        outcome: Option<BulkItemOutcome>,
    ) -> Result<Connection<String, BulkJobItem>> {
        let first = page_size(first, None)?;
        let after = match after {
            None => 0,
            Some(cursor) => cursor
                .parse::<i64>()
                .ok()
                .filter(|seq| *seq >= 0)
                .ok_or_else(|| bad_input("after: not a cursor of this job's items"))?,
        };
        let (wanted, pending) = match outcome {
            None => (None, false),
            Some(BulkItemOutcome::Pending) => (None, true),
            Some(BulkItemOutcome::Succeeded) => (Some(Outcome::Succeeded), false),
            Some(BulkItemOutcome::Failed) => (Some(Outcome::Failed), false),
        };
        let db = ctx.data_unchecked::<Database>();
        let limit = u64::try_from(first).unwrap_or(1) + 1;
        let mut items = db
            .bulk()
            .items(self.0.id, wanted, pending, after.saturating_add(1), limit)
            .await
            .map_err(fail)?;
        let more = items.len() as u64 == limit;
        items.truncate(usize::try_from(first).unwrap_or(0));
        let mut connection = Connection::new(after > 0, more);
        connection.edges = items
            .into_iter()
            .map(|i| {
                let outcome = match i.outcome {
                    None => BulkItemOutcome::Pending,
                    Some(Outcome::Succeeded) => BulkItemOutcome::Succeeded,
                    Some(Outcome::Failed) => BulkItemOutcome::Failed,
                };
                let item = BulkJobItem {
                    seq: i.seq,
                    order_id: i.order_id,
                    outcome,
                    reason: i.reason,
                    processed_at: i.processed_at,
                };
                Edge::new(i.seq.to_string(), item)
            })
            .collect();
        Ok(connection)
    }
}

/// Where a job stands, as its runner reports after each batch.
#[derive(SimpleObject)]
pub struct BulkJobProgress {
    job_id: ID,
    state: String,
    total: i64,
    processed: i64,
    succeeded: i64,
    failed: i64,
}

impl From<&JobProgress> for BulkJobProgress {
    fn from(p: &JobProgress) -> Self {
        Self {
            job_id: ID(p.job_id.to_string()),
            state: p.state.to_owned(),
            total: p.total,
            processed: p.processed,
            succeeded: p.succeeded,
            failed: p.failed,
        }
    }
}

impl From<&Job> for BulkJobProgress {
    fn from(j: &Job) -> Self {
        Self {
            job_id: ID(j.id.to_string()),
            state: j.state.as_str().to_owned(),
            total: j.total,
            processed: j.processed,
            succeeded: j.succeeded,
            failed: j.failed,
        }
    }
}
