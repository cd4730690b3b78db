//! One error type for everything HTTP answers, and one table from error to status and stable
//! machine code. Every error body is `application/problem+json` (RFC 9457). 5xx bodies stay
//! opaque; the log gets the whole cause chain.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::inventory;
use crate::persistence;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("missing or malformed Authorization header; expected `Bearer <api key>`")]
    MissingCredentials,
    #[error("the API key is not valid")]
    InvalidCredentials,
    #[error("this API key may not access {0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} already exists")]
    AlreadyExists(String),
    #[error("{0}")]
    BadRequest(String),
    /// A webhook whose signature does not verify.
    #[error("{0}")]
    InvalidSignature(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{method} is not allowed here; allowed: {allow}")]
    MethodNotAllowed { method: String, allow: String },
    /// A signed webhook that cannot be read; its body is kept in the quarantine table.
    #[error("{reason} (the body is kept as quarantined webhook {quarantine_id})")]
    MalformedWebhook { reason: String, quarantine_id: i64 },
    #[error("{0}")]
    NotReady(String),
    #[error("{0}")]
    Conflict(String),
    /// A retry of a request (same `Idempotency-Key`) that is still running.
    #[error("{0}")]
    InProgress(String),
    /// An `Idempotency-Key` used before with a different request.
    #[error("{0}")]
    KeyReused(String),
    /// A command without the version it expects the order to be at.
    #[error("{0}")]
    VersionRequired(String),
    /// Not enough stock for what was asked; nothing was changed.
    #[error("{0}")]
    InsufficientStock(String),
    #[error("{0}")]
    NotAllowed(String),
    /// Busy or a dependency is down: the client should retry (TikTok does).
    #[error("{0}")]
    Unavailable(String),
    /// Over the key's rate limit: nothing was done; try again after `retry_after` seconds.
    #[error("too many requests with this key; retry in {retry_after} s (limit: {policy})")]
    RateLimited { retry_after: u64, policy: String },
    /// A dashboard page without a live session: the browser is sent to sign in.
    #[error("sign in to see this page")]
    SignInRequired,
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl Error {
    /// The table: status and stable code for every error.
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Error::MissingCredentials => (StatusCode::UNAUTHORIZED, "missing_credentials"),
            Error::InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials"),
            Error::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Error::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Error::AlreadyExists(_) => (StatusCode::CONFLICT, "already_exists"),
            Error::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Error::InvalidSignature(_) => (StatusCode::UNAUTHORIZED, "invalid_signature"),
            Error::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Error::MethodNotAllowed { .. } => {
                (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
            }
            Error::MalformedWebhook { .. } => (StatusCode::BAD_REQUEST, "malformed_webhook"),
            Error::NotReady(_) => (StatusCode::SERVICE_UNAVAILABLE, "not_ready"),
            Error::Conflict(_) => (StatusCode::CONFLICT, "version_conflict"),
            Error::InProgress(_) => (StatusCode::CONFLICT, "request_in_progress"),
            Error::KeyReused(_) => (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused"),
            Error::VersionRequired(_) => (StatusCode::PRECONDITION_REQUIRED, "version_required"),
            Error::InsufficientStock(_) => (StatusCode::CONFLICT, "insufficient_stock"),
            Error::NotAllowed(_) => (StatusCode::UNPROCESSABLE_ENTITY, "not_allowed"),
            Error::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Error::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Error::SignInRequired => (StatusCode::SEE_OTHER, "sign_in_required"),
            Error::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    pub fn code(&self) -> &'static str {
        self.status_and_code().1
    }
}

/// The `problem+json` body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Problem<'a> {
    r#type: String,
    title: &'a str,
    status: u16,
    detail: String,
    code: &'a str,
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        self.status_and_code().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, code) = self.status_and_code();
        if let Error::SignInRequired = self {
            // htmx follows `HX-Redirect` (a fragment request must not swap the sign-in page in).
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, super::dashboard::SIGN_IN))
                .insert_header(("HX-Redirect", super::dashboard::SIGN_IN))
                .finish();
        }
        let detail = if matches!(self, Error::Internal(_)) {
            tracing::error!(error = ?anyhow_chain(self), "request failed");
            "the server could not complete the request; see its log".to_owned()
        } else {
            self.to_string()
        };
        let problem = Problem {
            r#type: format!("urn:creatorflow:problem:{code}"),
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail,
            code,
        };
        let mut response = HttpResponse::build(status);
        response.content_type("application/problem+json");
        if matches!(self, Error::MissingCredentials | Error::InvalidCredentials) {
            response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        }
        if let Error::MethodNotAllowed { allow, .. } = self
            && let Ok(allow) = HeaderValue::from_str(allow)
        {
            response.insert_header((header::ALLOW, allow));
        }
        // The RateLimit headers are the rate-limit middleware's (it answers every request).
        if let Error::RateLimited { retry_after, .. } = self {
            response.insert_header((header::RETRY_AFTER, *retry_after));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("5")));
        }
        response.json(problem)
    }
}

/// The error with its sources, for the log.
fn anyhow_chain(error: &Error) -> String {
    crate::telemetry::error_chain(error)
}

impl From<persistence::Error> for Error {
    fn from(error: persistence::Error) -> Self {
        match error {
            persistence::Error::NotFound(what) => Error::NotFound(what),
            persistence::Error::AlreadyExists(what) => Error::AlreadyExists(what),
            other => Error::Internal(other.into()),
        }
    }
}

/// A webhook TikTok sent: a storage failure is a 503, not a 500, since TikTok retries what is
/// not answered 200.
impl From<crate::integrations::tiktok::webhook::Error> for Error {
    fn from(error: crate::integrations::tiktok::webhook::Error) -> Self {
        use crate::integrations::tiktok::webhook::Error as E;
        match error {
            E::Engine(e) => e.into(),
            E::Storage(e) => {
                tracing::error!(error = ?anyhow::Error::from(e), "cannot record a TikTok webhook");
                Error::Unavailable("cannot record the webhook right now; retry later".into())
            }
        }
    }
}

/// A call to TikTok on a caller's behalf (the seller authorisation): what TikTok refused is the
/// caller's to fix; an unreachable or failing TikTok is worth a retry.
impl From<crate::integrations::tiktok::client::Error> for Error {
    fn from(error: crate::integrations::tiktok::client::Error) -> Self {
        use crate::integrations::tiktok::client::Error as E;
        match error {
            e @ (E::Api { .. } | E::Decode(_)) => {
                Error::BadRequest(format!("TikTok did not accept the request: {e}"))
            }
            e @ E::NotConfigured => Error::NotReady(e.to_string()),
            other => Error::Unavailable(format!("cannot reach TikTok now: {other}")),
        }
    }
}

impl From<crate::actors::Error> for Error {
    fn from(error: crate::actors::Error) -> Self {
        use crate::actors::Error as E;
        use crate::domain::Rejection;
        match error {
            E::Rejected(Rejection::NotFound(id)) => Error::NotFound(format!("order {id}")),
            E::Rejected(rejection @ Rejection::Conflict { .. }) => {
                Error::Conflict(rejection.to_string())
            }
            E::Rejected(Rejection::NotAllowed(why)) => Error::NotAllowed(why),
            E::Overloaded { .. } => Error::Unavailable("overloaded; retry later".into()),
            E::Journal(crate::journal::Error::NotOwner { slot }) => Error::Unavailable(format!(
                "this order's slot ({slot}) is held by another node of the cluster; retry"
            )),
            E::Unreachable { slot } => Error::Unavailable(format!(
                "the node holding this order's slot ({slot}) could not be reached; retry"
            )),
            E::Remote(why) => Error::Unavailable(format!("{why}; retry later")),
            other => {
                tracing::error!(error = ?anyhow::Error::from(other), "order engine failed");
                Error::Unavailable("the order engine cannot commit right now; retry later".into())
            }
        }
    }
}

impl From<crate::commands::Error> for Error {
    fn from(error: crate::commands::Error) -> Self {
        use crate::commands::Error as E;
        match error {
            E::NotFound(id) => Error::NotFound(format!("order {id}")),
            E::NotAllowed(why) => Error::NotAllowed(why),
            e @ E::Refused(..) => Error::NotAllowed(e.to_string()),
            E::TikTok(e) => e.into(),
            E::Engine(e) => e.into(),
            E::Storage(e) => e.into(),
        }
    }
}

impl From<inventory::Error> for Error {
    fn from(error: inventory::Error) -> Self {
        match error {
            inventory::Error::Db(e) => e.into(),
            e @ inventory::Error::Negative(_) => Error::NotAllowed(e.to_string()),
            e @ inventory::Error::Insufficient { .. } => Error::InsufficientStock(e.to_string()),
            e @ inventory::Error::Untracked(_) => Error::NotAllowed(e.to_string()),
        }
    }
}

impl From<crate::domain::search::Error> for Error {
    fn from(error: crate::domain::search::Error) -> Self {
        Error::BadRequest(error.to_string())
    }
}

impl From<crate::domain::Invalid> for Error {
    fn from(error: crate::domain::Invalid) -> Self {
        Error::BadRequest(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stock_shortage_is_its_own_answer_not_a_version_conflict() {
        let short = Error::from(inventory::Error::Insufficient {
            sku_id: "sku-1".into(),
            available: 2,
            wanted: 3,
        });
        assert_eq!(short.code(), "insufficient_stock");
        assert!(short.to_string().contains("2 available, 3 wanted"));
        let untracked = Error::from(inventory::Error::Untracked("sku-2".into()));
        assert_eq!(untracked.code(), "not_allowed");
    }
}
