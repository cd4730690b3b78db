//! API-key authentication as an extractor: a handler that takes a [`Caller`] is authenticated,
//! and asks the caller's scope before touching a shop's data.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::{Method, header};
use actix_web::{FromRequest, HttpRequest, web};

use super::Error;
use crate::domain::{KeyHash, Role, Scope, ShopId};
use crate::persistence::{Actor, Database};

/// The holder of a valid `Authorization: Bearer <key>`.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key_id: i64,
    pub name: String,
    pub scope: Scope,
    pub role: Role,
    /// The client's address as this server saw it (a proxy's, behind one).
    pub source: String,
}

/// The address a request came from, for the audit.
pub(super) fn source_of(req: &HttpRequest) -> String {
    req.peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
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
        match (&self.scope, self.role) {
            (Scope::Admin, Role::Admin) => Ok(()),
            _ => Err(Error::Forbidden("administration".into())),
        }
    }

    /// Passes for keys that may change things (not read-only ones); 403 otherwise.
    pub fn require_operate(&self) -> Result<(), Error> {
        if self.role.may_operate() {
            Ok(())
        } else {
            Err(Error::Forbidden("changes (this key is read-only)".into()))
        }
    }
}

impl Caller {
    /// This caller as the audit names it.
    pub fn actor(&self) -> Actor {
        Actor::key(self.key_id, &self.name, &self.source)
    }

    /// Records in the audit that this caller did `action` to `target`.
    pub async fn audit(
        &self,
        db: &Database,
        action: &str,
        target: &str,
        shop: Option<&ShopId>,
        detail: serde_json::Value,
    ) -> Result<(), Error> {
        db.audit()
            .record(&self.actor(), action, target, shop, detail)
            .await?;
        Ok(())
    }

    /// This caller giving an order a command.
    pub fn who(&self) -> crate::commands::Caller<'_> {
        crate::commands::Caller {
            scope: &self.scope,
            name: &self.name,
            dedupe: None,
        }
    }

    /// The holder of API key `key`, or why not; `source` is where the request came from.
    pub async fn of_key(db: &Database, key: &str, source: String) -> Result<Self, Error> {
        let owner = db
            .keys()
            .owner(&KeyHash::of(key))
            .await?
            .ok_or(Error::InvalidCredentials)?;
        Ok(Caller {
            key_id: owner.key_id,
            name: owner.name,
            scope: owner.scope,
            role: owner.role,
            source,
        })
    }

    /// The caller a request's `Authorization: Bearer <key>` names.
    pub async fn authenticate(req: &HttpRequest) -> Result<Self, Error> {
        let key = bearer(req).ok_or(Error::MissingCredentials)?;
        let db = req
            .app_data::<web::Data<Database>>()
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("no database in app data")))?;
        Self::of_key(db, key, source_of(req)).await
    }
}

impl FromRequest for Caller {
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    /// A request that is not a read (any method but GET and HEAD) needs a key that may change
    /// things: a read-only key is refused here, before any handler runs.
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let caller = Caller::authenticate(&req).await?;
            if !matches!(*req.method(), Method::GET | Method::HEAD) {
                caller.require_operate()?;
            }
            Ok(caller)
        })
    }
}

pub(super) fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}
