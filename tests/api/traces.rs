//! Traces: with `telemetry.otlp_endpoint` set, one webhook becomes one trace — the HTTP request
//! (continuing the caller's `traceparent`), the order's actor, the journal commit, the relay and
//! each bus consumer (over RabbitMQ, the context travels in the message's headers) — exported
//! over OTLP/HTTP to a collector (here a stand-in that decodes what it receives), and the log
//! lines inside carry the trace id.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;
use serde_json::json;
use tiktok_wire::signature::webhook_signature;

use crate::helpers::{Daemon, TestDb, eventually};
use crate::webhooks::{APP_KEY, APP_SECRET};

#[derive(Debug, Clone)]
struct Span {
    name: String,
    trace_id: String,
    span_id: String,
    parent: String,
    links: usize,
}

/// An OTLP/HTTP collector on a free port: every span it was sent.
async fn collector() -> (String, Arc<Mutex<Vec<Span>>>) {
    let spans = Arc::new(Mutex::new(Vec::new()));
    let kept = spans.clone();
    let server = HttpServer::new(move || {
        let kept = kept.clone();
        App::new().route(
            "/v1/traces",
            web::post().to(move |body: web::Bytes| {
                let kept = kept.clone();
                async move {
                    let request = ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
                    let hex =
                        |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
                    for span in request
                        .resource_spans
                        .iter()
                        .flat_map(|r| &r.scope_spans)
                        .flat_map(|s| &s.spans)
                    {
                        kept.lock().unwrap().push(Span {
                            name: span.name.clone(),
                            trace_id: hex(&span.trace_id),
                            span_id: hex(&span.span_id),
                            parent: hex(&span.parent_span_id),
                            links: span.links.len(),
                        });
                    }
                    HttpResponse::Ok()
                        .content_type("application/x-protobuf")
                        .body(Vec::new())
                }
            }),
        )
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let addr = server.addrs()[0];
    actix_rt::spawn(server.run());
    (format!("http://{addr}/v1/traces"), spans)
}

#[actix_web::test]
async fn a_webhook_is_one_trace_from_the_request_through_the_commit_to_the_consumers() {
    let (endpoint, spans) = collector().await;
    let db = TestDb::new().await;
    let mut daemon = Daemon::start_with(
        &db,
        &[
            ("CREATORFLOW__TIKTOK__APP_KEY", APP_KEY),
            ("CREATORFLOW__TIKTOK__APP_SECRET", APP_SECRET),
            ("CREATORFLOW__TELEMETRY__OTLP_ENDPOINT", &endpoint),
            ("CREATORFLOW__LOG__LEVEL", "info,creatorflow::actors=debug"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    );
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller = "00f067aa0ba902b7";
    let body = json!({
        "type": 1, "tts_notification_id": "traced-1", "shop_id": "7494049642642441621", "timestamp": 100,
        "data": { "order_id": "5770000000000001", "order_status": "AWAITING_SHIPMENT", "update_time": 100 }
    })
    .to_string();
    let signature = webhook_signature(APP_KEY, APP_SECRET.as_bytes(), body.as_bytes());
    let response = reqwest::Client::new()
        .post(format!("http://{}/webhooks/tiktok", daemon.addr))
        .header("authorization", signature)
        .header("traceparent", format!("00-{trace_id}-{caller}-01"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // Every span of the trace; a relay attempt the bus refused (RabbitMQ still connecting) is
    // a span too, and each subscription consumes in a span of its own.
    let names = [
        "order.apply",
        "journal.commit",
        "relay.publish",
        "bus.consume",
    ];
    let trace: Vec<Span> = eventually("the whole trace to be exported", || async {
        let trace: Vec<Span> = spans
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.trace_id == trace_id)
            .cloned()
            .collect();
        let root = trace.iter().any(|s| s.parent == caller);
        // Spans arrive in export batches: a consumer's may come before the relay span it
        // continues (a relay that the bus first refused publishes again, in a later span).
        let relayed = |consume: &Span| {
            trace
                .iter()
                .any(|s| s.name == "relay.publish" && s.span_id == consume.parent)
        };
        let consumed = trace
            .iter()
            .filter(|s| s.name == "bus.consume")
            .all(relayed);
        (root && consumed && names.iter().all(|n| trace.iter().any(|s| s.name == *n)))
            .then_some(trace)
    })
    .await;
    let named = |name: &'static str| trace.iter().filter(move |s| s.name == name);
    let root = trace.iter().find(|s| s.parent == caller).unwrap();
    assert_eq!(root.name, "POST /webhooks/tiktok", "{trace:#?}");
    let one = |name: &'static str| {
        let spans: Vec<&Span> = named(name).collect();
        assert_eq!(spans.len(), 1, "{name}: {trace:#?}");
        spans[0]
    };
    assert_eq!(one("order.apply").parent, root.span_id, "{trace:#?}");
    assert_eq!(one("journal.commit").parent, one("order.apply").span_id);
    for relay in named("relay.publish") {
        assert_eq!(relay.parent, one("journal.commit").span_id, "{trace:#?}");
    }
    for consume in named("bus.consume") {
        assert!(
            named("relay.publish").any(|relay| relay.span_id == consume.parent),
            "a consumer's span continues no relay span: {trace:#?}"
        );
        assert_eq!(consume.links, 0);
    }

    // The log line the actor writes inside its span carries the trace id.
    let line = daemon.wait_for_line(trace_id, Duration::from_secs(10));
    assert!(line.contains("order committed"), "{line}");
}
