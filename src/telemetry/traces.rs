//! Traces over OTLP (HTTP, protobuf), off by default: `telemetry.otlp_endpoint` turns them on.
//!
//! One trace follows a webhook through the daemon: the HTTP request (a `traceparent` header it
//! carries is its parent), the order's actor (`order.apply`), the journal commit
//! (`journal.commit`), the relay (`relay.publish`, after the commit, from the log) and each
//! consumer of the bus (`bus.consume`), the context carried in the AMQP message's `traceparent`
//! header. The relay reads the log, not the actor's memory: the journal hands each committed
//! log position's context to [`carry`], which the relay takes back by position (kept for the
//! most recent positions only; after a restart the relay's spans start traces of their own).
//!
//! Off, none of this runs: every span is made only when [`on`] says so, and `Span::none()`
//! costs nothing. On, spans are exported in batches from a thread and a runtime of their own,
//! never on a request's path. Log lines written inside these spans carry their `trace_id`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RequestId, RootSpanBuilder};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::config::TelemetrySettings;

static ON: AtomicBool = AtomicBool::new(false);
static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// Log positions whose commit was traced, with the commit's context, for the relay.
static CARRIED: Mutex<BTreeMap<i64, Context>> = Mutex::new(BTreeMap::new());

/// Positions kept for the relay at most; older ones are forgotten (the relay is behind by more
/// than this only after an outage, when tracing each message matters least).
const CARRIED_MAX: usize = 65_536;

/// Whether traces are exported.
pub fn on() -> bool {
    ON.load(Ordering::Relaxed)
}

/// The layer that turns spans into OTLP spans, when `settings` name an endpoint; `None`
/// otherwise (and traces stay off). Call once, when the subscriber is installed.
pub fn layer<S>(
    settings: &TelemetrySettings,
) -> Result<Option<impl tracing_subscriber::Layer<S>>, opentelemetry_otlp::ExporterBuildError>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    if settings.otlp_endpoint.is_empty() {
        return Ok(None);
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(Exporting::start())
        .with_endpoint(settings.otlp_endpoint.clone())
        .with_timeout(Duration::from_secs(10))
        .build()?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name(settings.service_name.clone())
                .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
                .build(),
        )
        .build();
    let tracer = provider.tracer("creatorflow");
    if PROVIDER.set(provider).is_err() {
        return Ok(None);
    }
    ON.store(true, Ordering::Relaxed);
    Ok(Some(tracing_opentelemetry::layer().with_tracer(tracer)))
}

/// Exports what is still buffered; call before the process exits.
pub fn flush() {
    if let Some(provider) = PROVIDER.get()
        && let Err(e) = provider.shutdown_with_timeout(Duration::from_secs(5))
    {
        eprintln!("traces not all exported: {e}");
    }
}

/// The HTTP client the exporter sends with: our reqwest, on a one-thread runtime of its own
/// (the batch exporter runs on a plain thread, which has no runtime to drive a request).
#[derive(Debug)]
struct Exporting {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

impl Exporting {
    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("otlp-export")
            .enable_all()
            .build()
            .expect("a one-thread runtime for trace export");
        let handle = runtime.handle().clone();
        // Lives as long as the process: exports may come until the last flush.
        std::mem::forget(runtime);
        Self {
            client: reqwest::Client::new(),
            runtime: handle,
        }
    }
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for Exporting {
    async fn send_bytes(
        &self,
        request: opentelemetry_http::Request<opentelemetry_http::Bytes>,
    ) -> Result<
        opentelemetry_http::Response<opentelemetry_http::Bytes>,
        opentelemetry_http::HttpError,
    > {
        let (parts, body) = request.into_parts();
        let mut sent = self
            .client
            .request(parts.method, parts.uri.to_string())
            .body(body);
        for (name, value) in &parts.headers {
            sent = sent.header(name, value);
        }
        let answer = self
            .runtime
            .spawn(async move {
                let response = sent.send().await?.error_for_status()?;
                let status = response.status();
                let body = response.bytes().await?;
                Ok::<_, reqwest::Error>((status, body))
            })
            .await?
            .map_err(reqwest::Error::without_url)?;
        Ok(opentelemetry_http::Response::builder()
            .status(answer.0)
            .body(answer.1)?)
    }
}

/// The HTTP request's span. With traces on, tracing-actix-web's (OpenTelemetry's fields), with
/// `trace_id` recorded and the caller's `traceparent` as its parent. Off, a span only for the log
/// lines written inside the request: its method, path and request id.
pub struct RootSpan;

impl RootSpanBuilder for RootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        if !on() {
            // The log subscriber writes out a span's fields as the span opens, whether or not a
            // line is ever logged inside it: tracing-actix-web's sixteen (the connection's
            // details, the route, the user agent, then the status as it ends) cost the default
            // `info` level ~6 µs of an HTTP worker's CPU per request, as much as actix-web's
            // own work (docs/PERFORMANCE.md, session 54).
            if !tracing::span_enabled!(tracing::Level::INFO) {
                return Span::none();
            }
            let id = request.extensions().get::<RequestId>().copied();
            return tracing::info_span!(
                "HTTP request",
                method = %request.method(),
                path = %request.path(),
                request_id = id.map(tracing::field::display),
            );
        }
        let span = tracing_actix_web::root_span!(request, trace_id = tracing::field::Empty);
        let parent = TraceContextPropagator::new().extract(&Headers(request.headers()));
        if parent.span().span_context().is_valid() {
            let _ = span.set_parent(parent);
        }
        record_trace_id(&span);
        span
    }

    fn on_request_end<B: MessageBody>(
        span: Span,
        outcome: &Result<ServiceResponse<B>, actix_web::Error>,
    ) {
        // The lean span has no fields for the outcome (and the error's text is made only here).
        if on() {
            DefaultRootSpanBuilder::on_request_end(span, outcome);
        }
    }
}

struct Headers<'a>(&'a actix_web::http::header::HeaderMap);

impl opentelemetry::propagation::Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// Writes the span's trace id into its `trace_id` field, so log lines inside it carry it.
fn record_trace_id(span: &Span) {
    let trace_id = span.context().span().span_context().trace_id();
    span.record("trace_id", tracing::field::display(trace_id));
}

/// The span of an order's actor handling a message sent from within `caller`.
pub fn order_span(caller: &Span, order_id: &str) -> Span {
    if !on() {
        return Span::none();
    }
    let span = tracing::info_span!(parent: caller, "order.apply", order_id, trace_id = tracing::field::Empty);
    record_trace_id(&span);
    span
}

/// The span of a journal commit, inside the current span, and the context the relay will
/// continue from.
pub fn commit_span() -> (Span, Option<Context>) {
    if !on() {
        return (Span::none(), None);
    }
    let span = tracing::info_span!("journal.commit", trace_id = tracing::field::Empty);
    record_trace_id(&span);
    let context = span.context();
    (span, Some(context))
}

/// Keeps `context` for the log positions `positions` (a commit's rows), for the relay.
pub fn carry(positions: std::ops::Range<i64>, context: &Context) {
    let mut carried = CARRIED.lock().unwrap_or_else(|p| p.into_inner());
    for position in positions {
        carried.insert(position, context.clone());
    }
    while carried.len() > CARRIED_MAX {
        carried.pop_first();
    }
}

/// Forgets the carried contexts of positions up to `upto`: the relay's checkpoint is past them
/// (until then a publish that failed is attempted again, in the same trace).
pub fn forget_through(upto: i64) {
    if !on() {
        return;
    }
    let mut carried = CARRIED.lock().unwrap_or_else(|p| p.into_inner());
    let kept = carried.split_off(&(upto + 1));
    *carried = kept;
}

/// The span of the relay publishing the message of log position `position`, and the
/// `traceparent` the message carries to its consumers. `(none, None)` if traces are off or the
/// commit was not traced.
pub fn publish_span(position: i64) -> (Span, Option<String>) {
    if !on() {
        return (Span::none(), None);
    }
    let carried = CARRIED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&position)
        .cloned();
    let Some(parent) = carried else {
        return (Span::none(), None);
    };
    let span = tracing::info_span!(parent: None, "relay.publish", position, trace_id = tracing::field::Empty);
    let _ = span.set_parent(parent);
    record_trace_id(&span);
    let mut headers = HashMap::new();
    TraceContextPropagator::new().inject_context(&span.context(), &mut headers);
    (span, headers.remove("traceparent"))
}

/// The span of `subscription` handling a batch of deliveries, continuing the trace of the first
/// that carries one (linked to the others').
pub fn consume_span<'a>(
    subscription: &str,
    traceparents: impl IntoIterator<Item = &'a str>,
) -> Span {
    if !on() {
        return Span::none();
    }
    let propagator = TraceContextPropagator::new();
    let mut contexts = traceparents.into_iter().map(|traceparent| {
        let headers = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
        propagator.extract(&headers)
    });
    let Some(first) = contexts.next() else {
        return Span::none();
    };
    let span = tracing::info_span!(parent: None, "bus.consume", subscription, trace_id = tracing::field::Empty);
    let _ = span.set_parent(first);
    for other in contexts {
        span.add_link(other.span().span_context().clone());
    }
    record_trace_id(&span);
    span
}
