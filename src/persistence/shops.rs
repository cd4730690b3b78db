use chrono::{DateTime, Utc};
use entities::shops;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveModelTrait, ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, Set};

use super::{Database, Error};
use crate::domain::{Scope, ShopId, ShopName};

/// A shop as operators and the API see it.
#[derive(Debug, Clone)]
pub struct Shop {
    pub id: ShopId,
    pub name: String,
    /// Whether TikTok tokens are stored for it.
    pub authorized: bool,
    /// When the seller withdrew the authorisation (SELLER_DEAUTHORIZATION).
    pub deauthorized_at: Option<DateTime<Utc>>,
    /// When the authorisation lapses, as TikTok announced (UPCOMING_AUTHORIZATION_EXPIRATION).
    pub authorization_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// Up to when the poller has read the shop's orders from TikTok.
    pub synced_until: Option<DateTime<Utc>>,
    /// Drift: orders the poller found changed that no webhook had brought, over all polls.
    pub sync_repaired: i64,
}

fn shop_id(row: &shops::Model) -> Result<ShopId, Error> {
    ShopId::parse(&row.id).map_err(|e| Error::Db(DbErr::Custom(format!("shop {}: {e}", row.id))))
}

impl TryFrom<shops::Model> for Shop {
    type Error = Error;

    fn try_from(row: shops::Model) -> Result<Self, Error> {
        Ok(Self {
            id: shop_id(&row)?,
            name: row.name,
            authorized: row.access_token_enc.is_some(),
            deauthorized_at: row.deauthorized_at.map(|t| t.with_timezone(&Utc)),
            authorization_expires_at: row.authorization_expires_at.map(|t| t.with_timezone(&Utc)),
            created_at: row.created_at.with_timezone(&Utc),
            synced_until: row.sync_cursor.and_then(|c| DateTime::from_timestamp(c, 0)),
            sync_repaired: row.sync_repaired,
        })
    }
}

/// The store of shops and their sealed TikTok tokens, over the shared pool.
#[derive(Clone, Copy)]
pub struct ShopStore<'a> {
    db: &'a Database,
}

impl Database {
    pub fn shops(&self) -> ShopStore<'_> {
        ShopStore { db: self }
    }
}

impl ShopStore<'_> {
    pub async fn add(&self, id: &ShopId, name: &ShopName) -> Result<Shop, Error> {
        if self.get(id).await?.is_some() {
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
            sync_repaired: Set(0),
        }
        .insert(&self.db.conn)
        .await?;
        row.try_into()
    }

    pub async fn get(&self, id: &ShopId) -> Result<Option<Shop>, Error> {
        shops::Entity::find_by_id(id.as_str())
            .one(&self.db.conn)
            .await?
            .map(Shop::try_from)
            .transpose()
    }

    /// The shops `scope` may see, by id.
    pub async fn list(&self, scope: &Scope) -> Result<Vec<Shop>, Error> {
        let mut query = shops::Entity::find().order_by_asc(shops::Column::Id);
        if let Scope::Shop(id) = scope {
            query = query.filter(shops::Column::Id.eq(id.as_str()));
        }
        let reader = self.db.reader(scope).await?;
        let rows = query.all(&reader).await?;
        reader.done();
        rows.into_iter().map(Shop::try_from).collect()
    }
}

/// A shop's TikTok authorisation as stored: tokens sealed by the integration's vault (this
/// layer never sees them in clear).
#[derive(Debug, Clone)]
pub struct ShopAuth {
    pub shop_id: ShopId,
    pub cipher: Option<String>,
    pub tokens: Option<SealedTokens>,
    pub deauthorized_at: Option<DateTime<Utc>>,
    /// Unix seconds up to which the poller has read the shop's orders.
    pub sync_cursor: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct SealedTokens {
    pub access: String,
    pub access_expires_at: DateTime<Utc>,
    pub refresh: String,
    pub refresh_expires_at: DateTime<Utc>,
}

/// A shop as TikTok's Get Authorized Shops describes it.
#[derive(Debug, Clone)]
pub struct AuthorizedShop {
    pub id: ShopId,
    pub name: String,
    pub region: Option<String>,
    pub cipher: Option<String>,
}

impl TryFrom<shops::Model> for ShopAuth {
    type Error = Error;

    fn try_from(row: shops::Model) -> Result<Self, Error> {
        let shop_id = shop_id(&row)?;
        let tokens = match (
            row.access_token_enc,
            row.access_token_expires_at,
            row.refresh_token_enc,
            row.refresh_token_expires_at,
        ) {
            (Some(access), Some(access_at), Some(refresh), Some(refresh_at)) => {
                Some(SealedTokens {
                    access,
                    access_expires_at: access_at.with_timezone(&Utc),
                    refresh,
                    refresh_expires_at: refresh_at.with_timezone(&Utc),
                })
            }
            _ => None,
        };
        Ok(Self {
            shop_id,
            cipher: row.shop_cipher,
            tokens,
            deauthorized_at: row.deauthorized_at.map(|t| t.with_timezone(&Utc)),
            sync_cursor: row.sync_cursor,
        })
    }
}

impl ShopStore<'_> {
    pub async fn auth(&self, id: &ShopId) -> Result<Option<ShopAuth>, Error> {
        shops::Entity::find_by_id(id.as_str())
            .one(&self.db.conn)
            .await?
            .map(ShopAuth::try_from)
            .transpose()
    }

    /// Shops with tokens that the seller has not withdrawn.
    pub async fn authorized(&self) -> Result<Vec<ShopAuth>, Error> {
        shops::Entity::find()
            .filter(shops::Column::AccessTokenEnc.is_not_null())
            .filter(shops::Column::DeauthorizedAt.is_null())
            .order_by_asc(shops::Column::Id)
            .all(&self.db.conn)
            .await?
            .into_iter()
            .map(ShopAuth::try_from)
            .collect()
    }

    /// Replaces a shop's tokens (after a refresh).
    pub async fn store_tokens(&self, id: &ShopId, tokens: &SealedTokens) -> Result<(), Error> {
        let row = shops::Entity::find_by_id(id.as_str())
            .one(&self.db.conn)
            .await?
            .ok_or_else(|| Error::NotFound(format!("shop {id}")))?;
        let mut row: shops::ActiveModel = row.into();
        set_tokens(&mut row, Some(tokens));
        row.updated_at = Set(Utc::now().fixed_offset());
        row.update(&self.db.conn).await?;
        Ok(())
    }

    /// Records a shop the seller authorised: created if new, else its name, region, cipher and
    /// tokens replaced and any earlier withdrawal forgotten. `name` overrides TikTok's name.
    pub async fn authorize(
        &self,
        shop: &AuthorizedShop,
        name: Option<&ShopName>,
        tokens: &SealedTokens,
    ) -> Result<Shop, Error> {
        let now = Utc::now().fixed_offset();
        let existing = shops::Entity::find_by_id(shop.id.as_str())
            .one(&self.db.conn)
            .await?;
        let name = name.map_or_else(|| shop.name.clone(), |n| n.as_str().to_owned());
        let row = match existing {
            Some(row) => {
                let mut row: shops::ActiveModel = row.into();
                row.name = Set(name);
                row.region = Set(shop.region.clone());
                row.shop_cipher = Set(shop.cipher.clone());
                row.deauthorized_at = Set(None);
                set_tokens(&mut row, Some(tokens));
                row.updated_at = Set(now);
                row.update(&self.db.conn).await?
            }
            None => {
                let mut row = shops::ActiveModel {
                    id: Set(shop.id.as_str().to_owned()),
                    name: Set(name),
                    shop_cipher: Set(shop.cipher.clone()),
                    region: Set(shop.region.clone()),
                    created_at: Set(now),
                    updated_at: Set(now),
                    deauthorized_at: Set(None),
                    authorization_expires_at: Set(None),
                    sync_cursor: Set(None),
                    sync_repaired: Set(0),
                    ..Default::default()
                };
                set_tokens(&mut row, Some(tokens));
                row.insert(&self.db.conn).await?
            }
        };
        row.try_into()
    }

    /// Moves the shop's sync cursor after a poll that repaired `repaired` orders.
    pub async fn set_sync_cursor(
        &self,
        id: &ShopId,
        cursor: i64,
        repaired: u64,
    ) -> Result<(), Error> {
        shops::Entity::update_many()
            .col_expr(shops::Column::SyncCursor, Expr::value(cursor))
            .col_expr(
                shops::Column::SyncRepaired,
                Expr::col(shops::Column::SyncRepaired).add(repaired as i64),
            )
            .filter(shops::Column::Id.eq(id.as_str()))
            .exec(&self.db.conn)
            .await?;
        Ok(())
    }
}

fn set_tokens(row: &mut shops::ActiveModel, tokens: Option<&SealedTokens>) {
    row.access_token_enc = Set(tokens.map(|t| t.access.clone()));
    row.refresh_token_enc = Set(tokens.map(|t| t.refresh.clone()));
    row.access_token_expires_at = Set(tokens.map(|t| t.access_expires_at.fixed_offset()));
    row.refresh_token_expires_at = Set(tokens.map(|t| t.refresh_expires_at.fixed_offset()));
}
