//! What GraphQL reads: orders (one, or a Relay connection over a search), a pick list, shops, stock,
//! workflows, dead letters, analytics and bulk jobs, each within the caller's scope.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Enum, ID, Object, Result};
use chrono::Utc;

use super::bulk::BulkJob;
use super::errors::{bad_input, fail};
use super::limits;
use super::order::{Order, page_size};
use super::shop::{Analytics, DeadLetter, Shop, StockLevel, Workflow};
use crate::domain::{OrderId, Search, ShopId};
use crate::http::Caller;
use crate::http::pick_list::PickListBody as PickList;
use crate::persistence::{Database, OrderFilter, cursor_of, parse_cursor};
use crate::workflow::Catalog;

pub struct Query;

/// What orders sort by (an index serves each).
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum OrderSortKeys {
    UpdatedAt,
}

fn caller<'a>(ctx: &Context<'a>) -> &'a Caller {
    ctx.data_unchecked::<Caller>()
}

/// An id argument that must be an order's.
pub fn order_id(id: &ID) -> Result<OrderId> {
    OrderId::parse(id.as_str()).map_err(|e| bad_input(format!("id: {}", e.reason)))
}

/// A shop id argument.
fn shop_id(id: Option<&str>) -> Result<Option<ShopId>> {
    id.map(ShopId::parse)
        .transpose()
        .map_err(|e| bad_input(format!("shopId: {}", e.reason)))
}

#[Object]
impl Query {
    /// An order, if it exists and this key may see it.
    async fn order(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Order>> {
        let id = order_id(&id)?;
        let db = ctx.data_unchecked::<Database>();
        let view = db
            .orders()
            .view(&caller(ctx).scope, &id)
            .await
            .map_err(fail)?;
        Ok(view.map(Order))
    }

    /// Orders, newest change first (`reverse` for oldest first), in pages of at most 250;
    /// `query` in the search syntax (`status:AWAITING_SHIPMENT tag:vip -stage:shipped`). No
    /// total is counted: `pageInfo` says whether more follow.
    #[graphql(complexity = "limits::page(first, last, child_complexity)")]
    #[allow(clippy::too_many_arguments)]
    async fn orders(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        query: Option<String>,
        sort_key: Option<OrderSortKeys>,
        reverse: Option<bool>,
    ) -> Result<Connection<String, Order>> {
        let size = page_size(first, last)?;
        let backward = last.is_some();
        let cursor = match (after, before) {
            (Some(_), Some(_)) => return Err(bad_input("give after or before, not both")),
            (Some(_), None) if backward => {
                return Err(bad_input("after goes with first; use before with last"));
            }
            (None, Some(_)) if !backward => {
                return Err(bad_input("before goes with last; use after with first"));
            }
            (after, before) => after.or(before),
        };
        let _ = sort_key.unwrap_or(OrderSortKeys::UpdatedAt);
        let search = query
            .as_deref()
            .map(Search::parse)
            .transpose()
            .map_err(|e| bad_input(format!("query: {e}")))?;
        let after = cursor
            .as_deref()
            .map(parse_cursor)
            .transpose()
            .map_err(|e| bad_input(e.to_string()))?;
        let had_cursor = after.is_some();
        let reverse = reverse.unwrap_or(false);
        let filter = OrderFilter {
            search,
            after,
            // Paging backward reads the other way from the cursor, then turns the page round.
            oldest_first: reverse != backward,
            limit: u64::try_from(size).unwrap_or(1) + 1,
            ..OrderFilter::default()
        };
        let db = ctx.data_unchecked::<Database>();
        let mut views = db
            .orders()
            .list_views(&caller(ctx).scope, &filter)
            .await
            .map_err(fail)?;
        let more = views.len() > usize::try_from(size).unwrap_or(0);
        views.truncate(usize::try_from(size).unwrap_or(0));
        if backward {
            views.reverse();
        }
        let (previous, next) = if backward {
            (more, had_cursor)
        } else {
            (had_cursor, more)
        };
        let mut connection = Connection::new(previous, next);
        connection.edges = views
            .into_iter()
            .map(|v| Edge::new(cursor_of(&v.order), Order(v)))
            .collect();
        Ok(connection)
    }

    /// The shops this key may see.
    async fn shops(&self, ctx: &Context<'_>) -> Result<Vec<Shop>> {
        let db = ctx.data_unchecked::<Database>();
        let shops = db.shops().list(&caller(ctx).scope).await.map_err(fail)?;
        Ok(shops.into_iter().map(Shop::from).collect())
    }

    /// Stock per SKU: a shop key's own shop; an administrator's, every shop's or `shopId`'s.
    async fn inventory(
        &self,
        ctx: &Context<'_>,
        shop_id: Option<String>,
        #[graphql(default = false)] low_only: bool,
    ) -> Result<Vec<StockLevel>> {
        let asked = self::shop_id(shop_id.as_deref())?;
        let db = ctx.data_unchecked::<Database>();
        let levels = db
            .stock()
            .levels(&caller(ctx).scope, asked.as_ref())
            .await
            .map_err(fail)?;
        Ok(levels
            .into_iter()
            .map(StockLevel::from)
            .filter(|l| !low_only || l.is_low())
            .collect())
    }

    /// The workflow templates, as loaded from the workflows folder.
    async fn workflows(&self, ctx: &Context<'_>) -> Vec<Workflow> {
        let catalog = ctx.data_unchecked::<std::sync::Arc<Catalog>>();
        catalog.templates().map(Workflow::from).collect()
    }

    /// Workflow steps that gave up, newest first.
    async fn dead_letters(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 50)] first: i32,
    ) -> Result<Vec<DeadLetter>> {
        let first = page_size(Some(first), None)?;
        let db = ctx.data_unchecked::<Database>();
        let letters = db
            .runs()
            .dead_letters(&caller(ctx).scope, u64::try_from(first).unwrap_or(1))
            .await
            .map_err(fail)?;
        Ok(letters.into_iter().map(DeadLetter::from).collect())
    }

    /// What to take off the shelves for the orders `query` matches (at most 1,000): each SKU's
    /// units over the orders that may leave now, and the orders held back with why.
    async fn pick_list(&self, ctx: &Context<'_>, query: Option<String>) -> Result<PickList> {
        let search = Search::parse(query.as_deref().unwrap_or_default())
            .map_err(|e| bad_input(format!("query: {e}")))?;
        let db = ctx.data_unchecked::<Database>();
        PickList::of(db, &caller(ctx).scope, search)
            .await
            .map_err(fail)
    }

    /// Orders and their pace over the last `days` (1 to 366).
    async fn analytics(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 30)] days: i32,
        shop_id: Option<String>,
    ) -> Result<Analytics> {
        if !(1..=366).contains(&days) {
            return Err(bad_input("days must be 1 to 366"));
        }
        let asked = self::shop_id(shop_id.as_deref())?;
        let since = Utc::now() - chrono::Duration::days(i64::from(days));
        let db = ctx.data_unchecked::<Database>();
        let summary = db
            .analytics()
            .summary(&caller(ctx).scope, asked.as_ref(), since)
            .await
            .map_err(fail)?;
        Ok(summary.into())
    }

    /// A bulk job, if this key may see it.
    async fn bulk_job(&self, ctx: &Context<'_>, id: ID) -> Result<Option<BulkJob>> {
        let Ok(id) = id.parse::<i64>() else {
            return Err(bad_input("id: not a bulk job id"));
        };
        let db = ctx.data_unchecked::<Database>();
        let job = db.bulk().get(id).await.map_err(fail)?;
        Ok(job
            .filter(|j| j.visible_to(&caller(ctx).scope))
            .map(BulkJob))
    }

    /// The bulk jobs this key may see, newest first.
    async fn bulk_jobs(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 50)] first: i32,
    ) -> Result<Vec<BulkJob>> {
        let first = page_size(Some(first), None)?;
        let db = ctx.data_unchecked::<Database>();
        let jobs = db
            .bulk()
            .list(&caller(ctx).scope, u64::try_from(first).unwrap_or(1))
            .await
            .map_err(fail)?;
        Ok(jobs.into_iter().map(BulkJob).collect())
    }
}
