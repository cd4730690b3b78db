//! `GET /api/v1/analytics/summary?days=N&shop_id=`: orders by status, per shop and day,
//! time-to-ship and processing-latency percentiles, SLA breaches. A shop key sees its shop.

use actix_web::{HttpResponse, get, web};
use chrono::{Duration, Utc};
use serde::Deserialize;

use super::{Caller, Error};
use crate::domain::{Scope, ShopId};
use crate::persistence::Database;

#[derive(Deserialize)]
pub(super) struct SummaryQuery {
    days: Option<u32>,
    shop_id: Option<String>,
}

#[get("/analytics/summary")]
pub(super) async fn summary(
    caller: Caller,
    db: web::Data<Database>,
    query: web::Query<SummaryQuery>,
) -> Result<HttpResponse, Error> {
    let days = query.days.unwrap_or(30);
    if !(1..=366).contains(&days) {
        return Err(Error::BadRequest("days must be between 1 and 366".into()));
    }
    let shop = match (&caller.scope, &query.shop_id) {
        (Scope::Shop(own), _) => Some(own.as_str().to_owned()),
        (_, Some(shop)) => Some(ShopId::parse(shop)?.as_str().to_owned()),
        _ => None,
    };
    let since = Utc::now() - Duration::days(i64::from(days));
    Ok(HttpResponse::Ok().json(db.analytics().summary(shop.as_deref(), since).await?))
}
