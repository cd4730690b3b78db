//! API-key authentication as an extractor: a handler that takes a [`Caller`] is authenticated,
//! and asks the caller's scope before touching a shop's data.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};

use super::Error;
use crate::domain::{KeyHash, Scope, ShopId};
use crate::persistence::Database;

/// The holder of a valid `Authorization: Bearer <key>`.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key_id: i64,
    pub name: String,
    pub scope: Scope,
}

impl Caller {
    /// The order `raw_id` names, if this caller may see it; another shop's order is simply not
    /// found (404), checked against the stored snapshot.
    pub async fn visible_order(
        &self,
        db: &crate::persistence::Database,
        id: crate::domain::OrderId,
    ) -> Result<crate::domain::OrderId, Error> {
        if !db.orders().visible(&self.scope, &id).await? {
            return Err(Error::NotFound(format!("order {id}")));
        }
        Ok(id)
    }

    /// Passes if this caller may act on `shop`; 403 otherwise.
    pub fn require_shop(&self, shop: &ShopId) -> Result<(), Error> {
        if self.scope.allows(shop) {
            Ok(())
        } else {
            Err(Error::Forbidden(format!("shop {shop}")))
        }
    }

    /// Passes for admin keys; 403 otherwise.
    pub fn require_admin(&self) -> Result<(), Error> {
        match self.scope {
            Scope::Admin => Ok(()),
            Scope::Shop(_) => Err(Error::Forbidden("administration".into())),
        }
    }
}

impl Caller {
    /// The holder of API key `key`, or why not.
    pub async fn of_key(db: &Database, key: &str) -> Result<Self, Error> {
        let owner = db
            .keys()
            .owner(&KeyHash::of(key))
            .await?
            .ok_or(Error::InvalidCredentials)?;
        Ok(Caller {
            key_id: owner.key_id,
            name: owner.name,
            scope: owner.scope,
        })
    }

    /// The caller a request's `Authorization: Bearer <key>` names.
    pub async fn authenticate(req: &HttpRequest) -> Result<Self, Error> {
        let key = bearer(req).ok_or(Error::MissingCredentials)?;
        let db = req
            .app_data::<web::Data<Database>>()
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("no database in app data")))?;
        Self::of_key(db, key).await
    }
}

impl FromRequest for Caller {
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { Caller::authenticate(&req).await })
    }
}

pub(super) fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}
