use chrono::Utc;
use entities::api_keys;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};

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
            ..Default::default()
        }
        .insert(&self.db.conn)
        .await?;
        Ok(row.id)
    }

    /// The owner of the key with this hash, unless there is none or it was revoked.
    pub async fn owner(&self, hash: &KeyHash) -> Result<Option<KeyOwner>, Error> {
        let Some(row) = api_keys::Entity::find()
            .filter(api_keys::Column::KeyHash.eq(hash.as_str()))
            .filter(api_keys::Column::RevokedAt.is_null())
            .one(&self.db.conn)
            .await?
        else {
            return Ok(None);
        };
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
            name: row.name,
            scope,
            role: role_of(&row.role)?,
        }))
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
