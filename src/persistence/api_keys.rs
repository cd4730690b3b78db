use chrono::{DateTime, Utc};
use entities::api_keys;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
};

use super::{Database, Error};
use crate::domain::{ApiKey, KeyHash, Role, Scope, ShopId};

/// Who holds a presented key.
#[derive(Debug, Clone)]
pub struct KeyOwner {
    pub key_id: i64,
    pub name: String,
    pub scope: Scope,
    pub role: Role,
}

/// A key as its list shows it (never the key itself: only its first characters).
#[derive(Debug, Clone)]
pub struct KeyRecord {
    pub id: i64,
    pub name: String,
    pub prefix: String,
    pub shop_id: Option<String>,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    /// To the minute: refreshed at most once a minute.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// How stale `last_used_at` may get before a use writes it again: one write a minute per key,
/// not one per request.
const TOUCH_EVERY: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// The owner of a stored key, if it is live at `now` (neither revoked nor expired).
pub(super) fn live_owner(
    row: &api_keys::Model,
    now: DateTime<Utc>,
) -> Result<Option<KeyOwner>, Error> {
    if row.revoked_at.is_some() || row.expires_at.is_some_and(|t| t <= now) {
        return Ok(None);
    }
    let scope = match row.shop_id.as_deref() {
        None => Scope::Admin,
        Some(id) => Scope::Shop(ShopId::parse(id).map_err(|e| {
            Error::Db(sea_orm::DbErr::Custom(format!(
                "stored api key shop id: {e}"
            )))
        })?),
    };
    Ok(Some(KeyOwner {
        key_id: row.id,
        name: row.name.clone(),
        scope,
        role: role_of(&row.role)?,
    }))
}

/// The store of API keys, over the shared pool.
#[derive(Clone, Copy)]
pub struct KeyStore<'a> {
    db: &'a Database,
}

impl Database {
    pub fn keys(&self) -> KeyStore<'_> {
        KeyStore { db: self }
    }
}

impl KeyStore<'_> {
    /// Stores the hash of `key` under `name` with `scope`. A shop scope needs the shop to exist.
    pub async fn add(
        &self,
        key: &ApiKey,
        name: &str,
        scope: &Scope,
        role: Role,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<i64, Error> {
        let shop_id = match scope {
            Scope::Admin => None,
            Scope::Shop(id) => {
                if self.db.shops().get(id).await?.is_none() {
                    return Err(Error::NotFound(format!(
                        "shop {id} (add it first with `creatorflow shop add`)"
                    )));
                }
                Some(id.as_str().to_owned())
            }
        };
        let row = api_keys::ActiveModel {
            name: Set(name.to_owned()),
            prefix: Set(key.prefix()),
            key_hash: Set(key.hash().as_str().to_owned()),
            shop_id: Set(shop_id),
            created_at: Set(Utc::now().fixed_offset()),
            revoked_at: Set(None),
            role: Set(role.as_str().to_owned()),
            expires_at: Set(expires_at.map(|t| t.fixed_offset())),
            last_used_at: Set(None),
            ..Default::default()
        }
        .insert(&self.db.conn)
        .await?;
        Ok(row.id)
    }

    /// The owner of the key with this hash, unless there is none or it was revoked or expired.
    /// Read from the database on every call (no cache), so a revocation holds at once.
    pub async fn owner(&self, hash: &KeyHash) -> Result<Option<KeyOwner>, Error> {
        let Some(row) = api_keys::Entity::find()
            .filter(api_keys::Column::KeyHash.eq(hash.as_str()))
            .one(&self.db.conn)
            .await?
        else {
            return Ok(None);
        };
        let owner = live_owner(&row, Utc::now())?;
        if owner.is_some() {
            self.touch(&row).await?;
        }
        Ok(owner)
    }

    /// Records that `row`'s key was used now, unless that was recorded within the last minute.
    pub(super) async fn touch(&self, row: &api_keys::Model) -> Result<(), Error> {
        let now = Utc::now();
        if row
            .last_used_at
            .is_some_and(|t| now - t.with_timezone(&Utc) < TOUCH_EVERY)
        {
            return Ok(());
        }
        api_keys::Entity::update_many()
            .col_expr(api_keys::Column::LastUsedAt, now.fixed_offset().into())
            .filter(api_keys::Column::Id.eq(row.id))
            .exec(&self.db.conn)
            .await?;
        Ok(())
    }

    /// Every key, oldest first (revoked ones too, saying when).
    pub async fn list(&self) -> Result<Vec<KeyRecord>, Error> {
        api_keys::Entity::find()
            .order_by_asc(api_keys::Column::Id)
            .all(&self.db.conn)
            .await?
            .into_iter()
            .map(|row| {
                Ok(KeyRecord {
                    role: role_of(&row.role)?,
                    id: row.id,
                    name: row.name,
                    prefix: row.prefix,
                    shop_id: row.shop_id,
                    created_at: row.created_at.with_timezone(&Utc),
                    revoked_at: row.revoked_at.map(|t| t.with_timezone(&Utc)),
                    expires_at: row.expires_at.map(|t| t.with_timezone(&Utc)),
                    last_used_at: row.last_used_at.map(|t| t.with_timezone(&Utc)),
                })
            })
            .collect()
    }

    /// Revokes key `id` at once (its dashboard sessions end with it); `false` if there is no
    /// such key or it was revoked already.
    pub async fn revoke(&self, id: i64) -> Result<bool, Error> {
        let done = api_keys::Entity::update_many()
            .col_expr(
                api_keys::Column::RevokedAt,
                Utc::now().fixed_offset().into(),
            )
            .filter(api_keys::Column::Id.eq(id))
            .filter(api_keys::Column::RevokedAt.is_null())
            .exec(&self.db.conn)
            .await?;
        Ok(done.rows_affected > 0)
    }

    /// A new key with key `id`'s name, shops and role, and `id` revoked, in one transaction;
    /// `None` if `id` is not a live key.
    pub async fn rotate(&self, id: i64, key: &ApiKey) -> Result<Option<i64>, Error> {
        let txn = self.db.begin_write().await?;
        let Some(old) = api_keys::Entity::find_by_id(id)
            .filter(api_keys::Column::RevokedAt.is_null())
            .one(&txn)
            .await?
        else {
            txn.rollback().await?;
            return Ok(None);
        };
        let now = Utc::now().fixed_offset();
        let new = api_keys::ActiveModel {
            name: Set(old.name.clone()),
            prefix: Set(key.prefix()),
            key_hash: Set(key.hash().as_str().to_owned()),
            shop_id: Set(old.shop_id.clone()),
            created_at: Set(now),
            revoked_at: Set(None),
            role: Set(old.role.clone()),
            expires_at: Set(old.expires_at),
            last_used_at: Set(None),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        let mut old: api_keys::ActiveModel = old.into();
        old.revoked_at = Set(Some(now));
        old.update(&txn).await?;
        txn.commit().await?;
        Ok(Some(new.id))
    }

    pub async fn count(&self) -> Result<u64, Error> {
        Ok(api_keys::Entity::find().count(&self.db.conn).await?)
    }
}

/// A stored role, read back.
pub(super) fn role_of(raw: &str) -> Result<Role, Error> {
    Role::parse(raw)
        .map_err(|e| Error::Db(sea_orm::DbErr::Custom(format!("stored api key role: {e}"))))
}
