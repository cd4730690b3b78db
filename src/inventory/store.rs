//! The stock ledger's levels per shop and SKU (on hand, reserved; available = on hand −
//! reserved): reading them, counting them (set, adjust), the ledger's error table. Reservations
//! per order line are in `reservations.rs`, over the same [`StockStore`].
//!
//! A change that takes a SKU's availability across its low-stock threshold owes a typed
//! [`LowStock`] message (the rule is `domain::low_stock`), written as an outbox row in the same
//! transaction.

use chrono::{DateTime, Utc};
use entities::{outbox, stock_levels, webhook_inbox};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Set,
};

use crate::domain::{Invalid, Level, LowStock, Scope, ShopId, Sku, low_stock};
use crate::persistence::{self, Database, WriteTxn};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockLevel {
    pub shop_id: ShopId,
    pub sku_id: Sku,
    pub on_hand: i64,
    pub reserved: i64,
    pub available: i64,
    pub low_stock_threshold: Option<i64>,
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<stock_levels::Model> for StockLevel {
    type Error = persistence::Error;

    fn try_from(row: stock_levels::Model) -> Result<Self, persistence::Error> {
        let (shop_id, sku_id) = ids(&row)?;
        Ok(Self {
            available: row.on_hand - row.reserved,
            shop_id,
            sku_id,
            on_hand: row.on_hand,
            reserved: row.reserved,
            low_stock_threshold: row.low_stock_threshold,
            updated_at: row.updated_at.to_utc(),
        })
    }
}

/// A stock row's shop and SKU, parsed.
fn ids(row: &stock_levels::Model) -> Result<(ShopId, Sku), persistence::Error> {
    let bad = |e: Invalid| {
        persistence::Error::Db(DbErr::Custom(format!(
            "stock of {} in shop {}: {e}",
            row.sku_id, row.shop_id
        )))
    };
    Ok((
        ShopId::parse(&row.shop_id).map_err(bad)?,
        Sku::parse(&row.sku_id).map_err(bad)?,
    ))
}

/// Why stock could not be reserved or changed. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not enough stock of {sku_id}: {available} available, {wanted} wanted")]
    Insufficient {
        sku_id: String,
        available: i64,
        wanted: i64,
    },
    #[error("SKU {0} has no stock record and inventory.require_tracking is on")]
    Untracked(String),
    #[error("on hand would become {0}; stock cannot go below zero")]
    Negative(i64),
    #[error(transparent)]
    Db(#[from] persistence::Error),
}

impl Error {
    /// For too little stock: the SKU short and the units wanted of it.
    pub fn shortage(&self) -> Option<(&str, i64)> {
        match self {
            Error::Insufficient { sku_id, wanted, .. } => Some((sku_id, *wanted)),
            _ => None,
        }
    }
}

impl From<sea_orm::DbErr> for Error {
    fn from(e: sea_orm::DbErr) -> Self {
        Error::Db(persistence::Error::Db(e))
    }
}

/// The store of the stock ledger: levels and reservations, over the shared pool.
#[derive(Clone, Copy)]
pub struct StockStore<'a> {
    pub(super) db: &'a Database,
}

impl Database {
    pub fn stock(&self) -> StockStore<'_> {
        StockStore { db: self }
    }
}

impl StockStore<'_> {
    /// Stock `scope` may see: a shop key's own shop, or the shop an administrator asks for
    /// (every shop if none).
    pub async fn levels(
        &self,
        scope: &Scope,
        asked: Option<&ShopId>,
    ) -> Result<Vec<StockLevel>, persistence::Error> {
        let mut query = stock_levels::Entity::find()
            .order_by_asc(stock_levels::Column::ShopId)
            .order_by_asc(stock_levels::Column::SkuId);
        if let Some(shop) = scope.narrow(asked) {
            query = query.filter(stock_levels::Column::ShopId.eq(shop.as_str()));
        }
        let reader = self.db.reader(scope).await?;
        let rows = query.all(&reader).await?;
        reader.done();
        rows.into_iter().map(StockLevel::try_from).collect()
    }

    pub async fn level(
        &self,
        shop_id: &str,
        sku_id: &str,
    ) -> Result<StockLevel, persistence::Error> {
        stock_levels::Entity::find_by_id((shop_id.to_owned(), sku_id.to_owned()))
            .one(&self.db.conn)
            .await?
            .map(StockLevel::try_from)
            .transpose()?
            .ok_or_else(|| {
                persistence::Error::NotFound(format!("stock of {sku_id} in shop {shop_id}"))
            })
    }

    /// Sets the counted stock on hand (a warehouse count, or an operator), creating the record
    /// (which makes the SKU tracked). `threshold`: `Some` replaces the low-stock threshold.
    /// `dedupe`: a command id; a command seen before changes nothing.
    pub async fn set(
        &self,
        shop_id: &str,
        sku_id: &str,
        on_hand: i64,
        threshold: Option<Option<i64>>,
        dedupe: Option<&str>,
    ) -> Result<StockLevel, Error> {
        if on_hand < 0 {
            return Err(Error::Negative(on_hand));
        }
        let txn = self.db.begin_write().await?;
        if !first_time(&txn, dedupe).await? {
            txn.rollback().await?;
            return Ok(self.level(shop_id, sku_id).await?);
        }
        let before = level(&txn, shop_id, sku_id).await?;
        let now = Utc::now().fixed_offset();
        let row = match before.clone() {
            Some(row) => {
                let mut active: stock_levels::ActiveModel = row.into();
                active.on_hand = Set(on_hand);
                if let Some(t) = threshold {
                    active.low_stock_threshold = Set(t);
                }
                active.updated_at = Set(now);
                active.update(&txn).await?
            }
            None => {
                stock_levels::ActiveModel {
                    shop_id: Set(shop_id.to_owned()),
                    sku_id: Set(sku_id.to_owned()),
                    on_hand: Set(on_hand),
                    reserved: Set(0),
                    low_stock_threshold: Set(threshold.flatten()),
                    updated_at: Set(now),
                }
                .insert(&txn)
                .await?
            }
        };
        low_stock_check(&txn, before.as_ref(), &row).await?;
        txn.commit().await?;
        self.wake_after(shop_id, sku_id).await;
        Ok(row.try_into()?)
    }

    /// Adds `delta` (negative: removes) to the stock on hand of a tracked SKU.
    pub async fn adjust(
        &self,
        shop_id: &str,
        sku_id: &str,
        delta: i64,
        dedupe: Option<&str>,
    ) -> Result<StockLevel, Error> {
        let txn = self.db.begin_write().await?;
        if !first_time(&txn, dedupe).await? {
            txn.rollback().await?;
            return Ok(self.level(shop_id, sku_id).await?);
        }
        // One atomic update, so concurrent adjustments add up (no read-modify-write).
        let changed = stock_levels::Entity::update_many()
            .col_expr(
                stock_levels::Column::OnHand,
                Expr::col(stock_levels::Column::OnHand).add(delta),
            )
            .col_expr(
                stock_levels::Column::UpdatedAt,
                Expr::value(Utc::now().fixed_offset()),
            )
            .filter(stock_levels::Column::ShopId.eq(shop_id))
            .filter(stock_levels::Column::SkuId.eq(sku_id))
            .filter(Expr::col(stock_levels::Column::OnHand).add(delta).gte(0))
            .exec(&txn)
            .await?;
        let Some(after) = level(&txn, shop_id, sku_id).await? else {
            return Err(persistence::Error::NotFound(format!(
                "stock of {sku_id} in shop {shop_id}"
            ))
            .into());
        };
        if changed.rows_affected == 0 {
            return Err(Error::Negative(after.on_hand + delta));
        }
        let before = stock_levels::Model {
            on_hand: after.on_hand - delta,
            ..after.clone()
        };
        low_stock_check(&txn, Some(&before), &after).await?;
        txn.commit().await?;
        if delta > 0 {
            self.wake_after(shop_id, sku_id).await;
        }
        Ok(after.try_into()?)
    }
}

pub(super) async fn level(
    txn: &WriteTxn,
    shop_id: &str,
    sku_id: &str,
) -> Result<Option<stock_levels::Model>, sea_orm::DbErr> {
    stock_levels::Entity::find_by_id((shop_id.to_owned(), sku_id.to_owned()))
        .one(txn)
        .await
}

/// Records a command id; false if it was seen before.
async fn first_time(txn: &WriteTxn, dedupe: Option<&str>) -> Result<bool, persistence::Error> {
    let Some(key) = dedupe else { return Ok(true) };
    let inserted = webhook_inbox::Entity::insert(webhook_inbox::ActiveModel {
        dedupe_key: Set(format!("inventory:{key}")),
        event_type: Set(0),
        shop_id: Set(None),
        order_id: Set(None),
        received_at: Set(Utc::now().fixed_offset()),
    })
    .on_conflict(
        OnConflict::column(webhook_inbox::Column::DedupeKey)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    Ok(inserted > 0)
}

/// Writes the `inventory.low_stock` message (see [`low_stock`]) this change owes, if any, in
/// the change's transaction (the relay publishes it).
pub(super) async fn low_stock_check(
    db: &impl ConnectionTrait,
    before: Option<&stock_levels::Model>,
    after: &stock_levels::Model,
) -> Result<(), sea_orm::DbErr> {
    let level = |row: &stock_levels::Model| Level {
        on_hand: row.on_hand,
        reserved: row.reserved,
        threshold: row.low_stock_threshold,
    };
    let (shop_id, sku_id) = ids(after).map_err(|e| DbErr::Custom(e.to_string()))?;
    let Some(message) = low_stock(&shop_id, &sku_id, before.map(level), level(after)) else {
        return Ok(());
    };
    metrics::counter!(crate::telemetry::metrics::INVENTORY_LOW_STOCK_TOTAL).increment(1);
    let payload = serde_json::to_value(&message).map_err(|e| DbErr::Custom(e.to_string()))?;
    outbox::Entity::insert(outbox::ActiveModel {
        routing_key: Set(LowStock::ROUTING_KEY.to_owned()),
        payload: Set(payload),
        attempts: Set(0),
        created_at: Set(Utc::now().fixed_offset()),
        ..Default::default()
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}
