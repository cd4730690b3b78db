//! The dashboard's live stream: for each change to an order the viewer may see, an event named
//! after the order (`order-<id>`: its row or page refreshes itself) and a `changed` event (the
//! list asks for rows newer than its top), and for each visible bulk job's progress a `job-<id>`
//! event (its page refreshes). Only names: the page fetches what it shows.

use std::time::Duration;

use actix_web::{Responder, get, web};
use actix_web_lab::sse::{self, Sse};
use futures_util::stream;
use tokio::sync::broadcast::error::RecvError;

use super::session::Viewer;
use crate::domain::{Scope, ShopId};
use crate::http::Error;
use crate::live::{Hub, JobProgress, Kind, LiveEvent};

/// One page's subscription: order changes and job progress, within its scope.
struct Watching {
    receiver: tokio::sync::broadcast::Receiver<std::sync::Arc<LiveEvent>>,
    jobs: tokio::sync::broadcast::Receiver<std::sync::Arc<JobProgress>>,
    scope: Scope,
    pending: Option<sse::Event>,
}

/// An event that is only its name.
fn named(name: &str) -> sse::Event {
    sse::Data::new("").event(name.to_owned()).into()
}

/// Names of the orders that change, as they commit.
#[utoipa::path(
    tag = "dashboard",
    responses((status = 200, description = "`text/event-stream`: `order-<id>`, `changed` and `job-<id>` events", body = String, content_type = "text/event-stream"))
)]
#[get("/events")]
pub(in crate::http) async fn events(
    viewer: Viewer,
    hub: web::Data<Hub>,
) -> Result<impl Responder, Error> {
    let (receiver, _) = hub.subscribe();
    let jobs = hub.subscribe_jobs();
    let state = Watching {
        receiver,
        jobs,
        scope: viewer.caller.scope,
        pending: None,
    };
    let events = stream::unfold(state, |mut s| async move {
        if let Some(event) = s.pending.take() {
            return Some((event, s));
        }
        loop {
            tokio::select! {
                received = s.receiver.recv() => match received {
                    Ok(event) if event.kind == Kind::Order => {
                        let visible =
                            ShopId::parse(&event.shop_id).is_ok_and(|shop| s.scope.allows(&shop));
                        if !visible {
                            continue;
                        }
                        s.pending = Some(named("changed"));
                        return Some((named(&format!("order-{}", event.order_id)), s));
                    }
                    Ok(_) => continue,
                    // Behind: anything may have changed; the list refetches what is newer.
                    Err(RecvError::Lagged(_)) => return Some((named("changed"), s)),
                    Err(RecvError::Closed) => return None,
                },
                progress = s.jobs.recv() => match progress {
                    Ok(p) => {
                        let visible = match (&s.scope, p.shop_id.as_deref()) {
                            (Scope::Admin, _) => true,
                            (Scope::Shop(own), Some(shop)) => own.as_str() == shop,
                            (Scope::Shop(_), None) => false,
                        };
                        if visible {
                            return Some((named(&format!("job-{}", p.job_id)), s));
                        }
                    }
                    // A missed report is superseded by the next one.
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return None,
                },
            }
        }
    });
    Ok(Sse::from_infallible_stream(events)
        .with_keep_alive(Duration::from_secs(15))
        .with_retry_duration(Duration::from_secs(2)))
}
