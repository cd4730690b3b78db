//! Activation's snapshot loads, grouped the way the journal groups commits: an order actor that
//! wakes asks for its snapshot, and the loads asked for while a query runs go together in the
//! next one (one `IN` query for up to [`MAX_BATCH`] orders). Under a burst of new orders —
//! each activation a lookup that finds nothing — that is one round trip per batch instead of
//! one per order.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::{Database, Error};
use crate::domain::{Order, OrderId};

/// Orders per query.
pub const MAX_BATCH: usize = 256;

/// Loads waiting for the loader; each live actor asks at most once at a time.
const QUEUE_DEPTH: usize = 4096;

type Answer = Result<Option<Order>, Arc<Error>>;

struct Load {
    id: OrderId,
    reply: oneshot::Sender<Answer>,
}

/// Handle to one loader task. Cheap to clone.
#[derive(Clone)]
pub struct SnapshotLoader {
    queue: mpsc::Sender<Load>,
}

impl SnapshotLoader {
    /// Starts the loader task on the current runtime; it ends when every handle is dropped.
    pub fn start(db: Database) -> Self {
        let (queue, loads) = mpsc::channel(QUEUE_DEPTH);
        tokio::spawn(run(db, loads));
        Self { queue }
    }

    /// The stored snapshot of `id`, or `None` for an order not stored yet.
    pub async fn load(&self, id: &OrderId) -> Answer {
        let stopped = || Arc::new(Error::Db(sea_orm::DbErr::Custom("loader stopped".into())));
        let (reply, answer) = oneshot::channel();
        let load = Load {
            id: id.clone(),
            reply,
        };
        self.queue.send(load).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn run(db: Database, mut loads: mpsc::Receiver<Load>) {
    let engine = db.engine_connection();
    while let Some(first) = loads.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match loads.try_recv() {
                Ok(load) => batch.push(load),
                Err(_) => break,
            }
        }
        let ids: Vec<&OrderId> = batch.iter().map(|load| &load.id).collect();
        match db.orders().load_many_on(&engine, &ids).await {
            Ok(found) => answer(batch, |id| Ok(found.get(id).cloned())),
            Err(e) => {
                let e = Arc::new(e);
                answer(batch, |_| Err(e.clone()))
            }
        }
    }
    engine.close().await;
}

fn answer(batch: Vec<Load>, of: impl Fn(&OrderId) -> Answer) {
    for load in batch {
        let _ = load.reply.send(of(&load.id));
    }
}
