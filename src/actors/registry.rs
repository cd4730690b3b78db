//! The registry: `engine.shards` shard actors, each on its own arbiter (thread), and the typed
//! handle that routes to them by a stable hash of the order id.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use actix::prelude::*;
use metrics::counter;
use tokio::sync::oneshot;

use super::message::{Envelope, Error, Reply};
use super::shard::{Drain, Evict, LiveMap, RegistryShard, Route};
use crate::config;
use crate::domain::OrderId;
use crate::journal::Journal;
use crate::persistence::Database;
use crate::telemetry::metrics::MAILBOX_FULL_TOTAL;

/// Typed, cloneable access to the order engine.
#[derive(Clone)]
pub struct RegistryHandle {
    shards: Arc<[Shard]>,
    timeout: Duration,
    /// Set by [`RegistryHandle::drain`]: no new message is accepted on any path.
    draining: Arc<AtomicBool>,
    /// The journal's watermark, for the log's subscriptions.
    committed: crate::journal::Watermark,
    /// Cluster mode: the way to the nodes holding the slots this one does not.
    forwarder: Option<super::Forwarder>,
}

struct Shard {
    addr: Addr<RegistryShard>,
    /// Its live orders, for delivering without a hop through the shard actor.
    live: Arc<LiveMap>,
    epoch: Instant,
}

impl RegistryHandle {
    /// Starts the shards: the first on `engine`, the arbiter that runs the journal's writers
    /// (an order's commit and its answer then stay on one thread), each other on a new arbiter.
    /// Must run inside an actix system.
    pub fn start(
        settings: &config::EngineSettings,
        db: Database,
        journal: Journal,
        engine: &ArbiterHandle,
    ) -> Self {
        for reason in ["idle", "capacity", "slot_moved"] {
            metrics::counter!(crate::telemetry::metrics::PASSIVATIONS_TOTAL, "reason" => reason)
                .increment(0);
        }
        metrics::counter!(crate::telemetry::metrics::ACTIVATIONS_TOTAL).increment(0);
        let count = settings.shard_count();
        let per_shard = settings.max_live_orders.div_ceil(count).max(1);
        let committed = journal.committed();
        let shards: Vec<Shard> = (0..count)
            .map(|index| {
                let live = Arc::new(LiveMap::default());
                let epoch = Instant::now();
                let shared = live.clone();
                let arbiter = match index {
                    0 => engine.clone(),
                    _ => {
                        let arbiter = Arbiter::new().handle();
                        arbiter.spawn_fn(move || {
                            crate::telemetry::name_thread(&format!("cf-shard-{index}"))
                        });
                        arbiter
                    }
                };
                let (db, journal) = (db.clone(), journal.clone());
                let (idle, mailbox) = (settings.passivate_after, settings.mailbox_capacity);
                // The mailbox gets its capacity before the address is handed out, so no sender
                // ever sees actix's small default.
                let (tx, rx) = actix::dev::channel::channel(mailbox);
                arbiter.spawn_fn(move || {
                    Context::with_receiver(rx).run(RegistryShard::new(
                        index, shared, epoch, db, journal, idle, per_shard,
                    ));
                });
                Shard {
                    addr: Addr::new(tx),
                    live,
                    epoch,
                }
            })
            .collect();
        Self {
            shards: shards.into(),
            timeout: Duration::from_secs(30),
            draining: Arc::new(AtomicBool::new(false)),
            committed,
            forwarder: None,
        }
    }

    /// Cluster mode: messages for orders of slots this node does not hold go to their owner.
    pub fn forwarding(mut self, forwarder: super::Forwarder) -> Self {
        self.forwarder = Some(forwarder);
        self
    }

    /// The way to the other nodes, in cluster mode.
    pub fn forwarder(&self) -> Option<&super::Forwarder> {
        self.forwarder.as_ref()
    }

    /// The journal's watermark: every log position at or below it is settled. Subscriptions
    /// ([`crate::journal::Tail`]) wait on it.
    pub fn committed(&self) -> crate::journal::Watermark {
        self.committed.clone()
    }

    /// Routes `envelope` to the order's actor and waits for the committed outcome. A full
    /// mailbox anywhere on the way is [`Error::Overloaded`] at once, never an unbounded queue.
    /// In cluster mode, a message for an order of a slot another node holds is forwarded to it
    /// (see [`super::forward`]).
    pub async fn submit(&self, id: OrderId, envelope: Envelope) -> Result<Reply, Error> {
        if let Some(forwarder) = &self.forwarder
            && forwarder.membership().epoch(id.slot()).is_none()
        {
            if self.draining.load(Ordering::Acquire) {
                return Err(Error::Stopped);
            }
            // Boxed: a local submit's future would otherwise be the forwarding one's size.
            return Box::pin(forwarder.forward(&id, envelope)).await;
        }
        self.submit_here(id, envelope).await
    }

    /// Routes `envelope` to the order's actor in this process (a message another node
    /// forwarded here).
    pub async fn submit_here(&self, id: OrderId, envelope: Envelope) -> Result<Reply, Error> {
        if self.draining.load(Ordering::Acquire) {
            return Err(Error::Stopped);
        }
        let shard = &self.shards[(id.stable_hash() % self.shards.len() as u64) as usize];
        let (reply, answer) = oneshot::channel();
        let caller = if crate::telemetry::traces::on() {
            tracing::Span::current()
        } else {
            tracing::Span::none()
        };
        // A live order is reached directly; only activation needs the shard.
        let live = shard
            .live
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&id)
            .cloned();
        let (envelope, reply) = match live {
            Some(live) => match live.deliver(shard.epoch, envelope, reply, &caller) {
                Ok(()) => return self.wait(answer).await,
                Err(refused) => refused,
            },
            None => (envelope, reply),
        };
        shard
            .addr
            .try_send(Route {
                id,
                envelope,
                reply,
                caller,
            })
            .map_err(|e| match e {
                SendError::Full(_) => {
                    counter!(MAILBOX_FULL_TOTAL, "mailbox" => "shard").increment(1);
                    Error::Overloaded { mailbox: "shard" }
                }
                SendError::Closed(_) => Error::Stopped,
            })?;
        self.wait(answer).await
    }

    async fn wait(&self, answer: oneshot::Receiver<Result<Reply, Error>>) -> Result<Reply, Error> {
        match tokio::time::timeout(self.timeout, answer).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => Err(Error::Stopped),
            Err(_) => Err(Error::Timeout(self.timeout)),
        }
    }

    /// Passivates the live orders of `slots` in every shard; returns how many.
    pub async fn evict_slots(&self, slots: Vec<i16>) -> usize {
        let slots = Arc::new(slots.into_iter().collect::<std::collections::HashSet<_>>());
        let asks = self.shards.iter().map(|s| {
            s.addr.send(Evict {
                slots: slots.clone(),
            })
        });
        futures_util::future::join_all(asks)
            .await
            .into_iter()
            .map(|evicted| evicted.unwrap_or(0))
            .sum()
    }

    /// Stops intake and waits (up to `deadline`) until no message is in flight in any shard.
    pub async fn drain(&self, deadline: Duration) {
        self.draining.store(true, Ordering::Release);
        let waits = self.shards.iter().map(|s| s.addr.send(Drain { deadline }));
        futures_util::future::join_all(waits).await;
    }
}

impl crate::cluster::SlotMoves for RegistryHandle {
    fn moved(&self, slots: Vec<i16>) -> futures_util::future::BoxFuture<'static, ()> {
        let registry = self.clone();
        Box::pin(async move {
            let evicted = registry.evict_slots(slots).await;
            if evicted > 0 {
                tracing::info!(evicted, "cluster: live orders of moved slots passivated");
            }
        })
    }
}
