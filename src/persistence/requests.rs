//! The buyers' cancellation and return requests (`order_requests`), one row per request as
//! TikTok last reported it; the journal writes them (`journal::annotations`), these are the
//! reads: the ones waiting for the seller, every one of some orders, one by its id.

use std::collections::HashMap;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::orders::ROWS_PER_STATEMENT;
use super::{Database, Error};
use crate::domain::{AWAITING_SELLER, AfterSale, AfterSaleKind, OrderId};

pub struct RequestStore<'a> {
    db: &'a Database,
}

impl Database {
    pub fn requests(&self) -> RequestStore<'_> {
        RequestStore { db: self }
    }
}

impl RequestStore<'_> {
    /// A request TikTok waits for the seller to answer, of each of `ids` that has one (the
    /// newest reported, if several), from the requests' status index. The ids are orders the
    /// caller has already read within its scope.
    pub async fn open(&self, ids: &[&str]) -> Result<HashMap<String, AfterSale>, Error> {
        let mut open: HashMap<String, AfterSale> = HashMap::new();
        for chunk in ids.chunks(ROWS_PER_STATEMENT) {
            for row in entities::order_requests::Entity::find()
                .filter(entities::order_requests::Column::Status.is_in(AWAITING_SELLER))
                .filter(entities::order_requests::Column::OrderId.is_in(chunk.iter().copied()))
                .order_by_asc(entities::order_requests::Column::TiktokTime)
                .all(&self.db.conn)
                .await?
            {
                if let Some(request) = request_of(&row) {
                    open.insert(row.order_id, request);
                }
            }
        }
        Ok(open)
    }

    /// Every request of each of `ids`, as TikTok last reported it, oldest first (orders without
    /// requests are missing).
    pub async fn of(&self, ids: &[&str]) -> Result<HashMap<String, Vec<AfterSale>>, Error> {
        let mut requests: HashMap<String, Vec<AfterSale>> = HashMap::new();
        for chunk in ids.chunks(ROWS_PER_STATEMENT) {
            for row in entities::order_requests::Entity::find()
                .filter(entities::order_requests::Column::OrderId.is_in(chunk.iter().copied()))
                .order_by_asc(entities::order_requests::Column::TiktokTime)
                .all(&self.db.conn)
                .await?
            {
                if let Some(request) = request_of(&row) {
                    requests.entry(row.order_id).or_default().push(request);
                }
            }
        }
        Ok(requests)
    }

    /// Order `id`'s request `request_id`, as TikTok last reported it.
    pub async fn one(&self, id: &OrderId, request_id: &str) -> Result<Option<AfterSale>, Error> {
        Ok(entities::order_requests::Entity::find()
            .filter(entities::order_requests::Column::OrderId.eq(id.as_str()))
            .filter(entities::order_requests::Column::RequestId.eq(request_id))
            .order_by_desc(entities::order_requests::Column::TiktokTime)
            .one(&self.db.conn)
            .await?
            .as_ref()
            .and_then(request_of))
    }
}

/// A stored request as the domain reads it; only this daemon writes the kinds
/// (`AfterSaleKind::as_str`), so a row of another kind is none.
fn request_of(row: &entities::order_requests::Model) -> Option<AfterSale> {
    Some(AfterSale {
        kind: AfterSaleKind::parse(&row.kind)?,
        id: row.request_id.clone(),
        status: row.status.clone(),
        role: row.role.clone(),
        return_type: row.return_type.clone(),
        time: row.tiktok_time,
    })
}
