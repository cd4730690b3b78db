//! The audit of operators' actions beyond orders (orders keep theirs in their own history):
//! keys created, revoked and rotated, stock set and adjusted, notification subscriptions, bulk
//! jobs, dead-letter replays. Appended only: nothing here updates or deletes a row.

use chrono::{DateTime, Utc};
use entities::audit_events;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde_json::Value;

use super::{Database, Error};
use crate::domain::ShopId;

/// Who acted, and from where.
#[derive(Debug, Clone)]
pub struct Actor {
    /// `key:<id> (<name>)`, or `cli` for the command line.
    pub name: String,
    pub key_id: Option<i64>,
    /// The client's address as the server saw it, or `cli`.
    pub source: String,
}

impl Actor {
    pub fn key(key_id: i64, key_name: &str, source: &str) -> Self {
        Self {
            name: format!("key:{key_id} ({key_name})"),
            key_id: Some(key_id),
            source: source.to_owned(),
        }
    }

    /// The operator at the command line (the OS user, when known).
    pub fn cli() -> Self {
        let user = std::env::var("USER").unwrap_or_default();
        Self {
            name: if user.is_empty() {
                "cli".into()
            } else {
                format!("cli ({user})")
            },
            key_id: None,
            source: "cli".into(),
        }
    }
}

/// One recorded action.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub key_id: Option<i64>,
    pub source: String,
    /// e.g. `api_key.created`, `stock.adjusted`.
    pub action: String,
    pub target: String,
    pub shop_id: Option<String>,
    pub detail: Value,
}

/// The audit store, over the shared pool.
#[derive(Clone, Copy)]
pub struct AuditStore<'a> {
    db: &'a Database,
}

impl Database {
    pub fn audit(&self) -> AuditStore<'_> {
        AuditStore { db: self }
    }
}

impl AuditStore<'_> {
    /// Appends what `actor` did: `action` on `target` (of `shop`, if a shop's), with `detail`.
    pub async fn record(
        &self,
        actor: &Actor,
        action: &str,
        target: &str,
        shop: Option<&ShopId>,
        detail: Value,
    ) -> Result<i64, Error> {
        let row = audit_events::ActiveModel {
            at: Set(Utc::now().fixed_offset()),
            actor: Set(actor.name.chars().take(200).collect()),
            key_id: Set(actor.key_id),
            source: Set(actor.source.chars().take(200).collect()),
            action: Set(action.to_owned()),
            target: Set(target.chars().take(300).collect()),
            shop_id: Set(shop.map(|s| s.as_str().to_owned())),
            detail: Set(detail.to_string()),
            ..Default::default()
        }
        .insert(&self.db.conn)
        .await?;
        Ok(row.id)
    }

    /// Entries after id `after` (oldest first), at most `limit`, only `action` if given.
    pub async fn list(
        &self,
        after: i64,
        limit: u64,
        action: Option<&str>,
    ) -> Result<Vec<AuditEntry>, Error> {
        let mut query = audit_events::Entity::find().filter(audit_events::Column::Id.gt(after));
        if let Some(action) = action {
            query = query.filter(audit_events::Column::Action.eq(action));
        }
        query
            .order_by_asc(audit_events::Column::Id)
            .limit(limit)
            .all(&self.db.conn)
            .await?
            .into_iter()
            .map(|row| {
                Ok(AuditEntry {
                    id: row.id,
                    at: row.at.with_timezone(&Utc),
                    actor: row.actor,
                    key_id: row.key_id,
                    source: row.source,
                    action: row.action,
                    target: row.target,
                    shop_id: row.shop_id,
                    detail: serde_json::from_str(&row.detail).unwrap_or(Value::Null),
                })
            })
            .collect()
    }
}
