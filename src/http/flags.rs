//! Feature flags under `/api/v1/flags` (admin keys only): every configured flag with its
//! rollout, and `PUT` to change one at run time. A change takes effect at once, survives a
//! restart and is audited.

use actix_web::{HttpResponse, get, put, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Caller, Error};
use crate::domain::{Rollout, ShopId};
use crate::flags::{self, Flag, Flags};
use crate::persistence::Database;

/// A flag and who it reaches.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct FlagBody {
    name: String,
    description: String,
    /// Off: no shop has it, whatever the lists say.
    enabled: bool,
    /// Share of the shops on neither list that have it (0 to 100), by a stable hash of the
    /// flag's name and the shop id: raising it keeps the shops that had it.
    percent: u8,
    /// Shops that have it at any percentage.
    allow: Vec<String>,
    /// Shops that never have it.
    deny: Vec<String>,
    /// `config` (as configured) or `api` (changed at run time; wins over the configuration).
    source: &'static str,
    updated_at: Option<DateTime<Utc>>,
    updated_by: Option<String>,
    /// Whether the shop asked about (`?shop_id=`) has it.
    #[serde(skip_serializing_if = "Option::is_none")]
    on_for_shop: Option<bool>,
}

impl FlagBody {
    fn of(flag: Flag, shop: Option<&ShopId>) -> Self {
        let ids = |shops: &std::collections::BTreeSet<ShopId>| {
            shops.iter().map(|s| s.as_str().to_owned()).collect()
        };
        Self {
            on_for_shop: shop.map(|shop| flag.rollout.reaches(&flag.name, shop)),
            name: flag.name,
            description: flag.description,
            enabled: flag.rollout.enabled,
            percent: flag.rollout.percent,
            allow: ids(&flag.rollout.allow),
            deny: ids(&flag.rollout.deny),
            source: if flag.changed.is_some() {
                "api"
            } else {
                "config"
            },
            updated_at: flag.changed.as_ref().map(|c| c.at),
            updated_by: flag.changed.map(|c| c.by),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct FlagList {
    flags: Vec<FlagBody>,
}

/// Every configured flag, by name.
#[utoipa::path(
    tag = "flags",
    responses((status = 200, description = "The flags", body = FlagList))
)]
#[get("/flags")]
pub(super) async fn list(caller: Caller, flags: web::Data<Flags>) -> Result<HttpResponse, Error> {
    caller.require_admin()?;
    let flags = flags
        .list()
        .into_iter()
        .map(|f| FlagBody::of(f, None))
        .collect();
    Ok(HttpResponse::Ok().json(FlagList { flags }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct FlagQuery {
    /// Also say whether this shop has the flag.
    #[param(value_type = Option<ShopId>)]
    shop_id: Option<String>,
}

fn known(flags: &Flags, name: &str) -> Result<Flag, Error> {
    flags.get(name).ok_or_else(|| {
        Error::NotFound(format!(
            "flag `{name}` (flags are configured under [flags])"
        ))
    })
}

/// One flag; with `?shop_id=`, whether that shop has it.
#[utoipa::path(
    tag = "flags",
    params(("name" = String, Path, description = "The flag's name"), FlagQuery),
    responses((status = 200, description = "The flag", body = FlagBody))
)]
#[get("/flags/{name}")]
pub(super) async fn show(
    caller: Caller,
    flags: web::Data<Flags>,
    path: web::Path<String>,
    query: web::Query<FlagQuery>,
) -> Result<HttpResponse, Error> {
    caller.require_admin()?;
    let shop = query.shop_id.as_deref().map(ShopId::parse).transpose()?;
    let flag = known(&flags, &path)?;
    Ok(HttpResponse::Ok().json(FlagBody::of(flag, shop.as_ref())))
}

/// A flag's new rollout, replacing the one it has.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewRollout {
    enabled: bool,
    #[schema(minimum = 0, maximum = 100)]
    #[serde(deserialize_with = "super::whole::i64")]
    percent: i64,
    /// Shops that get it at any percentage.
    #[serde(default)]
    #[schema(value_type = Vec<ShopId>)]
    allow: Vec<String>,
    /// Shops that never get it.
    #[serde(default)]
    #[schema(value_type = Vec<ShopId>)]
    deny: Vec<String>,
}

/// Changes a flag's rollout: in effect at once, kept across restarts, audited.
#[utoipa::path(
    tag = "flags",
    params(("name" = String, Path, description = "The flag's name")),
    request_body = NewRollout,
    responses((status = 200, description = "The flag as it now is", body = FlagBody))
)]
#[put("/flags/{name}")]
pub(super) async fn set(
    caller: Caller,
    db: web::Data<Database>,
    flags: web::Data<Flags>,
    path: web::Path<String>,
    body: web::Json<NewRollout>,
) -> Result<HttpResponse, Error> {
    caller.require_admin()?;
    let before = known(&flags, &path)?;
    let percent = u32::try_from(body.percent)
        .map_err(|_| Error::BadRequest("percent: must be 0 to 100".into()))?;
    let rollout = Rollout::parse(body.enabled, percent, &body.allow, &body.deny)?;
    let flag = match flags.set(&db, &path, rollout, &caller.actor().name).await {
        Ok(flag) => flag,
        Err(flags::Error::Unknown(name)) => return Err(Error::NotFound(format!("flag `{name}`"))),
        Err(flags::Error::Storage(e)) => return Err(e.into()),
    };
    let after = FlagBody::of(flag, None);
    caller
        .audit(
            &db,
            "flag.changed",
            &format!("flag {}", after.name),
            None,
            json!({
                "before": { "enabled": before.rollout.enabled, "percent": before.rollout.percent,
                            "allow": before.rollout.allow.len(), "deny": before.rollout.deny.len() },
                "after": { "enabled": after.enabled, "percent": after.percent,
                           "allow": after.allow, "deny": after.deny },
            }),
        )
        .await?;
    Ok(HttpResponse::Ok().json(after))
}
