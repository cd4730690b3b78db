//! `POST /webhooks/tiktok`: the raw bytes are verified before anything reads them, and TikTok is
//! answered 200 only once the notification is durable (committed, or kept in quarantine).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use metrics::counter;
use serde::{Deserialize, Serialize};

use super::openapi::Problem;
use super::{Caller, Error};
use crate::actors::RegistryHandle;
use crate::integrations::tiktok::{Topic, WebhookVerifier, notification, webhook};
use crate::persistence::{Database, QuarantineReason, QuarantinedWebhook};
use crate::telemetry::metrics::TIKTOK_WEBHOOKS_TOTAL;

/// What the webhook route needs besides the database and the engine.
#[derive(Clone)]
pub struct Ingress {
    /// The app's webhook signatures, keyed once; `None` while no app secret is set (then
    /// nothing verifies).
    verifier: Option<WebhookVerifier>,
    max_bytes: usize,
}

/// The `type` label of a webhook refused before it was read, and of one too broken to say.
const UNVERIFIED: &str = "UNVERIFIED";
const UNPARSED: &str = "UNPARSED";

impl Ingress {
    /// The route's settings. The refusals and quarantines that alerts count are exported at 0
    /// from the start: Prometheus sees no increase in a counter that first appears at 1, so
    /// the first refused or unreadable webhook would otherwise raise nothing.
    pub fn new(verifier: Option<WebhookVerifier>, max_bytes: usize) -> Self {
        counter!(TIKTOK_WEBHOOKS_TOTAL, "type" => UNVERIFIED, "outcome" => "invalid_signature")
            .increment(0);
        for kind in Topic::names().chain([UNPARSED]) {
            counter!(TIKTOK_WEBHOOKS_TOTAL, "type" => kind, "outcome" => "malformed").increment(0);
        }
        Self {
            verifier,
            max_bytes,
        }
    }
}

#[utoipa::path(
    tag = "webhooks",
    request_body(content = String, content_type = "application/json", description = "TikTok's notification, verified against the `Authorization` signature of its raw bytes"),
    responses((status = 200, description = "Recorded (or a duplicate, acknowledged)", body = Receipt), (status = 400, description = "Signed but unreadable: kept in quarantine", body = Problem, content_type = "application/problem+json"), (status = 401, description = "The signature does not verify", body = Problem, content_type = "application/problem+json"), (status = 413, description = "Larger than tiktok.max_webhook_bytes", body = Problem, content_type = "application/problem+json"), (status = 503, description = "Cannot record it now; TikTok retries", body = Problem, content_type = "application/problem+json"))
)]
#[post("/webhooks/tiktok")]
pub(super) async fn tiktok(
    req: HttpRequest,
    payload: web::Payload,
    ingress: web::Data<Ingress>,
    db: web::Data<Database>,
    registry: web::Data<RegistryHandle>,
) -> Result<HttpResponse, Error> {
    let rejected = |outcome: &'static str, error: Error| {
        counter!(TIKTOK_WEBHOOKS_TOTAL, "type" => UNVERIFIED, "outcome" => outcome).increment(1);
        error
    };
    let too_large = || {
        let limit = ingress.max_bytes;
        rejected(
            "too_large",
            Error::PayloadTooLarge(format!("webhook bodies are limited to {limit} bytes")),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|len| len > ingress.max_bytes) {
        return Err(too_large());
    }
    let body = read_body(payload, declared, ingress.max_bytes)
        .await
        .map_err(|e| Error::BadRequest(format!("cannot read the body: {e}")))?
        .ok_or_else(too_large)?;
    let signature = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes())
        .ok_or_else(|| {
            rejected(
                "invalid_signature",
                Error::InvalidSignature(
                    "the Authorization header (the signature) is missing".into(),
                ),
            )
        })?;
    if !ingress
        .verifier
        .as_ref()
        .is_some_and(|verifier| verifier.verify(&body, signature))
    {
        return Err(rejected(
            "invalid_signature",
            Error::InvalidSignature("the signature does not match the body".into()),
        ));
    }
    let notification = match notification::parse(&body) {
        Ok(notification) => notification,
        Err(malformed) => {
            let event_type = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("type")?.as_i64());
            // Boxed, as every rare path of a webhook is: the handler's future is allocated and
            // moved for every request, and was 6 KiB with these inside it (1.5 with them out).
            let id = Box::pin(db.webhooks().quarantine(
                QuarantineReason::Malformed,
                &malformed.0,
                event_type,
                &body,
            ))
            .await
            .map_err(webhook::Error::Storage)?;
            let kind = event_type.map_or(UNPARSED, Topic::name);
            counter!(TIKTOK_WEBHOOKS_TOTAL, "type" => kind, "outcome" => "malformed").increment(1);
            tracing::warn!(quarantine_id = id, reason = %malformed, "malformed TikTok webhook kept");
            return Err(Error::MalformedWebhook {
                reason: malformed.0,
                quarantine_id: id,
            });
        }
    };
    let receipt = webhook::accept(notification, &body, &db, &registry).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(answer(receipt)))
}

/// The body, whole, or `None` past `limit` bytes. Its buffer is the size the request declares:
/// actix-web's `to_bytes_limited` starts every streamed body at 32 KiB, and a webhook is a few
/// hundred bytes, so each one took 32 KiB, often fresh memory the kernel had to zero (a quarter of
/// the page zeroing in a profile under load; peak memory ~18 MB lower at 256 connections without
/// it, docs/PERFORMANCE.md, session 38).
async fn read_body(
    mut payload: web::Payload,
    declared: Option<usize>,
    limit: usize,
) -> Result<Option<web::Bytes>, actix_web::error::PayloadError> {
    /// For a body that does not say its size (chunked): most webhooks fit.
    const UNDECLARED: usize = 1024;
    let mut body = web::BytesMut::with_capacity(declared.unwrap_or(UNDECLARED).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk?;
        if body.len() + chunk.len() > limit {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body.freeze()))
}

/// The [`Receipt`] body for `receipt`, written out once: the same five answers, never serialised
/// again for each webhook.
fn answer(receipt: webhook::Receipt) -> &'static str {
    use webhook::Receipt as R;
    macro_rules! body {
        ($result:literal) => {
            concat!(
                r#"{"code":0,"message":"success","result":""#,
                $result,
                r#""}"#
            )
        };
    }
    match receipt {
        R::Applied => body!("applied"),
        R::Unchanged => body!("unchanged"),
        R::Duplicate => body!("duplicate"),
        R::Stored => body!("stored"),
        R::Parked => body!("parked"),
    }
}

/// What TikTok is answered: its own envelope, with what became of the notification.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct Receipt {
    code: i64,
    message: &'static str,
    /// `applied`, `unchanged`, `duplicate`, `quarantined`, …
    result: &'static str,
}

/// A webhook kept in quarantine.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct QuarantinedBody {
    id: i64,
    reason: QuarantineReason,
    detail: String,
    event_type: Option<i64>,
    /// The raw body; bytes that are not UTF-8 are shown as U+FFFD (`body_bytes` is exact).
    body: String,
    body_bytes: usize,
    received_at: DateTime<Utc>,
}

impl From<QuarantinedWebhook> for QuarantinedBody {
    fn from(w: QuarantinedWebhook) -> Self {
        Self {
            id: w.id,
            reason: w.reason,
            detail: w.detail,
            event_type: w.event_type,
            body: w.body,
            body_bytes: w.body_bytes,
            received_at: w.received_at,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct QuarantineList {
    webhooks: Vec<QuarantinedBody>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct QuarantineQuery {
    /// At most this many, newest first (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u64>,
}

/// Webhooks kept because they could not be used (admin only), newest first.
#[utoipa::path(
    tag = "webhooks",
    params(QuarantineQuery),
    responses((status = 200, description = "Signed webhooks that could not be read (admin)", body = QuarantineList))
)]
#[get("/webhooks/quarantine")]
pub(super) async fn quarantine(
    caller: Caller,
    db: web::Data<Database>,
    query: web::Query<QuarantineQuery>,
) -> Result<HttpResponse, Error> {
    caller.require_admin()?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(Error::BadRequest("limit must be 1 to 1000".into()));
    }
    let webhooks = db.webhooks().quarantined(limit, None).await?;
    Ok(HttpResponse::Ok().json(QuarantineList {
        webhooks: webhooks.into_iter().map(QuarantinedBody::from).collect(),
    }))
}

/// What a replay of a kept webhook did.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct ReplayedBody {
    id: i64,
    /// `applied`, `unchanged`, `duplicate` (or `parked`, in a cluster whose owner did not answer).
    pub(super) result: &'static str,
}

/// Reads kept webhook `id` again with this build's reader (admin only): one it now reads and
/// handles is taken in as if it had just arrived and leaves the quarantine, which the audit
/// records. One still unreadable, or still of a type this build does not handle, stays kept
/// and is refused naming why.
pub(super) async fn replay_kept(
    caller: &Caller,
    db: &Database,
    registry: &RegistryHandle,
    id: i64,
) -> Result<ReplayedBody, Error> {
    caller.require_admin()?;
    let not_kept = || Error::NotFound(format!("quarantined webhook {id}"));
    let body = db.webhooks().kept_body(id).await?.ok_or_else(not_kept)?;
    let receipt = match webhook::replay(&body, db, registry).await? {
        webhook::Replayed::Taken(receipt) => receipt,
        webhook::Replayed::Unreadable(why) => {
            return Err(Error::NotAllowed(format!(
                "quarantined webhook {id} is still unreadable: {why}; it stays kept"
            )));
        }
        webhook::Replayed::Unhandled(event_type) => {
            return Err(Error::NotAllowed(format!(
                "quarantined webhook {id} is of type {event_type}, which this build does not \
                 handle either; it stays kept"
            )));
        }
    };
    // Taken in (durably, or found a duplicate): a second replay finds nothing to do.
    db.webhooks().release(id).await?;
    let target = format!("quarantined webhook {id}");
    let detail = serde_json::json!({ "result": receipt.as_str() });
    caller
        .audit(db, "webhook.replayed", &target, None, detail)
        .await?;
    tracing::info!(
        quarantine_id = id,
        result = receipt.as_str(),
        "quarantined webhook replayed"
    );
    Ok(ReplayedBody {
        id,
        result: receipt.as_str(),
    })
}

/// Reads a kept webhook again with this build (admin only): taken in if it now reads and is
/// handled (then it leaves the quarantine); 422 naming why if not (it stays).
#[utoipa::path(
    tag = "webhooks",
    params(("id" = i64, Path, description = "A quarantined webhook's id")),
    responses((status = 200, description = "Taken in, and out of quarantine", body = ReplayedBody))
)]
#[post("/webhooks/quarantine/{id}/replay")]
pub(super) async fn replay(
    caller: Caller,
    db: web::Data<Database>,
    registry: web::Data<RegistryHandle>,
    path: web::Path<i64>,
) -> Result<HttpResponse, Error> {
    let replayed = replay_kept(&caller, &db, &registry, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(replayed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use webhook::Receipt as R;

    #[test]
    fn every_answer_is_the_receipt_tiktok_is_documented_to_get() {
        for receipt in [R::Applied, R::Unchanged, R::Duplicate, R::Stored, R::Parked] {
            let written: serde_json::Value = serde_json::from_str(answer(receipt)).unwrap();
            let documented = serde_json::to_value(Receipt {
                code: 0,
                message: "success",
                result: receipt.as_str(),
            })
            .unwrap();
            assert_eq!(written, documented);
        }
    }
}
