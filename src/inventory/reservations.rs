//! Reservations per order line in the stock ledger: taken, settled (released, expired, shipped),
//! and the waiting runs a freed unit wakes.
//!
//! A reservation takes stock with one conditional update (`reserved + q` only where `on_hand −
//! reserved >= q`), so concurrent reservations never oversell: on SQLite the write transaction
//! is exclusive, on PostgreSQL the row lock serialises the updates and each re-checks the
//! condition. The reservation rows (unique per order and SKU) make a repeated reservation a
//! no-op. Releases (cancel, expiry) and commits (ship) claim each line once, by its state.

use std::collections::HashMap;

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use entities::{stock_levels, stock_reservations};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use super::store::{Error, StockStore, level, low_stock_check};
use crate::domain::{Invalid, ReservationState, Sku};
use crate::persistence;

/// One reserved order line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationLine {
    pub sku_id: Sku,
    pub quantity: i64,
    /// false: the SKU has no stock record and was taken as always available.
    pub tracked: bool,
    pub state: ReservationState,
    pub expires_at: DateTime<Utc>,
}

/// What a reservation request did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    /// false: the order already held its reservation; nothing was taken again.
    pub new: bool,
    pub lines: Vec<ReservationLine>,
}

impl StockStore<'_> {
    /// Reserves every line of an order, all or nothing. Repeating it for the same order is a
    /// no-op that answers the reservation already held.
    pub async fn reserve(
        &self,
        order_id: &str,
        shop_id: &str,
        lines: &[(&str, i64)],
        ttl: std::time::Duration,
        require_tracking: bool,
    ) -> Result<Reservation, Error> {
        let held = self.reservation(order_id).await?;
        if !held.is_empty() {
            return Ok(Reservation {
                new: false,
                lines: held,
            });
        }
        let txn = self.db.begin_write().await?;
        let now = Utc::now();
        let expires_at = now + ChronoDuration::from_std(ttl).unwrap_or(ChronoDuration::days(3));
        let mut reserved = Vec::with_capacity(lines.len());
        for (sku_id, quantity) in lines {
            let line = new_line(order_id, shop_id, sku_id, *quantity, true, now, expires_at);
            let inserted = stock_reservations::Entity::insert(line)
                .on_conflict(once_per_order_and_sku())
                .exec_without_returning(&txn)
                .await?;
            if inserted == 0 {
                // Another worker reserved this order at the same time: its reservation stands.
                txn.rollback().await?;
                return Ok(Reservation {
                    new: false,
                    lines: self.reservation(order_id).await?,
                });
            }
            let record = level(&txn, shop_id, sku_id).await?;
            let tracked = match &record {
                None if require_tracking => {
                    txn.rollback().await?;
                    return Err(Error::Untracked((*sku_id).to_owned()));
                }
                None => false,
                Some(_) => {
                    let taken = stock_levels::Entity::update_many()
                        .col_expr(
                            stock_levels::Column::Reserved,
                            Expr::col(stock_levels::Column::Reserved).add(*quantity),
                        )
                        .col_expr(
                            stock_levels::Column::UpdatedAt,
                            Expr::value(now.fixed_offset()),
                        )
                        .filter(stock_levels::Column::ShopId.eq(shop_id))
                        .filter(stock_levels::Column::SkuId.eq(*sku_id))
                        .filter(
                            Expr::col(stock_levels::Column::OnHand)
                                .sub(Expr::col(stock_levels::Column::Reserved))
                                .gte(*quantity),
                        )
                        .exec(&txn)
                        .await?;
                    if taken.rows_affected == 0 {
                        let available = level(&txn, shop_id, sku_id)
                            .await?
                            .map_or(0, |l| l.on_hand - l.reserved);
                        txn.rollback().await?;
                        return Err(Error::Insufficient {
                            sku_id: (*sku_id).to_owned(),
                            available,
                            wanted: *quantity,
                        });
                    }
                    true
                }
            };
            if !tracked {
                stock_reservations::Entity::update_many()
                    .col_expr(stock_reservations::Column::Tracked, Expr::value(false))
                    .filter(stock_reservations::Column::OrderId.eq(order_id))
                    .filter(stock_reservations::Column::SkuId.eq(*sku_id))
                    .exec(&txn)
                    .await?;
            } else if let Some(after) = level(&txn, shop_id, sku_id).await? {
                // Derived from the row as our update left it (locked), not from an earlier read.
                let before = stock_levels::Model {
                    reserved: after.reserved - quantity,
                    ..after.clone()
                };
                low_stock_check(&txn, Some(&before), &after).await?;
            }
            reserved.push(ReservationLine {
                sku_id: Sku::parse(sku_id)
                    .map_err(|e| persistence::Error::Db(DbErr::Custom(e.to_string())))?,
                quantity: *quantity,
                tracked,
                state: ReservationState::Reserved,
                expires_at,
            });
        }
        txn.commit().await?;
        Ok(Reservation {
            new: true,
            lines: reserved,
        })
    }

    /// Reserves one SKU for several orders, `(order, quantity)` in the order given, in one
    /// transaction: one read of the level (locked on PostgreSQL), one insert of every granted
    /// reservation, one update of the level. Each order gets its answer: its new reservation, the
    /// one it already held, or too little stock (what was left when its turn came). `None`: the
    /// level moved under the batch (a writer outside it, PostgreSQL); nothing was written and
    /// the caller reserves one by one.
    pub async fn reserve_many(
        &self,
        shop_id: &str,
        sku_id: &str,
        orders: &[(&str, i64)],
        ttl: std::time::Duration,
        require_tracking: bool,
    ) -> Result<Option<Vec<Result<Reservation, Error>>>, Error> {
        let sku =
            Sku::parse(sku_id).map_err(|e| persistence::Error::Db(DbErr::Custom(e.to_string())))?;
        let txn = self.db.begin_write().await?;
        let now = Utc::now();
        let expires_at = now + ChronoDuration::from_std(ttl).unwrap_or(ChronoDuration::days(3));
        let ids: Vec<&str> = orders.iter().map(|(order, _)| *order).collect();
        let mut held: HashMap<String, Vec<stock_reservations::Model>> = HashMap::new();
        for row in stock_reservations::Entity::find()
            .filter(stock_reservations::Column::OrderId.is_in(ids))
            .order_by_asc(stock_reservations::Column::SkuId)
            .all(&txn)
            .await?
        {
            held.entry(row.order_id.clone()).or_default().push(row);
        }
        let mut read = stock_levels::Entity::find_by_id((shop_id.to_owned(), sku_id.to_owned()));
        if self.db.backend() == crate::config::Backend::Postgres {
            read = read.lock_exclusive();
        }
        let before = read.one(&txn).await?;
        let tracked = before.is_some();
        if !tracked && require_tracking {
            txn.rollback().await?;
            return Ok(Some(
                orders
                    .iter()
                    .map(|_| Err(Error::Untracked(sku_id.to_owned())))
                    .collect(),
            ));
        }
        let mut available = before.as_ref().map_or(i64::MAX, |l| l.on_hand - l.reserved);
        let mut answers: Vec<Result<Reservation, Error>> = Vec::with_capacity(orders.len());
        let mut granted: HashMap<&str, usize> = HashMap::new();
        let mut rows = Vec::new();
        let mut total = 0;
        for (order, quantity) in orders {
            if let Some(lines) = held.get(*order) {
                let lines = lines
                    .iter()
                    .map(reservation_line)
                    .collect::<Result<_, _>>()?;
                answers.push(Ok(Reservation { new: false, lines }));
                continue;
            }
            if let Some(&first) = granted.get(order) {
                // The same order twice in one batch: the second finds the first's reservation.
                let lines = match &answers[first] {
                    Ok(r) => r.lines.clone(),
                    Err(_) => Vec::new(),
                };
                answers.push(Ok(Reservation { new: false, lines }));
                continue;
            }
            if *quantity > available {
                answers.push(Err(Error::Insufficient {
                    sku_id: sku_id.to_owned(),
                    available,
                    wanted: *quantity,
                }));
                continue;
            }
            available -= quantity;
            total += quantity;
            granted.insert(order, answers.len());
            rows.push(new_line(
                order, shop_id, sku_id, *quantity, tracked, now, expires_at,
            ));
            answers.push(Ok(Reservation {
                new: true,
                lines: vec![ReservationLine {
                    sku_id: sku.clone(),
                    quantity: *quantity,
                    tracked,
                    state: ReservationState::Reserved,
                    expires_at,
                }],
            }));
        }
        let wanted = rows.len() as u64;
        if wanted > 0 {
            let inserted = stock_reservations::Entity::insert_many(rows)
                .on_conflict(once_per_order_and_sku())
                .exec_without_returning(&txn)
                .await?;
            if inserted != wanted {
                txn.rollback().await?;
                return Ok(None);
            }
        }
        if let Some(before) = before.filter(|_| total > 0) {
            let taken = stock_levels::Entity::update_many()
                .col_expr(
                    stock_levels::Column::Reserved,
                    Expr::col(stock_levels::Column::Reserved).add(total),
                )
                .col_expr(
                    stock_levels::Column::UpdatedAt,
                    Expr::value(now.fixed_offset()),
                )
                .filter(stock_levels::Column::ShopId.eq(shop_id))
                .filter(stock_levels::Column::SkuId.eq(sku_id))
                .filter(
                    Expr::col(stock_levels::Column::OnHand)
                        .sub(Expr::col(stock_levels::Column::Reserved))
                        .gte(total),
                )
                .exec(&txn)
                .await?;
            if taken.rows_affected == 0 {
                txn.rollback().await?;
                return Ok(None);
            }
            if let Some(after) = level(&txn, shop_id, sku_id).await? {
                low_stock_check(&txn, Some(&before), &after).await?;
            }
        }
        txn.commit().await?;
        Ok(Some(answers))
    }

    /// The order's reservation lines, in SKU order.
    pub async fn reservation(
        &self,
        order_id: &str,
    ) -> Result<Vec<ReservationLine>, persistence::Error> {
        stock_reservations::Entity::find()
            .filter(stock_reservations::Column::OrderId.eq(order_id))
            .order_by_asc(stock_reservations::Column::SkuId)
            .all(&self.db.conn)
            .await?
            .into_iter()
            .map(|r| reservation_line(&r))
            .collect()
    }

    /// Gives the order's reserved (not yet shipped) stock back; returns the lines released.
    pub async fn release(&self, order_id: &str) -> Result<usize, persistence::Error> {
        self.settle(Some(order_id), ReservationState::Released, None)
            .await
    }

    /// The order shipped: its reserved stock leaves the shelf (on hand and reserved both drop).
    pub async fn commit(&self, order_id: &str) -> Result<usize, persistence::Error> {
        self.settle(Some(order_id), ReservationState::Committed, None)
            .await
    }

    /// Releases reservations past their expiry; returns how many lines.
    pub async fn expire(&self, now: DateTime<Utc>) -> Result<usize, persistence::Error> {
        self.settle(None, ReservationState::Expired, Some(now))
            .await
    }

    /// Moves reserved lines (of one order, or all expired by `now`) to `to`, each once.
    async fn settle(
        &self,
        order_id: Option<&str>,
        to: ReservationState,
        expired_by: Option<DateTime<Utc>>,
    ) -> Result<usize, persistence::Error> {
        let txn = self.db.begin_write().await?;
        let mut query = stock_reservations::Entity::find()
            .filter(stock_reservations::Column::State.eq(ReservationState::Reserved.as_str()));
        if let Some(order) = order_id {
            query = query.filter(stock_reservations::Column::OrderId.eq(order));
        }
        if let Some(now) = expired_by {
            query = query.filter(stock_reservations::Column::ExpiresAt.lte(now.fixed_offset()));
        }
        // In one order, so two settlements of the same lines claim them in the same order and
        // never wait on each other in a circle.
        let found = query
            .order_by_asc(stock_reservations::Column::Id)
            .all(&txn)
            .await?;
        let now = Utc::now().fixed_offset();
        let mut lines = Vec::with_capacity(found.len());
        for line in found {
            // Claimed first, and only while still reserved: a settlement of the same line running
            // beside this one (a release racing a shipment, on PostgreSQL) waits on the row, then
            // finds it settled and leaves the level alone, so no line is counted off twice.
            let claimed = stock_reservations::Entity::update_many()
                .col_expr(stock_reservations::Column::State, Expr::value(to.as_str()))
                .col_expr(stock_reservations::Column::UpdatedAt, Expr::value(now))
                .filter(stock_reservations::Column::Id.eq(line.id))
                .filter(stock_reservations::Column::State.eq(ReservationState::Reserved.as_str()))
                .exec(&txn)
                .await?;
            if claimed.rows_affected == 0 {
                continue;
            }
            if line.tracked {
                let mut update = stock_levels::Entity::update_many()
                    .col_expr(
                        stock_levels::Column::Reserved,
                        Expr::col(stock_levels::Column::Reserved).sub(line.quantity),
                    )
                    .col_expr(stock_levels::Column::UpdatedAt, Expr::value(now));
                if to == ReservationState::Committed {
                    update = update.col_expr(
                        stock_levels::Column::OnHand,
                        Expr::col(stock_levels::Column::OnHand).sub(line.quantity),
                    );
                }
                update
                    .filter(stock_levels::Column::ShopId.eq(line.shop_id.as_str()))
                    .filter(stock_levels::Column::SkuId.eq(line.sku_id.as_str()))
                    .exec(&txn)
                    .await?;
                if let Some(after) = level(&txn, &line.shop_id, &line.sku_id).await? {
                    let shipped = if to == ReservationState::Committed {
                        line.quantity
                    } else {
                        0
                    };
                    let before = stock_levels::Model {
                        reserved: after.reserved + line.quantity,
                        on_hand: after.on_hand + shipped,
                        ..after.clone()
                    };
                    low_stock_check(&txn, Some(&before), &after).await?;
                }
            }
            lines.push(line);
        }
        txn.commit().await?;
        if to != ReservationState::Committed {
            let freed: std::collections::BTreeSet<(&str, &str)> = lines
                .iter()
                .filter(|l| l.tracked)
                .map(|l| (l.shop_id.as_str(), l.sku_id.as_str()))
                .collect();
            for (shop_id, sku_id) in freed {
                self.wake_after(shop_id, sku_id).await;
            }
        }
        Ok(lines.len())
    }

    /// Hands what is available of `sku_id` to the runs waiting for it, most urgent first (see
    /// [`crate::persistence::workflows::RunStore::wake_waiting`]). Called after every change that
    /// frees units has committed, and by the workflow runner after it records runs as waiting:
    /// whichever of the two comes second sees the other, so no wake is lost.
    pub async fn wake(&self, shop_id: &str, sku_id: &str) -> Result<u64, persistence::Error> {
        let Some(level) = stock_levels::Entity::find_by_id((shop_id.to_owned(), sku_id.to_owned()))
            .one(&self.db.conn)
            .await?
        else {
            return Ok(0);
        };
        let woken = self
            .db
            .runs()
            .wake_waiting(shop_id, sku_id, level.on_hand - level.reserved)
            .await?;
        if woken > 0 {
            tracing::info!(
                shop_id,
                sku_id,
                woken,
                "stock came back: waiting runs woken"
            );
        }
        Ok(woken)
    }

    /// [`wake`](Self::wake) after a change that freed units has committed: the change stands
    /// whatever happens here, so a failure is logged, not returned (which would report the
    /// change itself failed), and the waiting runs find the units at their next look.
    pub(super) async fn wake_after(&self, shop_id: &str, sku_id: &str) {
        if let Err(e) = self.wake(shop_id, sku_id).await {
            tracing::warn!(shop_id, sku_id, error = %e, "stock freed, but waking the runs waiting for it failed; they look again by themselves");
        }
    }
}

/// A reservation row being taken.
fn new_line(
    order_id: &str,
    shop_id: &str,
    sku_id: &str,
    quantity: i64,
    tracked: bool,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> stock_reservations::ActiveModel {
    stock_reservations::ActiveModel {
        order_id: Set(order_id.to_owned()),
        shop_id: Set(shop_id.to_owned()),
        sku_id: Set(sku_id.to_owned()),
        quantity: Set(quantity),
        tracked: Set(tracked),
        state: Set(ReservationState::Reserved.as_str().to_owned()),
        expires_at: Set(expires_at.fixed_offset()),
        created_at: Set(now.fixed_offset()),
        updated_at: Set(now.fixed_offset()),
        ..Default::default()
    }
}

/// An order holds one reservation row per SKU: a second insert of it is no insert.
fn once_per_order_and_sku() -> OnConflict {
    OnConflict::columns([
        stock_reservations::Column::OrderId,
        stock_reservations::Column::SkuId,
    ])
    .do_nothing()
    .to_owned()
}

fn reservation_line(r: &stock_reservations::Model) -> Result<ReservationLine, persistence::Error> {
    let bad = |e: Invalid| {
        persistence::Error::Db(DbErr::Custom(format!(
            "reservation of order {}: {e}",
            r.order_id
        )))
    };
    Ok(ReservationLine {
        sku_id: Sku::parse(&r.sku_id).map_err(bad)?,
        state: ReservationState::parse(&r.state).map_err(bad)?,
        quantity: r.quantity,
        tracked: r.tracked,
        expires_at: r.expires_at.to_utc(),
    })
}
