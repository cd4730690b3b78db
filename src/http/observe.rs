//! Per-request bookkeeping: the request id header and the HTTP metrics. Runs inside
//! `TracingLogger`, which opens the request span and assigns the id.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Instant;

use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use metrics::{Counter, Histogram, counter, histogram};
use tracing_actix_web::RequestId;

use crate::telemetry::metrics::{HTTP_REQUEST_DURATION_SECONDS, HTTP_REQUESTS_TOTAL};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A request's series: method, route pattern, status.
type Series = (Method, String, StatusCode);

thread_local! {
    /// The counter and histogram of every series this worker thread has answered: a request
    /// then costs one lookup here, not label strings and two registry lookups.
    static SERIES: RefCell<HashMap<Series, (Counter, Histogram)>> = RefCell::new(HashMap::new());
}

/// Counts a request and records how long it took.
fn record(series: Series, seconds: f64) {
    SERIES.with_borrow_mut(|known| {
        let (requests, duration) = known.entry(series).or_insert_with_key(|(m, r, s)| {
            let labels = [
                ("method", m.as_str().to_owned()),
                ("route", r.clone()),
                ("status", s.as_u16().to_string()),
            ];
            (
                counter!(HTTP_REQUESTS_TOTAL, &labels),
                histogram!(HTTP_REQUEST_DURATION_SECONDS, &labels),
            )
        });
        requests.increment(1);
        duration.record(seconds);
    });
}

pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().clone();
    let request_id = req.extensions().get::<RequestId>().copied();
    let mut response = next.call(req).await?;

    // Label by route pattern, never the raw path: ids in paths would make the series unbounded.
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    record(
        (method, route, response.status()),
        started.elapsed().as_secs_f64(),
    );

    if let Some(id) = request_id
        && let Ok(value) = HeaderValue::from_str(&id.to_string())
    {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    Ok(response)
}
