//! Per-key rate limits on the API (`/api/v1/…` and `/graphql`): each bearer key (or, without
//! one, each client address) gets `http.rate_limit.per_second` requests a second with bursts of
//! `burst` (GCRA, governor). Every answer says where the key stands (`RateLimit-Policy`,
//! `RateLimit`, IETF httpapi draft); over the limit, 429 with `Retry-After`. The webhook route
//! is outside this middleware: TikTok's volume is never refused for it.

use std::num::NonZeroU32;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use super::Error;
use super::auth::{bearer, source_of};
use crate::config::RateLimitSettings;
use crate::domain::KeyHash;

type Limiter =
    RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

/// The limiter every API request passes, shared by the workers.
pub struct RateLimits {
    limiter: Option<Limiter>,
    /// `RateLimit-Policy`: the burst (`q`) over the seconds it takes to refill (`w`).
    policy: String,
    per_second: u32,
}

impl RateLimits {
    /// `None` limiter when `per_second` is 0 (limits off).
    pub fn new(settings: &RateLimitSettings) -> Self {
        let per_second = settings.per_second;
        let burst = settings.burst.max(per_second).max(1);
        let limiter = NonZeroU32::new(per_second).map(|rate| {
            let quota = Quota::per_second(rate).allow_burst(NonZeroU32::new(burst).unwrap_or(rate));
            RateLimiter::dashmap(quota).with_middleware::<StateInformationMiddleware>()
        });
        let window = burst.div_ceil(per_second.max(1));
        Self {
            limiter,
            policy: format!("\"per-key\";q={burst};w={window}"),
            per_second,
        }
    }

    /// Forgets keys that are back to a full burst (run now and then, so the map stays small).
    pub fn forget_idle(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
        }
    }
}

/// What a request is counted against: its key (hashed: the map never holds a key), or its
/// client address when it has none.
fn counted_as(req: &ServiceRequest) -> String {
    match bearer(req.request()) {
        Some(key) => KeyHash::of(key).as_str().to_owned(),
        None => format!("addr:{}", source_of(req.request())),
    }
}

fn header(name: &'static str, value: &str) -> (HeaderName, HeaderValue) {
    (
        HeaderName::from_static(name),
        HeaderValue::from_str(value).unwrap_or_else(|_| HeaderValue::from_static("")),
    )
}

/// The middleware: counts the request, refuses it with 429 over the limit, and says where the
/// key stands on every answer.
pub async fn limit(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let limits = req.app_data::<web::Data<RateLimits>>().cloned();
    let Some((limits, limiter)) = limits
        .as_ref()
        .and_then(|l| l.limiter.as_ref().map(|limiter| (l, limiter)))
    else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    let (mut response, remaining, reset) = match limiter.check_key(&counted_as(&req)) {
        Ok(state) => {
            let remaining = state.remaining_burst_capacity();
            let burst = state.quota().burst_size().get();
            let reset = (burst - remaining.min(burst)).div_ceil(limits.per_second);
            let response = next.call(req).await?.map_into_left_body();
            (response, remaining, u64::from(reset))
        }
        Err(not_until) => {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let retry_after = wait.max(Duration::from_secs(1)).as_secs_f64().ceil() as u64;
            let error = Error::RateLimited {
                retry_after,
                policy: limits.policy.clone(),
            };
            let response = req.error_response(error).map_into_right_body();
            (response, 0, retry_after)
        }
    };
    let headers = response.headers_mut();
    let (name, value) = header("ratelimit-policy", &limits.policy);
    headers.insert(name, value);
    let (name, value) = header("ratelimit", &format!("\"per-key\";r={remaining};t={reset}"));
    headers.insert(name, value);
    Ok(response)
}
