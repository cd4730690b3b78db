//! Seller authorisation: an operator asks for the TikTok authorisation link, the seller follows
//! it, and TikTok sends them back to the callback with a single-use code, which is exchanged
//! for tokens (stored sealed) and every shop they reach.

use actix_web::{HttpResponse, get, web};
use serde::{Deserialize, Serialize};

use super::openapi::Problem;
use super::shops::{ShopBody, bodies};
use super::{Caller, Error};
use crate::integrations::tiktok::App;
use crate::integrations::tiktok::client::Client;

/// The link to send a seller to (admin only).
#[utoipa::path(
    tag = "shops",
    responses((status = 200, description = "Where to send the seller", body = AuthorizeLink))
)]
#[get("/tiktok/authorize")]
pub(super) async fn authorize_link(
    caller: Caller,
    app: web::Data<App>,
    settings: web::Data<AuthBase>,
) -> Result<HttpResponse, Error> {
    caller.require_admin()?;
    if !app.is_configured() {
        return Err(Error::NotReady(
            "tiktok.app_key and tiktok.app_secret are not set".into(),
        ));
    }
    let state = app.issue_state();
    let url = format!(
        "{}/oauth/authorize?app_key={}&state={}",
        settings.0, app.key, state
    );
    Ok(HttpResponse::Ok().json(AuthorizeLink { url, state }))
}

/// Where to send the seller, and the `state` the callback will carry.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct AuthorizeLink {
    url: String,
    state: String,
}

/// The shops an authorisation reached.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct Authorized {
    authorized: Vec<ShopBody>,
}

/// `tiktok.auth_base_url`, for the link.
pub struct AuthBase(pub String);

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct Callback {
    code: Option<String>,
    state: Option<String>,
}

#[utoipa::path(
    tag = "shops",
    params(Callback),
    responses((status = 200, description = "The shops the seller authorised", body = Authorized), (status = 400, description = "Missing or unknown code or state", body = Problem, content_type = "application/problem+json"), (status = 503, description = "TikTok cannot be reached", body = Problem, content_type = "application/problem+json"))
)]
#[get("/oauth/tiktok/callback")]
pub(super) async fn callback(
    query: web::Query<Callback>,
    app: web::Data<App>,
    client: web::Data<Client>,
) -> Result<HttpResponse, Error> {
    let query = query.into_inner();
    let state = query.state.unwrap_or_default();
    if !app.check_state(&state) {
        return Err(Error::BadRequest(
            "the state is missing, expired or not one this daemon issued; start again from the authorisation link".into(),
        ));
    }
    let code = query
        .code
        .filter(|c| !c.trim().is_empty())
        .ok_or_else(|| Error::BadRequest("code is missing".into()))?;
    let shops = client.authorize(code.trim(), None, None).await?;
    Ok(HttpResponse::Ok().json(Authorized {
        authorized: bodies(shops),
    }))
}
