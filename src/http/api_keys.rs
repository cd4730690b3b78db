//! API keys under `/api/v1/api-keys` (admin keys only), as `creatorflow apikey` manages them:
//! list, create (the key is in the answer once), revoke, rotate. Every change is audited. A key
//! cannot revoke or rotate itself here: the caller would lock itself out mid-session (the CLI
//! can).

use actix_web::http::header;
use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Caller, Error};
use crate::domain::{ApiKey, Role, Scope, ShopId};
use crate::persistence::{Database, KeyRecord};

/// A key as its list shows it: never the key itself, only its first characters.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct KeyBody {
    id: i64,
    name: String,
    /// The key's first characters, to tell keys apart.
    prefix: String,
    /// The one shop it sees; absent: every shop.
    shop_id: Option<String>,
    /// `read`, `operate` or `admin`.
    scope: String,
    created_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
    /// To the minute.
    last_used_at: Option<DateTime<Utc>>,
}

impl From<KeyRecord> for KeyBody {
    fn from(k: KeyRecord) -> Self {
        Self {
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            shop_id: k.shop_id,
            scope: k.role.as_str().to_owned(),
            created_at: k.created_at,
            revoked_at: k.revoked_at,
            expires_at: k.expires_at,
            last_used_at: k.last_used_at,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct KeyList {
    api_keys: Vec<KeyBody>,
}

/// A key just made: the only time the key itself is shown.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct CreatedKey {
    id: i64,
    /// The bearer key. Store it now: only its hash is kept.
    key: String,
}

/// Every key, oldest first, revoked and expired ones too.
#[utoipa::path(
    tag = "api-keys",
    responses((status = 200, description = "The keys", body = KeyList))
)]
#[get("/api-keys")]
pub(super) async fn list(caller: Caller, db: web::Data<Database>) -> Result<HttpResponse, Error> {
    caller.require_admin()?;
    let api_keys = db
        .keys()
        .list()
        .await?
        .into_iter()
        .map(KeyBody::from)
        .collect();
    Ok(HttpResponse::Ok().json(KeyList { api_keys }))
}

/// What a key may do.
#[derive(Deserialize, Clone, Copy, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(super) enum KeyScope {
    /// Look, change nothing.
    Read,
    /// Also commands, bulk jobs, stock, dead-letter replays.
    Operate,
    /// Also keys and shops.
    Admin,
}

impl From<KeyScope> for Role {
    fn from(scope: KeyScope) -> Self {
        match scope {
            KeyScope::Read => Role::Read,
            KeyScope::Operate => Role::Operate,
            KeyScope::Admin => Role::Admin,
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewKey {
    /// A name to recognise the key by.
    #[schema(min_length = 1, max_length = 100)]
    name: String,
    /// The one shop the key sees; absent: every shop.
    #[schema(value_type = Option<ShopId>)]
    shop_id: Option<String>,
    /// What the key may do; `admin` needs every shop.
    scope: KeyScope,
    /// When the key stops working (absent: never); must be in the future.
    expires_at: Option<DateTime<Utc>>,
}

/// Makes a key; the answer holds it, once.
#[utoipa::path(
    tag = "api-keys",
    request_body = NewKey,
    responses((status = 201, description = "Made", body = CreatedKey))
)]
#[post("/api-keys")]
pub(super) async fn create(
    caller: Caller,
    db: web::Data<Database>,
    body: web::Json<NewKey>,
) -> Result<HttpResponse, Error> {
    caller.require_admin()?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(Error::BadRequest(
            "name: 1 to 100 characters, no control characters".into(),
        ));
    }
    let scope = match &body.shop_id {
        Some(shop) => Scope::Shop(ShopId::parse(shop)?),
        None => Scope::Admin,
    };
    let role = Role::from(body.scope).check(&scope)?;
    if body.expires_at.is_some_and(|t| t <= Utc::now()) {
        return Err(Error::BadRequest(
            "expires_at: must be in the future".into(),
        ));
    }
    let key = ApiKey::from_random(rand::random());
    let id = db
        .keys()
        .add(&key, name, &scope, role, body.expires_at)
        .await?;
    caller
        .audit(
            &db,
            "api_key.created",
            &format!("api key {id}"),
            scope.narrow(None),
            json!({ "name": name, "scope": role, "expires_at": body.expires_at }),
        )
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(CreatedKey {
            id,
            key: key.reveal().to_owned(),
        }))
}

/// Refuses a change to the caller's own key.
fn not_own(caller: &Caller, id: i64, what: &str) -> Result<(), Error> {
    if caller.key_id == id {
        return Err(Error::Conflict(format!(
            "api key {id} is the key of this request: {what} it with another admin key or \
             `creatorflow apikey {what} {id}`"
        )));
    }
    Ok(())
}

/// Revokes a key at once: its requests are refused and its dashboard sessions end.
#[utoipa::path(
    tag = "api-keys",
    params(("id" = i64, Path, description = "The key's id")),
    responses((status = 204, description = "Revoked"))
)]
#[post("/api-keys/{id}/revoke")]
pub(super) async fn revoke(
    caller: Caller,
    db: web::Data<Database>,
    path: web::Path<i64>,
) -> Result<HttpResponse, Error> {
    caller.require_admin()?;
    let id = path.into_inner();
    not_own(&caller, id, "revoke")?;
    if !db.keys().revoke(id).await? {
        return Err(Error::NotFound(format!("live api key {id}")));
    }
    let target = format!("api key {id}");
    caller
        .audit(&db, "api_key.revoked", &target, None, json!({}))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Replaces a key: a new one with the same name, shop, scope and expiry (in the answer, once),
/// and the old one revoked.
#[utoipa::path(
    tag = "api-keys",
    params(("id" = i64, Path, description = "The key's id")),
    responses((status = 201, description = "The replacement", body = CreatedKey))
)]
#[post("/api-keys/{id}/rotate")]
pub(super) async fn rotate(
    caller: Caller,
    db: web::Data<Database>,
    path: web::Path<i64>,
) -> Result<HttpResponse, Error> {
    caller.require_admin()?;
    let id = path.into_inner();
    not_own(&caller, id, "rotate")?;
    let key = ApiKey::from_random(rand::random());
    let new = db
        .keys()
        .rotate(id, &key)
        .await?
        .ok_or_else(|| Error::NotFound(format!("live api key {id}")))?;
    let target = format!("api key {id}");
    let detail = json!({ "replacement": new });
    caller
        .audit(&db, "api_key.rotated", &target, None, detail)
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(CreatedKey {
            id: new,
            key: key.reveal().to_owned(),
        }))
}
