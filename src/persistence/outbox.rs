//! The outbox: what is owed outside the log. Order effects live on the log (see `log`); the
//! outbox keeps messages that are not order events (`inventory.low_stock`), work a subscription
//! parked because it failed for now (a detail fetch) or for good (a refused message), and rows
//! owed from before the log. A consumer takes the pending rows of its routing key, does the
//! work, then deletes them; a crash in between only repeats work (at least once), never loses
//! it. The table holds only what is still owed, and the rows given up on for an operator.

use entities::outbox;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::{Database, Error};

/// A row given up on after this many failed attempts stays for an operator to inspect.
pub const MAX_ATTEMPTS: i32 = 20;

/// Routing keys worked off in-process by their own workers; every other key is published.
pub const IN_PROCESS: [&str; 2] = ["tiktok.fetch_detail", "workflow.start"];

/// The rows the relay publishes, as the predicate of its partial index (migration 12) spells
/// it: the planners use that index only for a query that repeats the predicate word for word,
/// so it is a literal here, not bound parameters.
const PUBLISHED: &str = "routing_key NOT IN ('tiktok.fetch_detail', 'workflow.start')";

/// The rows of the in-process workers, as the predicate of their partial index (migration 12).
const WORKED_IN_PROCESS: &str = "routing_key IN ('tiktok.fetch_detail', 'workflow.start')";

/// A row for the relay.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub id: i64,
    pub routing_key: String,
    pub payload: serde_json::Value,
    pub created_at: chrono::DateTime<chrono::FixedOffset>,
}

#[derive(Debug, Clone)]
pub struct Pending {
    pub id: i64,
    pub payload: serde_json::Value,
    pub attempts: i32,
}

/// The store of the outbox: stock messages and parked work, over the shared pool.
#[derive(Clone, Copy)]
pub struct OutboxStore<'a> {
    db: &'a Database,
}

impl Database {
    pub fn outbox(&self) -> OutboxStore<'_> {
        OutboxStore { db: self }
    }
}

impl OutboxStore<'_> {
    /// The oldest pending rows of `routing_key`, one of the [`IN_PROCESS`] keys, skipping those
    /// given up on.
    pub async fn pending(&self, routing_key: &str, limit: u64) -> Result<Vec<Pending>, Error> {
        debug_assert!(IN_PROCESS.contains(&routing_key), "{routing_key}");
        Ok(outbox::Entity::find()
            .filter(Expr::cust(WORKED_IN_PROCESS))
            .filter(outbox::Column::RoutingKey.eq(routing_key))
            .filter(outbox::Column::Attempts.lt(MAX_ATTEMPTS))
            .order_by_asc(outbox::Column::Id)
            .limit(limit)
            .all(&self.db.conn)
            .await?
            .into_iter()
            .map(|row| Pending {
                id: row.id,
                payload: row.payload,
                attempts: row.attempts,
            })
            .collect())
    }

    /// The oldest pending rows the relay publishes, skipping those given up on.
    pub async fn pending_published(&self, limit: u64) -> Result<Vec<OutboxRow>, Error> {
        self.pending_published_after(0, limit).await
    }

    /// Like [`OutboxStore::pending_published`], past row `after` (the relay's pipeline reads the
    /// next batch while the previous one is still being published).
    pub async fn pending_published_after(
        &self,
        after: i64,
        limit: u64,
    ) -> Result<Vec<OutboxRow>, Error> {
        Ok(outbox::Entity::find()
            .filter(Expr::cust(PUBLISHED))
            .filter(outbox::Column::Id.gt(after))
            .filter(outbox::Column::Attempts.lt(MAX_ATTEMPTS))
            .order_by_asc(outbox::Column::Id)
            .limit(limit)
            .all(&self.db.conn)
            .await?
            .into_iter()
            .map(|row| OutboxRow {
                id: row.id,
                routing_key: row.routing_key,
                payload: row.payload,
                created_at: row.created_at,
            })
            .collect())
    }

    /// Rows no retry can help: kept unsent for an operator, never picked up again.
    pub async fn give_up(&self, ids: &[i64]) -> Result<(), Error> {
        if ids.is_empty() {
            return Ok(());
        }
        outbox::Entity::update_many()
            .col_expr(outbox::Column::Attempts, Expr::value(MAX_ATTEMPTS))
            .filter(outbox::Column::Id.is_in(ids.iter().copied()))
            .exec(&self.db.conn)
            .await?;
        Ok(())
    }

    /// Keeps work the log's subscriptions could not do now (a detail fetch that failed) or ever
    /// (a message refused for good: `attempts` at [`MAX_ATTEMPTS`], for an operator) as outbox
    /// rows, which their workers retry as before.
    pub async fn park(
        &self,
        rows: &[(String, serde_json::Value)],
        attempts: i32,
    ) -> Result<(), Error> {
        if rows.is_empty() {
            return Ok(());
        }
        let now = chrono::Utc::now().fixed_offset();
        let txn = self.db.begin_write().await?;
        outbox::Entity::insert_many(rows.iter().map(|(routing_key, payload)| {
            outbox::ActiveModel {
                routing_key: sea_orm::Set(routing_key.clone()),
                payload: sea_orm::Set(payload.clone()),
                attempts: sea_orm::Set(attempts),
                created_at: sea_orm::Set(now),
                ..Default::default()
            }
        }))
        .exec_without_returning(&txn)
        .await?;
        Ok(txn.commit().await?)
    }

    /// Deletes rows whose work is done.
    pub async fn delete_sent(&self, ids: &[i64]) -> Result<(), Error> {
        if ids.is_empty() {
            return Ok(());
        }
        // In a write transaction so that on SQLite it waits its turn, not in the busy handler.
        let txn = self.db.begin_write().await?;
        delete_sent(&txn, ids).await?;
        Ok(txn.commit().await?)
    }

    pub async fn mark_failed(&self, ids: &[i64]) -> Result<(), Error> {
        if ids.is_empty() {
            return Ok(());
        }
        outbox::Entity::update_many()
            .col_expr(
                outbox::Column::Attempts,
                Expr::col(outbox::Column::Attempts).add(1),
            )
            .filter(outbox::Column::Id.is_in(ids.iter().copied()))
            .exec(&self.db.conn)
            .await?;
        Ok(())
    }
}

/// Deletes rows whose work is done, on `db` (a connection or the transaction that did it).
pub(super) async fn delete_sent(db: &impl ConnectionTrait, ids: &[i64]) -> Result<(), DbErr> {
    for chunk in ids.chunks(500) {
        outbox::Entity::delete_many()
            .filter(outbox::Column::Id.is_in(chunk.iter().copied()))
            .exec(db)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_predicates_name_every_in_process_key() {
        let listed = IN_PROCESS.map(|key| format!("'{key}'")).join(", ");
        assert_eq!(PUBLISHED, format!("routing_key NOT IN ({listed})"));
        assert_eq!(WORKED_IN_PROCESS, format!("routing_key IN ({listed})"));
    }
}
