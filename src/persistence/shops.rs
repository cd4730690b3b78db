use chrono::{DateTime, Utc};
use entities::shops;
use sea_orm::{ActiveModelTrait, EntityTrait, QueryOrder, Set};
use serde::Serialize;

use super::{Database, Error};
use crate::domain::{Scope, ShopId, ShopName};

/// A shop as operators and the API see it.
#[derive(Debug, Clone, Serialize)]
pub struct Shop {
    pub id: String,
    pub name: String,
    /// Whether TikTok tokens are stored for it.
    pub authorized: bool,
    /// When the seller withdrew the authorisation (SELLER_DEAUTHORIZATION).
    pub deauthorized_at: Option<DateTime<Utc>>,
    /// When the authorisation lapses, as TikTok announced (UPCOMING_AUTHORIZATION_EXPIRATION).
    pub authorization_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<shops::Model> for Shop {
    fn from(row: shops::Model) -> Self {
        Self {
            id: row.id,
            name: row.name,
            authorized: row.access_token_enc.is_some(),
            deauthorized_at: row.deauthorized_at.map(|t| t.with_timezone(&Utc)),
            authorization_expires_at: row.authorization_expires_at.map(|t| t.with_timezone(&Utc)),
            created_at: row.created_at.with_timezone(&Utc),
        }
    }
}

impl Database {
    pub async fn add_shop(&self, id: &ShopId, name: &ShopName) -> Result<Shop, Error> {
        if self.shop(id).await?.is_some() {
            return Err(Error::AlreadyExists(format!("shop {id}")));
        }
        let now = Utc::now().fixed_offset();
        let row = shops::ActiveModel {
            id: Set(id.as_str().to_owned()),
            name: Set(name.as_str().to_owned()),
            shop_cipher: Set(None),
            region: Set(None),
            access_token_enc: Set(None),
            refresh_token_enc: Set(None),
            access_token_expires_at: Set(None),
            refresh_token_expires_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            deauthorized_at: Set(None),
            authorization_expires_at: Set(None),
            sync_cursor: Set(None),
        }
        .insert(&self.conn)
        .await?;
        Ok(row.into())
    }

    pub async fn shop(&self, id: &ShopId) -> Result<Option<Shop>, Error> {
        Ok(shops::Entity::find_by_id(id.as_str())
            .one(&self.conn)
            .await?
            .map(Shop::from))
    }

    /// The shops `scope` may see, by id.
    pub async fn shops(&self, scope: &Scope) -> Result<Vec<Shop>, Error> {
        match scope {
            Scope::Admin => Ok(shops::Entity::find()
                .order_by_asc(shops::Column::Id)
                .all(&self.conn)
                .await?
                .into_iter()
                .map(Shop::from)
                .collect()),
            Scope::Shop(id) => Ok(self.shop(id).await?.into_iter().collect()),
        }
    }
}
