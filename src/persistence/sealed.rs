//! Every value stored sealed by the vault (sellers' access and refresh tokens, notification
//! subscriptions' signing secrets), listed and replaced one at a time, for re-sealing them
//! under a new key (`creatorflow secrets rotate`).

use entities::{shops, webhook_subscriptions};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

use super::{Database, Error};

/// Where a sealed value is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedColumn {
    AccessToken,
    RefreshToken,
    SubscriptionSecret,
}

/// One sealed value: its place and the value as stored.
#[derive(Debug, Clone)]
pub struct SealedValue {
    pub column: SealedColumn,
    /// The shop id, or the subscription id.
    pub row: String,
    pub value: String,
}

#[derive(Clone, Copy)]
pub struct SealedStore<'a> {
    db: &'a Database,
}

impl Database {
    pub fn sealed(&self) -> SealedStore<'_> {
        SealedStore { db: self }
    }
}

impl SealedStore<'_> {
    /// Every sealed value stored now.
    pub async fn all(&self) -> Result<Vec<SealedValue>, Error> {
        let mut values = Vec::new();
        let shops = shops::Entity::find()
            .select_only()
            .columns([
                shops::Column::Id,
                shops::Column::AccessTokenEnc,
                shops::Column::RefreshTokenEnc,
            ])
            .into_tuple::<(String, Option<String>, Option<String>)>()
            .all(&self.db.conn)
            .await?;
        for (id, access, refresh) in shops {
            for (column, value) in [
                (SealedColumn::AccessToken, access),
                (SealedColumn::RefreshToken, refresh),
            ] {
                if let Some(value) = value {
                    let row = id.clone();
                    values.push(SealedValue { column, row, value });
                }
            }
        }
        let subscriptions = webhook_subscriptions::Entity::find()
            .select_only()
            .columns([
                webhook_subscriptions::Column::Id,
                webhook_subscriptions::Column::SecretEnc,
            ])
            .into_tuple::<(i64, String)>()
            .all(&self.db.conn)
            .await?;
        for (id, value) in subscriptions {
            values.push(SealedValue {
                column: SealedColumn::SubscriptionSecret,
                row: id.to_string(),
                value,
            });
        }
        Ok(values)
    }

    /// Replaces `old` with `new`, unless the value changed meanwhile (a token refresh stored a
    /// new one): `false` then, and the newer value stays.
    pub async fn replace(&self, old: &SealedValue, new: &str) -> Result<bool, Error> {
        let done = match old.column {
            SealedColumn::AccessToken | SealedColumn::RefreshToken => {
                let column = if old.column == SealedColumn::AccessToken {
                    shops::Column::AccessTokenEnc
                } else {
                    shops::Column::RefreshTokenEnc
                };
                shops::Entity::update_many()
                    .col_expr(column, Expr::value(new))
                    .filter(shops::Column::Id.eq(old.row.as_str()))
                    .filter(column.eq(old.value.as_str()))
                    .exec(&self.db.conn)
                    .await?
            }
            SealedColumn::SubscriptionSecret => {
                let id: i64 = old.row.parse().map_err(|_| {
                    Error::Db(sea_orm::DbErr::Custom(format!(
                        "subscription id {}",
                        old.row
                    )))
                })?;
                webhook_subscriptions::Entity::update_many()
                    .col_expr(webhook_subscriptions::Column::SecretEnc, Expr::value(new))
                    .filter(webhook_subscriptions::Column::Id.eq(id))
                    .filter(webhook_subscriptions::Column::SecretEnc.eq(old.value.as_str()))
                    .exec(&self.db.conn)
                    .await?
            }
        };
        Ok(done.rows_affected == 1)
    }
}
