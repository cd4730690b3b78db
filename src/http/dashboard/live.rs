//! The dashboard's live stream: for each change to an order the viewer may see, an event named
//! after the order (`order-<id>`: its row or page refreshes itself) and a `changed` event (the
//! list asks for rows newer than its top). Only names: the page fetches what it shows.

use std::time::Duration;

use actix_web::{Responder, get, web};
use actix_web_lab::sse::{self, Sse};
use futures_util::stream;
use tokio::sync::broadcast::error::RecvError;

use super::session::Viewer;
use crate::domain::ShopId;
use crate::http::Error;
use crate::live::{Hub, Kind};

/// Names of the orders that change, as they commit.
#[utoipa::path(
    tag = "dashboard",
    responses((status = 200, description = "`text/event-stream`: `order-<id>` and `changed` events", body = String, content_type = "text/event-stream"))
)]
#[get("/events")]
pub(in crate::http) async fn events(
    viewer: Viewer,
    hub: web::Data<Hub>,
) -> Result<impl Responder, Error> {
    let (receiver, _) = hub.subscribe();
    let scope = viewer.caller.scope;
    let events = stream::unfold(
        (receiver, scope, None::<sse::Event>),
        |(mut receiver, scope, pending)| async move {
            if let Some(event) = pending {
                return Some((event, (receiver, scope, None)));
            }
            loop {
                match receiver.recv().await {
                    Ok(event) if event.kind == Kind::Order => {
                        let visible = ShopId::parse(&event.shop_id).is_ok_and(|s| scope.allows(&s));
                        if !visible {
                            continue;
                        }
                        let named: sse::Event = sse::Data::new("")
                            .event(format!("order-{}", event.order_id))
                            .into();
                        let changed = sse::Data::new("").event("changed").into();
                        return Some((named, (receiver, scope, Some(changed))));
                    }
                    Ok(_) => continue,
                    // Behind: everything may have changed; the list refetches what is newer.
                    Err(RecvError::Lagged(_)) => {
                        let changed = sse::Data::new("").event("changed").into();
                        return Some((changed, (receiver, scope, None)));
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        },
    );
    Ok(Sse::from_infallible_stream(events)
        .with_keep_alive(Duration::from_secs(15))
        .with_retry_duration(Duration::from_secs(2)))
}
