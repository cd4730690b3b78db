//! `GET /api/v1/events`: the live stream (Server-Sent Events) of order changes and new dead
//! letters, scoped to the caller's shops. Each event's id is its position in the log, so a
//! client that reconnects with `Last-Event-ID` (or `?last_event_id=`, as browsers' EventSource
//! cannot set headers) gets what it missed, up to [`REPLAY_WINDOW`] events back; further
//! back it gets a `reset` event (refetch what you show) and the stream goes on from now. A
//! client that reads too slowly is sent a final `dropped` event and disconnected: the engine
//! never waits for it.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header::HeaderName;
use actix_web::{HttpRequest, Responder, get, web};
use actix_web_lab::sse::{self, Sse};
use futures_util::stream as futures_stream;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use super::{Caller, Error};
use crate::domain::{Scope, ShopId};
use crate::live::{Hub, JobProgress, Kind, LiveEvent, REPLAY_WINDOW};

const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Rows read per query while replaying.
const REPLAY_READ: u64 = 2000;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct EventsQuery {
    /// Only this shop's events (a shop key gets only its own anyway).
    #[param(value_type = Option<ShopId>)]
    shop: Option<String>,
    /// Comma-separated kinds: `order`, `dead_letter`, `bulk_job` (default: all).
    types: Option<String>,
    /// Resume after this event id (the `Last-Event-ID` header wins).
    last_event_id: Option<i64>,
}

/// What one client asked to see.
struct Filter {
    scope: Scope,
    shop: Option<ShopId>,
    kinds: HashSet<Kind>,
}

impl Filter {
    fn wants_job(&self, progress: &JobProgress) -> bool {
        self.kinds.contains(&Kind::BulkJob)
            && match (&self.scope, progress.shop_id.as_deref()) {
                (Scope::Admin, shop) => self.shop.as_ref().is_none_or(|s| Some(s.as_str()) == shop),
                (Scope::Shop(own), Some(shop)) => own.as_str() == shop,
                (Scope::Shop(_), None) => false,
            }
    }

    fn wants(&self, event: &LiveEvent) -> bool {
        self.kinds.contains(&event.kind)
            && ShopId::parse(&event.shop_id).is_ok_and(|shop| {
                self.scope.allows(&shop) && self.shop.as_ref().is_none_or(|s| *s == shop)
            })
    }
}

fn message(event: &LiveEvent) -> sse::Event {
    let data = sse::Data::new_json(event).expect("a live event serialises");
    data.id(event.position.to_string())
        .event(event.kind.as_str())
        .into()
}

fn notice(kind: &'static str, data: serde_json::Value) -> sse::Event {
    sse::Data::new_json(data)
        .expect("JSON serialises")
        .event(kind)
        .into()
}

/// Order changes and new dead letters as they commit.
#[utoipa::path(
    tag = "orders",
    params(
        EventsQuery,
        ("Last-Event-ID" = Option<i64>, Header, description = "Resume after this event id"),
    ),
    responses((
        status = 200,
        description = "`text/event-stream`: `order` and `dead_letter` events (id = log position, data = the order's state after the change), `reset` when a resume reaches too far back, `dropped` before a too-slow client is disconnected; a comment every 15 s keeps it alive",
        body = String,
        content_type = "text/event-stream"
    ))
)]
#[get("/events")]
pub(super) async fn stream(
    req: HttpRequest,
    caller: Caller,
    hub: web::Data<Hub>,
    query: web::Query<EventsQuery>,
) -> Result<impl Responder, Error> {
    let query = query.into_inner();
    let shop = query.shop.as_deref().map(ShopId::parse).transpose()?;
    if let Some(shop) = &shop {
        caller.require_shop(shop)?;
    }
    let kinds = match query.types.as_deref() {
        None => Kind::ALL.into_iter().collect(),
        Some(raw) => raw
            .split(',')
            .map(|t| {
                Kind::parse(t.trim()).ok_or_else(|| {
                    Error::BadRequest(format!(
                        "unknown event type {t:?}; use order, dead_letter or bulk_job"
                    ))
                })
            })
            .collect::<Result<HashSet<_>, _>>()?,
    };
    let header = match req.headers().get(LAST_EVENT_ID) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|v| v.trim().parse::<i64>().ok())
                .ok_or_else(|| Error::BadRequest("Last-Event-ID must be an event id".into()))?,
        ),
    };
    let resume = header.or(query.last_event_id);
    let filter = Filter {
        scope: caller.scope,
        shop,
        kinds,
    };

    let jobs = hub.subscribe_jobs();
    let (receiver, sent) = hub.subscribe();
    let mut first: VecDeque<sse::Event> = VecDeque::new();
    let mut floor = sent;
    match resume {
        Some(after) if after < sent => {
            // The window is counted in events, not positions: a cluster's positions have gaps.
            let behind = hub
                .db()
                .log()
                .events_between(after, sent, REPLAY_WINDOW + 1)
                .await?;
            if behind > REPLAY_WINDOW {
                first.push_back(notice(
                    "reset",
                    serde_json::json!({ "reason": "too far back to replay; refetch, then follow on", "position": sent }),
                ));
            } else {
                let mut position = after;
                while position < sent {
                    let changes = hub.db().log().changes(position, sent, REPLAY_READ).await?;
                    let reached = if changes.len() as u64 == REPLAY_READ {
                        changes.last().map_or(sent, |c| c.position)
                    } else {
                        sent
                    };
                    for event in changes.into_iter().flat_map(LiveEvent::of) {
                        if filter.wants(&event) {
                            first.push_back(message(&event));
                        }
                    }
                    position = reached;
                }
            }
        }
        Some(after) => floor = after,
        None => {}
    }

    struct State {
        first: VecDeque<sse::Event>,
        receiver: tokio::sync::broadcast::Receiver<Arc<LiveEvent>>,
        jobs: tokio::sync::broadcast::Receiver<Arc<JobProgress>>,
        filter: Filter,
        floor: i64,
        done: bool,
    }
    let state = State {
        first,
        receiver,
        jobs,
        filter,
        floor,
        done: false,
    };
    let events = futures_stream::unfold(state, |mut s| async move {
        if let Some(event) = s.first.pop_front() {
            return Some((event, s));
        }
        if s.done {
            return None;
        }
        loop {
            let received = tokio::select! {
                event = s.receiver.recv() => event,
                progress = s.jobs.recv() => match progress {
                    Ok(p) if s.filter.wants_job(&p) => {
                        let event = sse::Data::new_json(&*p)
                            .expect("progress serialises")
                            .event(Kind::BulkJob.as_str())
                            .into();
                        return Some((event, s));
                    }
                    // A missed progress report is superseded by the next one.
                    Ok(_) | Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return None,
                },
            };
            match received {
                Ok(event) if event.position <= s.floor || !s.filter.wants(&event) => continue,
                Ok(event) => {
                    let message = message(&event);
                    return Some((message, s));
                }
                Err(RecvError::Lagged(missed)) => {
                    s.done = true;
                    let event = notice(
                        "dropped",
                        serde_json::json!({
                            "reason": "this client read too slowly; reconnect with Last-Event-ID to resume",
                            "missed": missed,
                        }),
                    );
                    return Some((event, s));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    });
    Ok(Sse::from_infallible_stream(events)
        .with_keep_alive(KEEP_ALIVE)
        .with_retry_duration(Duration::from_secs(2)))
}
