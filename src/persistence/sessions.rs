//! Dashboard sessions: a browser's cookie token (only its hash is stored) standing for an API
//! key until it expires, is ended, or its key is revoked.

use chrono::{DateTime, Utc};
use entities::{api_keys, dashboard_sessions as sessions};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

use super::{Database, Error, KeyOwner};
use crate::domain::KeyHash;

/// A live session: whose it is, and the token its forms must carry.
#[derive(Debug, Clone)]
pub struct Session {
    pub owner: KeyOwner,
    pub csrf: String,
    pub expires_at: DateTime<Utc>,
}

/// The store of dashboard sessions, over the shared pool.
#[derive(Clone, Copy)]
pub struct SessionStore<'a> {
    db: &'a Database,
}

impl Database {
    pub fn sessions(&self) -> SessionStore<'_> {
        SessionStore { db: self }
    }
}

impl SessionStore<'_> {
    /// Starts a session for key `key_id` under cookie token `token`, with form token `csrf`.
    pub async fn start(
        &self,
        key_id: i64,
        token: &str,
        csrf: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), Error> {
        sessions::ActiveModel {
            token_hash: Set(KeyHash::of(token).as_str().to_owned()),
            key_id: Set(key_id),
            csrf: Set(csrf.to_owned()),
            created_at: Set(Utc::now().fixed_offset()),
            expires_at: Set(expires_at.fixed_offset()),
        }
        .insert(&self.db.conn)
        .await?;
        Ok(())
    }

    /// The session of cookie token `token`, unless it expired, was ended, or its key revoked.
    pub async fn find(&self, token: &str) -> Result<Option<Session>, Error> {
        let now = Utc::now().fixed_offset();
        let Some(session) = sessions::Entity::find_by_id(KeyHash::of(token).as_str())
            .filter(sessions::Column::ExpiresAt.gt(now))
            .one(&self.db.conn)
            .await?
        else {
            return Ok(None);
        };
        let Some(key) = api_keys::Entity::find_by_id(session.key_id)
            .one(&self.db.conn)
            .await?
        else {
            return Ok(None);
        };
        let Some(owner) = super::api_keys::live_owner(&key, now.with_timezone(&Utc))? else {
            return Ok(None);
        };
        self.db.keys().touch(&key).await?;
        Ok(Some(Session {
            owner,
            csrf: session.csrf,
            expires_at: session.expires_at.with_timezone(&Utc),
        }))
    }

    /// Ends the session of `token` (signing out).
    pub async fn end(&self, token: &str) -> Result<(), Error> {
        sessions::Entity::delete_by_id(KeyHash::of(token).as_str())
            .exec(&self.db.conn)
            .await?;
        Ok(())
    }

    /// Deletes expired sessions every hour until `stop`.
    pub async fn run_expiry(self, mut stop: crate::shutdown::Stop) {
        loop {
            match self.purge_expired().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(sessions = n, "expired dashboard sessions deleted"),
                Err(e) => tracing::warn!(error = %e, "cannot delete expired dashboard sessions"),
            }
            if stop.sleep(std::time::Duration::from_secs(3600)).await {
                return;
            }
        }
    }

    /// Deletes expired sessions; how many.
    pub async fn purge_expired(&self) -> Result<u64, Error> {
        let gone = sessions::Entity::delete_many()
            .filter(sessions::Column::ExpiresAt.lte(Utc::now().fixed_offset()))
            .exec(&self.db.conn)
            .await?;
        Ok(gone.rows_affected)
    }
}
