use actix_web::{HttpResponse, get, post, web};
use serde::Deserialize;

use super::{Caller, Error};
use crate::domain::{ShopId, ShopName};
use crate::persistence::Database;

/// The shops this key may see: all for an admin key, its own for a shop key.
#[get("/shops")]
pub(super) async fn list(caller: Caller, db: web::Data<Database>) -> Result<HttpResponse, Error> {
    Ok(HttpResponse::Ok().json(db.shops().list(&caller.scope).await?))
}

#[get("/shops/{shop_id}")]
pub(super) async fn show(
    caller: Caller,
    db: web::Data<Database>,
    path: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let id = ShopId::parse(&path)?;
    caller.require_shop(&id)?;
    let shop = db
        .shops()
        .get(&id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("shop {id}")))?;
    Ok(HttpResponse::Ok().json(shop))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewShop {
    tiktok_shop_id: String,
    name: String,
}

/// Registers a shop (admin keys only), as `creatorflow shop add` does.
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
    Ok(HttpResponse::Created().json(shop))
}
