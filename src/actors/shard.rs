//! A registry shard: the live orders whose id hashes here, least recently used first.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use actix::prelude::*;
use handoff::Gate;
use lru::LruCache;
use metrics::{counter, gauge};
use tokio::sync::oneshot;

use super::message::{Envelope, Error, Reply};
use super::order::{Deliver, OrderActor};
use crate::domain::OrderId;
use crate::journal::Journal;
use crate::persistence::{Database, SnapshotLoader};
use crate::telemetry::metrics::{
    ACTIVATIONS_TOTAL, LIVE_ORDERS, MAILBOX_FULL_TOTAL, PASSIVATIONS_TOTAL,
};

/// Messages one order actor may hold before senders are told to back off.
const ORDER_MAILBOX: usize = 64;

/// A live order as both the shard and the registry handle see it.
pub(super) struct LiveOrder {
    addr: Addr<OrderActor>,
    /// Shared with the actor: messages in flight, closed when passivating.
    gate: Arc<Gate>,
    /// Milliseconds since the shard started, at the last message; written by whichever thread
    /// routed it, read by the shard's idle sweep.
    last_used: AtomicU64,
}

impl LiveOrder {
    fn touch(&self, epoch: Instant) {
        self.last_used
            .store(epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// Hands `envelope` to the actor if its gate admits it; `Err` gives the envelope and reply
    /// back when the order is passivating (the caller then goes through the shard).
    pub(super) fn deliver(
        &self,
        epoch: Instant,
        envelope: Envelope,
        reply: oneshot::Sender<Result<Reply, Error>>,
        caller: &tracing::Span,
    ) -> Result<(), (Envelope, oneshot::Sender<Result<Reply, Error>>)> {
        if !self.gate.enter() {
            return Err((envelope, reply));
        }
        self.touch(epoch);
        let caller = caller.clone();
        if let Err(e) = self.addr.try_send(Deliver {
            envelope,
            reply,
            caller,
        }) {
            self.gate.exit();
            let (deliver, error) = match e {
                SendError::Full(d) => {
                    counter!(MAILBOX_FULL_TOTAL, "mailbox" => "order").increment(1);
                    (d, Error::Overloaded { mailbox: "order" })
                }
                SendError::Closed(d) => (d, Error::Stopped),
            };
            let _ = deliver.reply.send(Err(error));
        }
        Ok(())
    }
}

/// The live orders of one shard, readable from any thread: the registry handle delivers to a
/// live order directly (one hop), and only activation goes through the shard actor. The shard
/// is the only writer. The hand-off is the [`Gate`]: a passivating order's gate is closed
/// before its entry is removed, so a handle that still found the entry is refused and falls
/// back to the shard, which activates a fresh actor.
pub(super) type LiveMap = RwLock<Live>;

/// Live orders by id, hashed with foldhash (seeded at random per map): every message looks its
/// order up here and in the shard's recency list, and SipHash over the id was ~1% of the
/// daemon's samples under webhook load (docs/PERFORMANCE.md, session 55).
pub(super) type Live = HashMap<OrderId, Arc<LiveOrder>, foldhash::fast::RandomState>;

pub(super) struct RegistryShard {
    index: usize,
    /// Recency for capacity eviction (as the shard sees it) and ownership of the entries.
    lru: LruCache<OrderId, Arc<LiveOrder>, foldhash::fast::RandomState>,
    shared: Arc<LiveMap>,
    epoch: Instant,
    /// Snapshot loads of this shard's activations, grouped.
    snapshots: SnapshotLoader,
    journal: Journal,
    passivate_after: Duration,
    capacity: usize,
    draining: bool,
    /// Handles of the series every activation moves, looked up once (a registry lookup per
    /// activation showed in profiles: a key built and hashed each time).
    activations: metrics::Counter,
    live_orders: metrics::Gauge,
}

impl RegistryShard {
    pub(super) fn new(
        index: usize,
        shared: Arc<LiveMap>,
        epoch: Instant,
        db: Database,
        journal: Journal,
        passivate_after: Duration,
        capacity: usize,
    ) -> Self {
        Self {
            index,
            lru: LruCache::unbounded_with_hasher(foldhash::fast::RandomState::default()),
            shared,
            epoch,
            snapshots: SnapshotLoader::start(db),
            journal,
            passivate_after,
            capacity,
            draining: false,
            activations: counter!(ACTIVATIONS_TOTAL),
            live_orders: gauge!(LIVE_ORDERS),
        }
    }

    fn activate(&mut self, id: &OrderId) -> Arc<LiveOrder> {
        if let Some(live) = self.lru.get(id) {
            return live.clone();
        }
        self.make_room();
        let gate = Arc::new(Gate::new());
        let (snapshots, journal, order_gate, order_id) = (
            self.snapshots.clone(),
            self.journal.clone(),
            gate.clone(),
            id.clone(),
        );
        let addr = Supervisor::start(move |ctx: &mut Context<OrderActor>| {
            ctx.set_mailbox_capacity(ORDER_MAILBOX);
            OrderActor::new(order_id, snapshots, journal, order_gate)
        });
        self.activations.increment(1);
        self.live_orders.increment(1.0);
        let live = Arc::new(LiveOrder {
            addr,
            gate,
            last_used: AtomicU64::new(0),
        });
        live.touch(self.epoch);
        self.lru.put(id.clone(), live.clone());
        write(&self.shared).insert(id.clone(), live.clone());
        live
    }

    /// Passivates least recently used idle orders until there is room for one more.
    fn make_room(&mut self) {
        let mut busy = Vec::new();
        while self.lru.len() >= self.capacity {
            let Some((id, live)) = self.lru.pop_lru() else {
                break;
            };
            if live.gate.try_close() {
                self.passivate(&id, "capacity");
            } else {
                busy.push((id, live));
                if busy.len() >= 16 {
                    break;
                }
            }
        }
        // Busy ones stay live (most recently used now, which is fair: they are working).
        for (id, live) in busy {
            self.lru.put(id, live);
        }
    }

    /// Passivates orders idle for longer than `passivate_after`.
    fn passivate_idle(&mut self) {
        let now = self.epoch.elapsed().as_millis() as u64;
        let limit = self.passivate_after.as_millis() as u64;
        let idle: Vec<OrderId> = self
            .lru
            .iter()
            .filter(|(_, live)| now.saturating_sub(live.last_used.load(Ordering::Relaxed)) > limit)
            .map(|(id, _)| id.clone())
            .collect();
        for id in idle {
            let closed = self.lru.peek(&id).is_some_and(|l| l.gate.try_close());
            if closed {
                self.lru.pop(&id);
                self.passivate(&id, "idle");
            }
        }
    }

    /// The order's gate is closed: nothing is in flight and nothing more will be admitted. Its
    /// committed state is in SQL; a later message activates a fresh actor that loads it.
    fn passivate(&mut self, id: &OrderId, reason: &'static str) {
        if let Some(live) = write(&self.shared).remove(id) {
            live.addr.do_send(Stop);
        }
        counter!(PASSIVATIONS_TOTAL, "reason" => reason).increment(1);
        self.live_orders.decrement(1.0);
    }
}

fn write(map: &LiveMap) -> std::sync::RwLockWriteGuard<'_, Live> {
    // A panic while holding the lock cannot leave the map half-updated (single inserts and
    // removes), so a poisoned lock is still usable.
    map.write().unwrap_or_else(|poisoned| poisoned.into_inner())
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
    pub reply: oneshot::Sender<Result<Reply, Error>>,
    /// The sender's span, when traces are on (`Span::none()` otherwise).
    pub caller: tracing::Span,
}

impl Handler<Route> for RegistryShard {
    type Result = ();

    fn handle(&mut self, route: Route, _: &mut Context<Self>) {
        if self.draining {
            let _ = route.reply.send(Err(Error::Stopped));
            return;
        }
        let live = self.activate(&route.id);
        if live
            .deliver(self.epoch, route.envelope, route.reply, &route.caller)
            .is_err()
        {
            // Only this shard closes gates, and it removes the entry when it does.
            unreachable!("a live entry's gate is open");
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
                let busy = shard.lru.iter().any(|(_, l)| l.gate.in_flight() > 0);
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

/// Passivates the live orders of `slots` (cluster mode: the slots moved to or from this node,
/// so what an actor holds in memory may be behind what another node committed). An order busy
/// with a message stays: if its commit fails it reloads at its next message.
#[derive(Message)]
#[rtype(result = "usize")]
pub(super) struct Evict {
    pub slots: Arc<std::collections::HashSet<i16>>,
}

impl Handler<Evict> for RegistryShard {
    type Result = usize;

    fn handle(&mut self, evict: Evict, _: &mut Context<Self>) -> usize {
        let moved: Vec<OrderId> = self
            .lru
            .iter()
            .filter(|(id, _)| evict.slots.contains(&id.slot()))
            .map(|(id, _)| id.clone())
            .collect();
        let mut evicted = 0;
        for id in moved {
            if self.lru.peek(&id).is_some_and(|l| l.gate.try_close()) {
                self.lru.pop(&id);
                self.passivate(&id, "slot_moved");
                evicted += 1;
            }
        }
        evicted
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
