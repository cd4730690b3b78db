//! What GraphQL streams: order changes as they commit (optionally only those matching a
//! search), and a bulk job's progress. Both ride the live hub the SSE stream uses; a subscriber
//! that falls too far behind gets an error and the stream ends (resubscribe, then refetch).

use std::sync::Arc;

use async_graphql::{Context, ID, Object, Result, Subscription as SubscriptionRoot};
use chrono::{DateTime, FixedOffset};
use futures_util::Stream;
use futures_util::stream;
use tokio::sync::broadcast::error::RecvError;

use super::bulk::BulkJobProgress;
use super::errors::{bad_input, fail};
use super::order::Order;
use crate::domain::search::{Known, Term};
use crate::domain::{OrderId, OrderStatus, Search, ShopId, Stage};
use crate::http::{Caller, Error};
use crate::live::{Hub, Kind, LiveEvent};
use crate::persistence::{Database, OrderFilter};

pub struct Subscription;

/// One change to an order, as it committed.
pub struct OrderChange {
    event: Arc<LiveEvent>,
}

#[Object]
impl OrderChange {
    /// The change's position in the log (the SSE stream's event id).
    async fn position(&self) -> i64 {
        self.event.position
    }

    async fn order_id(&self) -> ID {
        ID(self.event.order_id.clone())
    }

    async fn shop_id(&self) -> &str {
        &self.event.shop_id
    }

    /// The audit event's kind: `status_changed`, `stage_changed`, `tagged`, …
    async fn kind(&self) -> &str {
        &self.event.event
    }

    async fn status(&self) -> &str {
        &self.event.status
    }

    async fn stage(&self) -> &str {
        &self.event.stage
    }

    async fn version(&self) -> i64 {
        self.event.version
    }

    async fn cause(&self) -> &str {
        &self.event.cause
    }

    async fn at(&self) -> DateTime<FixedOffset> {
        self.event.at
    }

    /// The order as it stands now (it may have moved on since this change).
    async fn order(&self, ctx: &Context<'_>) -> Result<Option<Order>> {
        let Ok(id) = OrderId::parse(&self.event.order_id) else {
            return Ok(None);
        };
        let caller = ctx.data_unchecked::<Caller>();
        let db = ctx.data_unchecked::<Database>();
        let view = db.orders().view(&caller.scope, &id).await.map_err(fail)?;
        Ok(view.map(Order))
    }
}

/// Whether order change `event` matches `search`: from the change itself when the search asks
/// only what it carries (status, stage, shop, id), else by asking the database.
async fn matches(db: &Database, caller: &Caller, search: &Search, event: &LiveEvent) -> bool {
    let (Ok(id), Ok(shop), Ok(stage)) = (
        OrderId::parse(&event.order_id),
        ShopId::parse(&event.shop_id),
        Stage::parse(&event.stage),
    ) else {
        return false;
    };
    let known = Known {
        id: &id,
        shop: &shop,
        status: &OrderStatus::parse(&event.status),
        stage,
    };
    if let Some(decided) = search.decide(&known) {
        return decided;
    }
    let filter = OrderFilter {
        search: Some(Search::All(vec![
            Search::Term(Term::Id {
                id: id.as_str().to_owned(),
                prefix: false,
            }),
            search.clone(),
        ])),
        limit: 1,
        ..OrderFilter::default()
    };
    match db.orders().list(&caller.scope, &filter).await {
        Ok(found) => !found.is_empty(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot match an order change against a subscription");
            false
        }
    }
}

fn behind(missed: u64) -> async_graphql::Error {
    fail(Error::Unavailable(format!(
        "this subscriber fell {missed} changes behind and was dropped; resubscribe, then \
         refetch what it shows"
    )))
}

#[SubscriptionRoot]
impl Subscription {
    /// Every change to an order this key may see, as it commits; with `query` (the search
    /// syntax), only changes to orders that match it.
    async fn order_changed(
        &self,
        ctx: &Context<'_>,
        query: Option<String>,
    ) -> Result<impl Stream<Item = Result<OrderChange>> + use<>> {
        let search = query
            .as_deref()
            .map(Search::parse)
            .transpose()
            .map_err(|e| bad_input(format!("query: {e}")))?;
        let caller = ctx.data_unchecked::<Caller>().clone();
        let db = ctx.data_unchecked::<Database>().clone();
        let (receiver, _) = ctx.data_unchecked::<Hub>().subscribe();
        let state = Some((receiver, caller, search, db));
        Ok(stream::unfold(state, |state| async move {
            let (mut receiver, caller, search, db) = state?;
            loop {
                let event = match receiver.recv().await {
                    Ok(event) => event,
                    Err(RecvError::Lagged(missed)) => return Some((Err(behind(missed)), None)),
                    Err(RecvError::Closed) => return None,
                };
                if event.kind != Kind::Order {
                    continue;
                }
                let visible = ShopId::parse(&event.shop_id).is_ok_and(|s| caller.scope.allows(&s));
                if !visible {
                    continue;
                }
                if let Some(search) = &search
                    && !matches(&db, &caller, search, &event).await
                {
                    continue;
                }
                let change = OrderChange { event };
                return Some((Ok(change), Some((receiver, caller, search, db))));
            }
        }))
    }

    /// A bulk job's progress: where it stands now, then after each batch, until it ends.
    async fn bulk_job_progress(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<impl Stream<Item = Result<BulkJobProgress>> + use<>> {
        let caller = ctx.data_unchecked::<Caller>();
        let not_found = || fail(Error::NotFound(format!("bulk job {}", id.as_str())));
        let job_id = id.parse::<i64>().map_err(|_| not_found())?;
        // Subscribing before reading the job: no progress in between is missed.
        let receiver = ctx.data_unchecked::<Hub>().subscribe_jobs();
        let db = ctx.data_unchecked::<Database>();
        let job = db
            .bulk()
            .get(job_id)
            .await
            .map_err(fail)?
            .filter(|j| j.visible_to(&caller.scope))
            .ok_or_else(not_found)?;
        let first = BulkJobProgress::from(&job);
        let done = job.state.is_final();
        let open = (!done).then_some(receiver);
        let updates = stream::unfold(open, move |open| async move {
            let mut receiver = open?;
            loop {
                match receiver.recv().await {
                    Ok(progress) if progress.job_id == job_id => {
                        let last = crate::bulk::JobState::parse(progress.state)
                            .is_ok_and(|s| s.is_final());
                        let next = (!last).then_some(receiver);
                        return Some((Ok(BulkJobProgress::from(&*progress)), next));
                    }
                    Ok(_) => continue,
                    Err(RecvError::Lagged(missed)) => return Some((Err(behind(missed)), None)),
                    Err(RecvError::Closed) => return None,
                }
            }
        });
        Ok(futures_util::StreamExt::chain(
            stream::once(async { Ok(first) }),
            updates,
        ))
    }
}
