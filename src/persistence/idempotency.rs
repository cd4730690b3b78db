//! The first answers to `Idempotency-Key`s, per API key: claimed before a request runs,
//! completed with its answer after, released if it failed in a way worth retrying.

use chrono::{Duration, Utc};
use entities::idempotency_keys as rows;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};

use super::{Database, Error};

/// How long a key's first answer is kept (Stripe keeps them 24 hours).
pub const KEPT_FOR: Duration = Duration::hours(24);

/// The request a key was first used with, and its answer once there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is new: run the request, then complete or release it.
    Fresh,
    /// The same request already ran: its answer.
    Answered {
        status: u16,
        content_type: Option<String>,
        body: String,
    },
    /// The same request is running now.
    InProgress,
    /// The key was used with a different request.
    Mismatch,
}

/// The store of idempotency keys, over the shared pool.
#[derive(Clone, Copy)]
pub struct IdempotencyStore<'a> {
    db: &'a Database,
}

impl Database {
    pub fn idempotency(&self) -> IdempotencyStore<'_> {
        IdempotencyStore { db: self }
    }
}

impl IdempotencyStore<'_> {
    /// Claims `key` of the API key `owner` for the request with `fingerprint`, or says what
    /// became of the request that claimed it first.
    pub async fn claim(&self, owner: &str, key: &str, fingerprint: &str) -> Result<Claim, Error> {
        for _ in 0..2 {
            let inserted = rows::Entity::insert(rows::ActiveModel {
                key_hash: Set(owner.to_owned()),
                idempotency_key: Set(key.to_owned()),
                fingerprint: Set(fingerprint.to_owned()),
                status: Set(None),
                content_type: Set(None),
                body: Set(None),
                created_at: Set(Utc::now().fixed_offset()),
            })
            .on_conflict(
                OnConflict::columns([rows::Column::KeyHash, rows::Column::IdempotencyKey])
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(&self.db.conn)
            .await?;
            if inserted == 1 {
                return Ok(Claim::Fresh);
            }
            let Some(row) = rows::Entity::find_by_id((owner.to_owned(), key.to_owned()))
                .one(&self.db.conn)
                .await?
            else {
                continue; // released meanwhile
            };
            if row.created_at.with_timezone(&Utc) < Utc::now() - KEPT_FOR {
                self.release(owner, key).await?;
                continue;
            }
            if row.fingerprint != fingerprint {
                return Ok(Claim::Mismatch);
            }
            return Ok(match (row.status, row.body) {
                (Some(status), Some(body)) => Claim::Answered {
                    status: status as u16,
                    content_type: row.content_type,
                    body,
                },
                _ => Claim::InProgress,
            });
        }
        Ok(Claim::InProgress)
    }

    /// Keeps the answer of the request that claimed `key`.
    pub async fn complete(
        &self,
        owner: &str,
        key: &str,
        status: u16,
        content_type: Option<String>,
        body: String,
    ) -> Result<(), Error> {
        rows::Entity::update_many()
            .col_expr(rows::Column::Status, (status as i16).into())
            .col_expr(rows::Column::ContentType, content_type.into())
            .col_expr(rows::Column::Body, body.into())
            .filter(rows::Column::KeyHash.eq(owner))
            .filter(rows::Column::IdempotencyKey.eq(key))
            .exec(&self.db.conn)
            .await?;
        Ok(())
    }

    /// Forgets `key`: its request failed in a way worth retrying, or it expired.
    pub async fn release(&self, owner: &str, key: &str) -> Result<(), Error> {
        rows::Entity::delete_many()
            .filter(rows::Column::KeyHash.eq(owner))
            .filter(rows::Column::IdempotencyKey.eq(key))
            .exec(&self.db.conn)
            .await?;
        Ok(())
    }

    /// Deletes the keys older than `KEPT_FOR` (24 hours); returns how many.
    pub async fn expire(&self) -> Result<u64, Error> {
        let result = rows::Entity::delete_many()
            .filter(rows::Column::CreatedAt.lt((Utc::now() - KEPT_FOR).fixed_offset()))
            .exec(&self.db.conn)
            .await?;
        Ok(result.rows_affected)
    }
}

impl IdempotencyStore<'_> {
    /// Deletes expired keys once an hour until stopped.
    pub async fn run_expiry(self, mut stop: crate::shutdown::Stop) {
        loop {
            match self.expire().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(keys = n, "expired idempotency keys deleted"),
                Err(e) => tracing::warn!(error = %e, "cannot delete expired idempotency keys"),
            }
            if stop.sleep(std::time::Duration::from_secs(3600)).await {
                return;
            }
        }
    }
}
