//! `Idempotency-Key` on every POST of the API: the first answer to a key is kept (per API key,
//! for a day) and a retry with the same key gets it again, marked `Idempotent-Replayed: true`,
//! instead of acting twice. The same key with a different request is refused (422), as is a
//! retry while the first is still running (409). Answers worth retrying (5xx, 429) are not
//! kept, so the retry runs; nor are answers that reveal a secret (`Cache-Control: no-store`: a
//! new API key, a subscription's signing secret), which must not rest in this table: a retry
//! of those acts again.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes};
use actix_web::{HttpResponse, ResponseError};
use sha2::{Digest, Sha256};

use super::Error;
use super::auth::bearer;
use crate::domain::KeyHash;
use crate::persistence::{Claim, Database};

const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

pub async fn replay(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(raw) = req.headers().get(IDEMPOTENCY_KEY).cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    if req.method() != Method::POST {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let key = match key_of(&raw) {
        Ok(key) => key,
        Err(e) => return Ok(req.error_response(e)),
    };
    let Some(owner) = bearer(req.request()).map(|token| KeyHash::of(token).as_str().to_owned())
    else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let Some(db) = req.app_data::<web::Data<Database>>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let body = req.extract::<Bytes>().await?;
    let fingerprint = {
        let mut digest = Sha256::new();
        for part in [
            req.method().as_str().as_bytes(),
            req.path().as_bytes(),
            req.query_string().as_bytes(),
            &body,
        ] {
            digest.update((part.len() as u64).to_be_bytes());
            digest.update(part);
        }
        hex::encode(digest.finalize())
    };
    let store = db.idempotency();
    match store.claim(&owner, &key, &fingerprint).await {
        Err(e) => return Ok(req.error_response(Error::from(e))),
        Ok(Claim::Mismatch) => {
            return Ok(req.error_response(Error::KeyReused(format!(
                "Idempotency-Key {key:?} was used with a different request"
            ))));
        }
        Ok(Claim::InProgress) => {
            return Ok(req.error_response(Error::InProgress(format!(
                "a request with Idempotency-Key {key:?} is still running; retry later"
            ))));
        }
        Ok(Claim::Answered {
            status,
            content_type,
            body,
        }) => {
            let mut response =
                HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::OK));
            if let Some(content_type) = content_type {
                response.insert_header((header::CONTENT_TYPE, content_type));
            }
            response.insert_header((REPLAYED, HeaderValue::from_static("true")));
            return Ok(req.into_response(response.body(body)));
        }
        Ok(Claim::Fresh) => {}
    }
    req.set_payload(body.into());
    let response = match next.call(req).await {
        Ok(response) => response,
        Err(e) => {
            store.release(&owner, &key).await.ok();
            return Err(e);
        }
    };
    let status = response.status();
    let (request, response) = response.into_parts();
    let (response, body) = response.into_parts();
    let bytes = match actix_web::body::to_bytes(body).await {
        Ok(bytes) => bytes,
        Err(_) => {
            store.release(&owner, &key).await.ok();
            let error = Error::Internal(anyhow::anyhow!("cannot read the response to keep it"));
            return Ok(ServiceResponse::new(request, error.error_response()));
        }
    };
    let secret = response
        .headers()
        .get(header::CACHE_CONTROL)
        .is_some_and(|v| v.as_bytes().windows(8).any(|w| w == b"no-store"));
    let kept = if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS || secret {
        store.release(&owner, &key).await
    } else {
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = String::from_utf8_lossy(&bytes).into_owned();
        store
            .complete(&owner, &key, status.as_u16(), content_type, text)
            .await
    };
    if let Err(e) = kept {
        // The request took effect; a retry will find the key claimed and be told to wait.
        tracing::warn!(error = %e, "cannot keep the answer to an idempotency key");
    }
    Ok(ServiceResponse::new(
        request,
        response.set_body(bytes).map_into_boxed_body(),
    ))
}

/// 1 to 255 visible ASCII characters (a UUID is typical).
fn key_of(raw: &HeaderValue) -> Result<String, Error> {
    let bad =
        || Error::BadRequest("Idempotency-Key must be 1 to 255 visible ASCII characters".into());
    let key = raw.to_str().map_err(|_| bad())?.trim();
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad());
    }
    Ok(key.to_owned())
}
