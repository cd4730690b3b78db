//! `GET /api/v1/pick-list?query=`: what to take off the shelves for the orders a search matches
//! (each SKU's units over the orders that may leave now, as the dashboard's packing slips print
//! it), and the orders held back, each with why. GraphQL's `pickList` answers the same.

use actix_web::{HttpResponse, get, web};
use serde::{Deserialize, Serialize};

use super::{Caller, Error};
use async_graphql::ID;

use crate::domain::{OrderId, Scope, Search, hold_back, pick_list, slip_lines};
use crate::persistence::{Database, OrderFilter};

/// The most orders one pick list covers.
pub const MAX_ORDERS: usize = 1_000;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct PickQuery {
    /// The orders, in the order query syntax (`status:AWAITING_SHIPMENT ship_by:<now+24h`); all
    /// of the key's orders without it. At most 1,000 may match.
    query: Option<String>,
}

/// Units of one SKU to pick.
#[derive(Serialize, utoipa::ToSchema, async_graphql::SimpleObject)]
#[graphql(name = "PickLine")]
pub(super) struct PickLineBody {
    sku_id: String,
    /// The seller's own code for the SKU, when TikTok has one.
    seller_sku: Option<String>,
    /// The product and its variant.
    product: String,
    units: u32,
}

/// An order the search matched that must not leave now, and why.
#[derive(Serialize, utoipa::ToSchema, async_graphql::SimpleObject)]
#[graphql(name = "HeldBack")]
pub(super) struct HeldBackBody {
    #[schema(value_type = OrderId)]
    order_id: ID,
    reason: String,
}

/// What to take off the shelves (the REST body, and GraphQL's `PickList`).
#[derive(Serialize, utoipa::ToSchema, async_graphql::SimpleObject)]
#[graphql(name = "PickList")]
pub(super) struct PickListBody {
    /// Orders that may leave now (their units are on the list).
    orders: u64,
    units: u32,
    /// Sorted by the code a picker looks for (the seller's SKU code, else TikTok's SKU id).
    lines: Vec<PickLineBody>,
    held_back: Vec<HeldBackBody>,
}

impl PickListBody {
    /// The pick list of the orders `search` matches within `scope`; more than [`MAX_ORDERS`]
    /// is refused rather than cut short.
    pub async fn of(db: &Database, scope: &Scope, search: Search) -> Result<Self, Error> {
        let filter = OrderFilter {
            search: Some(search),
            limit: MAX_ORDERS as u64 + 1,
            ..OrderFilter::default()
        };
        let views = db.orders().list_views(scope, &filter).await?;
        if views.len() > MAX_ORDERS {
            return Err(Error::BadRequest(format!(
                "more than {MAX_ORDERS} orders match: narrow the query (one pick list covers at most {MAX_ORDERS})"
            )));
        }
        let ids: Vec<&str> = views.iter().map(|v| v.order.id.as_str()).collect();
        let requests = db.requests().open(&ids).await?;
        let mut held_back = Vec::new();
        let mut slips = Vec::new();
        for view in &views {
            let order = &view.order;
            match hold_back(
                &order.status,
                order.stage,
                order.stage_reason.as_deref(),
                view.detail.is_some(),
                requests.get(order.id.as_str()),
            ) {
                Some(reason) => held_back.push(HeldBackBody {
                    order_id: ID(order.id.as_str().to_owned()),
                    reason,
                }),
                None => slips.extend(view.detail.as_ref().map(|d| slip_lines(&d.items))),
            }
        }
        let lines: Vec<PickLineBody> = pick_list(slips.iter().map(Vec::as_slice))
            .into_iter()
            .map(|line| PickLineBody {
                sku_id: line.sku.as_str().to_owned(),
                seller_sku: line.seller_sku,
                product: line.product,
                units: line.units,
            })
            .collect();
        Ok(Self {
            orders: slips.len() as u64,
            units: lines.iter().map(|l| l.units).sum(),
            lines,
            held_back,
        })
    }
}

/// The pick list of the orders `query` matches within the key's shops.
#[utoipa::path(
    tag = "orders",
    params(PickQuery),
    responses(
        (status = 200, description = "Each SKU's units over the orders that may leave, and the orders held back (400 for a query that does not read, or more than 1,000 orders matching it)", body = PickListBody)
    )
)]
#[get("/pick-list")]
pub(super) async fn show(
    caller: Caller,
    db: web::Data<Database>,
    query: web::Query<PickQuery>,
) -> Result<HttpResponse, Error> {
    let search = Search::parse(query.query.as_deref().unwrap_or_default())?;
    Ok(HttpResponse::Ok().json(PickListBody::of(&db, &caller.scope, search).await?))
}
