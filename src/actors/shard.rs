//! A registry shard: the live orders whose id hashes here, least recently used first.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use handoff::Gate;
use lru::LruCache;
use metrics::{counter, gauge};
use tokio::sync::oneshot;

use super::order::{Deliver, OrderActor};
use super::registry::{Envelope, Error, Outcome};
use crate::domain::OrderId;
use crate::persistence::{Database, Journal};
use crate::telemetry::metrics::{
    ACTIVATIONS_TOTAL, LIVE_ORDERS, MAILBOX_FULL_TOTAL, PASSIVATIONS_TOTAL,
};

/// Messages one order actor may hold before senders are told to back off.
const ORDER_MAILBOX: usize = 64;

struct Live {
    addr: Addr<OrderActor>,
    gate: Arc<Gate>,
    last_used: Instant,
}

pub(super) struct RegistryShard {
    index: usize,
    live: LruCache<OrderId, Live>,
    db: Database,
    journal: Journal,
    passivate_after: Duration,
    capacity: usize,
    draining: bool,
}

impl RegistryShard {
    pub(super) fn new(
        index: usize,
        db: Database,
        journal: Journal,
        passivate_after: Duration,
        capacity: usize,
    ) -> Self {
        Self {
            index,
            live: LruCache::unbounded(),
            db,
            journal,
            passivate_after,
            capacity,
            draining: false,
        }
    }

    fn activate(&mut self, id: &OrderId) -> &mut Live {
        if !self.live.contains(id) {
            self.make_room();
            let gate = Arc::new(Gate::new());
            let (db, journal, order_gate, order_id) = (
                self.db.clone(),
                self.journal.clone(),
                gate.clone(),
                id.clone(),
            );
            let addr = Supervisor::start(move |ctx: &mut Context<OrderActor>| {
                ctx.set_mailbox_capacity(ORDER_MAILBOX);
                OrderActor::new(order_id, db, journal, order_gate)
            });
            counter!(ACTIVATIONS_TOTAL).increment(1);
            gauge!(LIVE_ORDERS).increment(1.0);
            self.live.put(
                id.clone(),
                Live {
                    addr,
                    gate,
                    last_used: Instant::now(),
                },
            );
        }
        self.live.get_mut(id).expect("present or just inserted")
    }

    /// Passivates least recently used idle orders until there is room for one more.
    fn make_room(&mut self) {
        let mut busy = Vec::new();
        while self.live.len() >= self.capacity {
            let Some((id, live)) = self.live.pop_lru() else {
                break;
            };
            if live.gate.try_close() {
                passivate(&live, "capacity");
            } else {
                busy.push((id, live));
                if busy.len() >= 16 {
                    break;
                }
            }
        }
        // Busy ones stay live (most recently used now, which is fair: they are working).
        for (id, live) in busy {
            self.live.put(id, live);
        }
    }

    /// Passivates orders idle for longer than `passivate_after`.
    fn passivate_idle(&mut self) {
        let cutoff = Instant::now() - self.passivate_after;
        let idle: Vec<OrderId> = self
            .live
            .iter()
            .rev()
            .take_while(|(_, live)| live.last_used < cutoff)
            .map(|(id, _)| id.clone())
            .collect();
        for id in idle {
            let closed = self.live.peek(&id).is_some_and(|l| l.gate.try_close());
            if closed && let Some(live) = self.live.pop(&id) {
                passivate(&live, "idle");
            }
        }
    }
}

fn passivate(live: &Live, reason: &'static str) {
    // Closed and idle: the actor has nothing in flight and will receive nothing more. Its
    // committed state is in SQL; a later message activates a fresh actor that loads it.
    live.addr.do_send(Stop);
    counter!(PASSIVATIONS_TOTAL, "reason" => reason).increment(1);
    gauge!(LIVE_ORDERS).decrement(1.0);
}

impl Actor for RegistryShard {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let every =
            (self.passivate_after / 4).clamp(Duration::from_millis(10), Duration::from_secs(30));
        ctx.run_interval(every, |shard, _| shard.passivate_idle());
        tracing::debug!(shard = self.index, "registry shard started");
    }
}

#[derive(Message)]
#[rtype(result = "()")]
pub(super) struct Route {
    pub id: OrderId,
    pub envelope: Envelope,
    pub reply: oneshot::Sender<Result<Outcome, Error>>,
}

impl Handler<Route> for RegistryShard {
    type Result = ();

    fn handle(&mut self, route: Route, _: &mut Context<Self>) {
        if self.draining {
            let _ = route.reply.send(Err(Error::Stopped));
            return;
        }
        let live = self.activate(&route.id);
        live.last_used = Instant::now();
        if !live.gate.enter() {
            // Only the shard closes gates, and it removes the entry when it does.
            unreachable!("a live entry's gate is open");
        }
        let gate = live.gate.clone();
        let deliver = Deliver {
            envelope: route.envelope,
            reply: route.reply,
        };
        if let Err(e) = live.addr.try_send(deliver) {
            gate.exit();
            let (deliver, error) = match e {
                SendError::Full(d) => {
                    counter!(MAILBOX_FULL_TOTAL, "mailbox" => "order").increment(1);
                    (d, Error::Overloaded { mailbox: "order" })
                }
                SendError::Closed(d) => (d, Error::Stopped),
            };
            let _ = deliver.reply.send(Err(error));
        }
    }
}

#[derive(Message)]
#[rtype(result = "()")]
pub(super) struct Drain {
    pub deadline: Duration,
}

impl Handler<Drain> for RegistryShard {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, drain: Drain, _: &mut Context<Self>) -> Self::Result {
        self.draining = true;
        let until = Instant::now() + drain.deadline;
        Box::pin(
            async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            .into_actor(self)
            .then(move |(), shard, _| {
                let busy = shard.live.iter().any(|(_, l)| l.gate.in_flight() > 0);
                let fut: ResponseActFuture<Self, ()> = if busy && Instant::now() < until {
                    Box::pin(
                        actix::fut::ready(()).then(move |(), shard: &mut Self, ctx| {
                            shard.handle(
                                Drain {
                                    deadline: until - Instant::now(),
                                },
                                ctx,
                            )
                        }),
                    )
                } else {
                    Box::pin(actix::fut::ready(()))
                };
                fut
            }),
        )
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct Stop;

impl Handler<Stop> for OrderActor {
    type Result = ();

    fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}
