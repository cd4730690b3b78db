//! One live order. Owns its state; every change to the order goes through its mailbox, one
//! message at a time (`AtomicResponse`), and is applied only after the journal committed it.

use std::sync::Arc;

use actix::prelude::*;
use handoff::Gate;
use metrics::{counter, histogram};
use tokio::sync::oneshot;
use tracing::Instrument;

use super::message::{Envelope, Error, Reply};
use crate::domain::{Order, OrderId, decide};
use crate::journal::{self, Commit, Journal};
use crate::persistence::SnapshotLoader;
use crate::telemetry::metrics::{ACTIVATION_SECONDS, DUPLICATES_TOTAL, EVENTS_APPLIED_TOTAL};
use crate::telemetry::traces;

pub(super) struct OrderActor {
    id: OrderId,
    /// `None` until loaded; inner `None` when the order does not exist yet.
    state: Option<Option<Order>>,
    snapshots: SnapshotLoader,
    journal: Journal,
    /// Shared with the shard: messages in flight, and whether passivation closed it.
    gate: Arc<Gate>,
}

impl OrderActor {
    pub(super) fn new(
        id: OrderId,
        snapshots: SnapshotLoader,
        journal: Journal,
        gate: Arc<Gate>,
    ) -> Self {
        Self {
            id,
            state: None,
            snapshots,
            journal,
            gate,
        }
    }
}

impl Actor for OrderActor {
    type Context = Context<Self>;
}

/// On restart (a panic in a handler) actix drops the message in flight; forget the in-memory
/// state so the next message reloads the committed snapshot.
impl Supervised for OrderActor {
    fn restarting(&mut self, _: &mut Context<Self>) {
        tracing::warn!(order_id = %self.id, "order actor restarting; reloading its snapshot");
        self.state = None;
    }
}

#[derive(Message)]
#[rtype(result = "()")]
pub(super) struct Deliver {
    pub envelope: Envelope,
    pub reply: oneshot::Sender<Result<Reply, Error>>,
    /// The sender's span, when traces are on (`Span::none()` otherwise).
    pub caller: tracing::Span,
}

impl Handler<Deliver> for OrderActor {
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, deliver: Deliver, _: &mut Context<Self>) -> Self::Result {
        let (snapshots, journal, id) = (
            self.snapshots.clone(),
            self.journal.clone(),
            self.id.clone(),
        );
        // Taken, not cloned: `AtomicResponse` runs no other handler until this one puts the state
        // back. If the actor stops mid-way, the state is simply reloaded on the next activation.
        let loaded = self.state.take();
        let span = traces::order_span(&deliver.caller, id.as_str());
        AtomicResponse::new(Box::pin(
            async move {
                let current = match loaded {
                    Some(state) => state,
                    None if journal.surely_new(&id) => None,
                    None => {
                        let started = std::time::Instant::now();
                        // Boxed: every message's future would otherwise be the load's size.
                        let state = Box::pin(snapshots.load(&id))
                            .await
                            .map_err(Error::Storage)?;
                        histogram!(ACTIVATION_SECONDS).record(started.elapsed().as_secs_f64());
                        state
                    }
                };
                let outcome = handle(&id, current.as_ref(), &journal, deliver.envelope).await;
                Ok::<_, Error>((current, outcome))
            }
            .instrument(span)
            .into_actor(self)
            .map(move |result, actor, _| {
                let answer = match result {
                    Ok((current, Ok((outcome, next)))) => {
                        actor.state = Some(next.or(current));
                        Ok(outcome)
                    }
                    // A commit that failed (refused by the fence, or a row that conflicts with
                    // what another writer committed) may mean the state here is behind the
                    // database's: the next message reloads it.
                    Ok((_, Err(e @ Error::Journal(_)))) => Err(e),
                    Ok((current, Err(e))) => {
                        actor.state = Some(current);
                        Err(e)
                    }
                    Err(e) => Err(e),
                };
                actor.gate.exit();
                let _ = deliver.reply.send(answer);
            }),
        ))
    }
}

/// Decide, commit, and return the outcome with the new state (if it changed).
async fn handle(
    id: &OrderId,
    current: Option<&Order>,
    journal: &Journal,
    envelope: Envelope,
) -> Result<(Reply, Option<Order>), Error> {
    let decision = decide(id, current, &envelope.msg).map_err(Error::Rejected)?;
    let (next, applied) = match (Order::advance(current, id, decision.events), current) {
        (Some(advanced), _) => advanced,
        // Nothing to record, but a delivery from outside is still remembered so that its
        // redelivery is a duplicate.
        (None, Some(order)) if envelope.inbox.is_some() => (order.clone(), Vec::new()),
        (None, _) => {
            return Ok((
                Reply::Unchanged {
                    version: current.map_or(0, |o| o.version),
                },
                None,
            ));
        }
    };
    let kinds: Vec<&'static str> = applied.iter().map(|a| a.event.kind()).collect();
    // The journal writes one copy of the new state; the actor keeps this one if it commits.
    let order = next.clone();
    let (span, trace) = traces::commit_span();
    let commit = Commit {
        order: next,
        applied,
        cause: envelope.cause.to_string(),
        inbox: envelope.inbox,
        effects: decision.effects,
        trace,
    };
    let written = journal.commit(commit).instrument(span).await;
    tracing::debug!(version = order.version, ?written, "order committed");
    match written {
        Ok(journal::Written::Committed) if kinds.is_empty() => Ok((
            Reply::Unchanged {
                version: order.version,
            },
            None,
        )),
        Ok(journal::Written::Committed) => {
            for kind in kinds {
                counter!(EVENTS_APPLIED_TOTAL, "kind" => kind).increment(1);
            }
            Ok((
                Reply::Applied {
                    version: order.version,
                    status: order.status.clone(),
                    stage: order.stage,
                },
                Some(order),
            ))
        }
        Ok(journal::Written::Duplicate) => {
            counter!(DUPLICATES_TOTAL).increment(1);
            Ok((Reply::Duplicate, None))
        }
        Err(e) => Err(Error::Journal(e)),
    }
}
