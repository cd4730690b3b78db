use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Caller, Error};
use crate::domain::{ShopId, ShopName};
use crate::persistence::{Database, Shop};

/// A shop.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct ShopBody {
    id: ShopId,
    name: String,
    /// Whether TikTok tokens are stored for it.
    authorized: bool,
    /// When the seller withdrew the authorisation.
    deauthorized_at: Option<DateTime<Utc>>,
    /// When the authorisation lapses, as TikTok announced.
    authorization_expires_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    /// Up to when the poller has read the shop's orders from TikTok.
    synced_until: Option<DateTime<Utc>>,
    /// Drift: orders the poller found changed that no webhook had brought, over all polls.
    sync_repaired: i64,
}

impl From<Shop> for ShopBody {
    fn from(s: Shop) -> Self {
        Self {
            id: s.id,
            name: s.name,
            authorized: s.authorized,
            deauthorized_at: s.deauthorized_at,
            authorization_expires_at: s.authorization_expires_at,
            created_at: s.created_at,
            synced_until: s.synced_until,
            sync_repaired: s.sync_repaired,
        }
    }
}

pub(super) fn bodies(shops: Vec<Shop>) -> Vec<ShopBody> {
    shops.into_iter().map(ShopBody::from).collect()
}

/// The shops this key may see: all for an admin key, its own for a shop key.
#[utoipa::path(
    tag = "shops",
    responses((status = 200, description = "The shops this key may see", body = Vec<ShopBody>))
)]
#[get("/shops")]
pub(super) async fn list(caller: Caller, db: web::Data<Database>) -> Result<HttpResponse, Error> {
    Ok(HttpResponse::Ok().json(bodies(db.shops().list(&caller.scope).await?)))
}

#[utoipa::path(
    tag = "shops",
    params(("shop_id" = ShopId, Path, description = "A TikTok shop id")),
    responses((status = 200, description = "OK", body = ShopBody))
)]
#[get("/shops/{shop_id}")]
pub(super) async fn show(
    caller: Caller,
    db: web::Data<Database>,
    path: web::Path<ShopId>,
) -> Result<HttpResponse, Error> {
    let id = path.into_inner();
    caller.require_shop(&id)?;
    let shop = db
        .shops()
        .get(&id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("shop {id}")))?;
    Ok(HttpResponse::Ok().json(ShopBody::from(shop)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewShop {
    #[schema(value_type = ShopId)]
    tiktok_shop_id: String,
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    name: String,
}

/// Registers a shop (admin keys only), as `creatorflow shop add` does.
#[utoipa::path(
    tag = "shops",
    request_body = NewShop,
    responses((status = 201, description = "Added", body = ShopBody))
)]
#[post("/shops")]
pub(super) async fn create(
    caller: Caller,
    db: web::Data<Database>,
    body: web::Json<NewShop>,
) -> Result<HttpResponse, Error> {
    caller.require_admin()?;
    let id = ShopId::parse(&body.tiktok_shop_id)?;
    let name = ShopName::parse(&body.name)?;
    let shop = db.shops().add(&id, &name).await?;
    let detail = serde_json::json!({ "name": name.as_str() });
    let target = format!("shop {id}");
    caller
        .audit(&db, "shop.added", &target, Some(&id), detail)
        .await?;
    Ok(HttpResponse::Created().json(ShopBody::from(shop)))
}
