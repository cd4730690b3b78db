//! Signing in to the dashboard: an API key is exchanged for a server-side session held in an
//! HttpOnly, SameSite=Strict cookie (Secure when the request came over TLS); the key itself
//! never stays in the browser. Each session has a form token that every state-changing form
//! carries. Signing out ends the session; revoking the key ends all of its sessions.

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite, time};
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, get, post, web};
use chrono::Utc;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::{SIGN_IN, Who, page};
use crate::domain::Scope;
use crate::http::auth::source_of;
use crate::http::{Caller, Error};
use crate::persistence::Database;

const COOKIE: &str = "creatorflow_session";
/// How long a session lasts without signing in again.
const LIFETIME: chrono::TimeDelta = chrono::TimeDelta::hours(12);

/// A signed-in browser: who it is, its form token, and its cookie's token.
pub struct Viewer {
    pub caller: Caller,
    pub csrf: String,
    token: String,
}

impl Viewer {
    /// Passes if `presented` is this session's form token; a form from another site, or from
    /// a session that ended, is refused.
    pub fn check(&self, presented: &str) -> Result<(), Error> {
        if bool::from(self.csrf.as_bytes().ct_eq(presented.as_bytes())) {
            Ok(())
        } else {
            Err(Error::Forbidden(
                "this form (it is from an old page or another site; reload and try again)".into(),
            ))
        }
    }

    /// Passes if this session's key may change things; a read-only key's forms are refused
    /// (its pages show none).
    pub fn operate(&self, presented_csrf: &str) -> Result<(), Error> {
        self.check(presented_csrf)?;
        self.caller.require_operate()
    }

    /// What the page header shows.
    pub fn who(&self) -> Who {
        Who {
            operate: self.caller.role.may_operate(),
            name: self.caller.name.clone(),
            shop: match &self.caller.scope {
                Scope::Admin => None,
                Scope::Shop(shop) => Some(shop.as_str().to_owned()),
            },
            csrf: self.csrf.clone(),
        }
    }
}

impl FromRequest for Viewer {
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = req.cookie(COOKIE).map(|c| c.value().to_owned());
        let source = source_of(req);
        let db = req.app_data::<web::Data<Database>>().cloned();
        Box::pin(async move {
            let token = token.ok_or(Error::SignInRequired)?;
            let db =
                db.ok_or_else(|| Error::Internal(anyhow::anyhow!("no database in app data")))?;
            let session = db
                .sessions()
                .find(&token)
                .await?
                .ok_or(Error::SignInRequired)?;
            Ok(Viewer {
                caller: Caller {
                    key_id: session.owner.key_id,
                    name: session.owner.name,
                    scope: session.owner.scope,
                    role: session.owner.role,
                    source,
                },
                csrf: session.csrf,
                token,
            })
        })
    }
}

#[derive(askama::Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    who: Option<Who>,
    section: &'static str,
    problem: Option<String>,
}

/// The sign-in form.
#[utoipa::path(tag = "dashboard", responses((status = 200, description = "The sign-in form", body = String, content_type = "text/html")))]
#[get("/sign-in")]
pub(in crate::http) async fn sign_in_page() -> Result<HttpResponse, Error> {
    page(&SignInPage {
        who: None,
        section: "",
        problem: None,
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(in crate::http) struct SignInForm {
    key: String,
}

fn random_hex() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// Exchanges an API key for a session cookie, then opens the orders.
#[utoipa::path(
    tag = "dashboard",
    request_body(content = SignInForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Signed in: the cookie is set, on to the orders"),
        (status = 401, description = "Not a valid key: the form again, saying so", body = String, content_type = "text/html"),
    )
)]
#[post("/sign-in")]
pub(in crate::http) async fn sign_in(
    req: HttpRequest,
    db: web::Data<Database>,
    form: web::Form<SignInForm>,
) -> Result<HttpResponse, Error> {
    let caller = match Caller::of_key(&db, form.key.trim(), source_of(&req)).await {
        Ok(caller) => caller,
        Err(Error::InvalidCredentials) => {
            let mut response = page(&SignInPage {
                who: None,
                section: "",
                problem: Some("That is not a valid API key (or it was revoked).".into()),
            })?;
            *response.status_mut() = actix_web::http::StatusCode::UNAUTHORIZED;
            return Ok(response);
        }
        Err(other) => return Err(other),
    };
    let token = random_hex();
    db.sessions()
        .start(caller.key_id, &token, &random_hex(), Utc::now() + LIFETIME)
        .await?;
    let secure = req.connection_info().scheme() == "https";
    let cookie = Cookie::build(COOKIE, token)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .max_age(time::Duration::seconds(LIFETIME.num_seconds()))
        .finish();
    Ok(HttpResponse::SeeOther()
        .cookie(cookie)
        .insert_header((header::LOCATION, "/ui/orders"))
        .finish())
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(in crate::http) struct CsrfForm {
    csrf: String,
}

/// Ends the session and clears its cookie.
#[utoipa::path(
    tag = "dashboard",
    request_body(content = CsrfForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "Signed out: on to the sign-in form"))
)]
#[post("/sign-out")]
pub(in crate::http) async fn sign_out(
    viewer: Viewer,
    db: web::Data<Database>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, Error> {
    viewer.check(&form.csrf)?;
    db.sessions().end(&viewer.token).await?;
    let mut gone = Cookie::build(COOKIE, "").path("/").finish();
    gone.make_removal();
    Ok(HttpResponse::SeeOther()
        .cookie(gone)
        .insert_header((header::LOCATION, SIGN_IN))
        .finish())
}
