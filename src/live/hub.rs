//! The one reader of the log for every live client.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, watch};

use super::{JobProgress, LiveEvent};
use crate::journal::Watermark;
use crate::persistence::{Database, EngineConnection};
use crate::shutdown::Stop;

/// Events held for clients that are reading slower than they come. A client more than this
/// far behind is dropped and reconnects from the log.
const BUFFER: usize = 4096;
/// Rows read per query.
const READ: u64 = 2000;
/// How far back a reconnecting client is served from the log, in events (a cluster's positions
/// have gaps: its nodes draw them in blocks of 4,096). Further back, it gets a `reset` event:
/// refetch what it shows, then follow on.
pub const REPLAY_WINDOW: u64 = 10_000;

/// Fans the log's audit events out to live clients. Cheap to clone.
#[derive(Clone)]
pub struct Hub {
    db: Database,
    events: broadcast::Sender<Arc<LiveEvent>>,
    /// Bulk jobs' progress, as their runner reports it (not in the log: no position).
    jobs: broadcast::Sender<Arc<JobProgress>>,
    /// The log position the hub has sent everything up to.
    sent: watch::Receiver<i64>,
}

impl Hub {
    /// Starts following the log from the journal's watermark `committed` (new events only;
    /// a client asks for older ones itself).
    pub fn start(
        db: Database,
        committed: Watermark,
        stop: Stop,
    ) -> (Self, impl Future<Output = ()>) {
        let (events, _) = broadcast::channel(BUFFER);
        let start = committed.now();
        let (sent_tx, sent) = watch::channel(start);
        let hub = Self {
            db: db.clone(),
            events: events.clone(),
            jobs: broadcast::channel(BUFFER).0,
            sent,
        };
        let run = follow(db, committed, events, sent_tx, stop);
        (hub, run)
    }

    /// New events from now on, and the position they follow.
    pub fn subscribe(&self) -> (broadcast::Receiver<Arc<LiveEvent>>, i64) {
        // Subscribing before reading `sent` means nothing after it can be missed.
        let receiver = self.events.subscribe();
        (receiver, *self.sent.borrow())
    }

    /// Bulk jobs' progress from now on.
    pub fn subscribe_jobs(&self) -> broadcast::Receiver<Arc<JobProgress>> {
        self.jobs.subscribe()
    }

    /// Tells the clients watching bulk jobs where one stands.
    pub fn publish_job(&self, progress: JobProgress) {
        // No receiver is not an error: nobody is watching.
        let _ = self.jobs.send(Arc::new(progress));
    }

    pub fn db(&self) -> &Database {
        &self.db
    }
}

/// Tells what the log holds, until stopped. It reads the database (what the journal's rows in
/// memory no longer hold, and on a cluster node every other node's rows) on a connection of its
/// own that never plans a sequential scan, as the log's subscriptions do.
async fn follow(
    db: Database,
    watermark: Watermark,
    events: broadcast::Sender<Arc<LiveEvent>>,
    sent: watch::Sender<i64>,
    stop: Stop,
) {
    let reads = db.engine_connection();
    tell(&db, &reads, watermark, events, sent, stop).await;
    reads.close().await;
}

async fn tell(
    db: &Database,
    reads: &EngineConnection,
    watermark: Watermark,
    events: broadcast::Sender<Arc<LiveEvent>>,
    sent: watch::Sender<i64>,
    mut stop: Stop,
) {
    let mut committed = watermark.receiver();
    let mut position = *sent.borrow();
    loop {
        let upto = *committed.borrow_and_update();
        while position < upto {
            // Nobody listens: nothing is read, the position moves on. Should a client subscribe
            // meanwhile, what was passed is read and told after all: a client drops what is at
            // or below the position it replays up to.
            if events.receiver_count() == 0 {
                sent.send_replace(upto);
                if events.receiver_count() == 0 {
                    position = upto;
                    continue;
                }
            }
            // A node of a cluster tells the other nodes' rows too: those are in the database.
            let held = watermark
                .recent()
                .filter(|_| watermark.fence().is_none())
                .and_then(|recent| recent.changes(position, upto, READ));
            let read = match held {
                Some(changes) => Ok(changes),
                None => db.log().changes_on(reads, position, upto, READ).await,
            };
            match read {
                Ok(changes) => {
                    let reached = if changes.len() as u64 == READ {
                        changes.last().map_or(upto, |c| c.position)
                    } else {
                        upto
                    };
                    // The position moves before the events go out: a client that subscribes
                    // meanwhile and reads the new position replays these from the log (and
                    // skips their live copies, at or below it); one that reads the old position
                    // subscribed before they went out and gets them live. Moved after, a client
                    // subscribing in between would get them neither way.
                    position = reached;
                    sent.send_if_modified(|s| {
                        let moved = position > *s;
                        if moved {
                            *s = position;
                        }
                        moved
                    });
                    for event in changes.into_iter().flat_map(LiveEvent::of) {
                        // No receiver is not an error: nobody is watching.
                        let _ = events.send(Arc::new(event));
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the live stream cannot read the log; retrying");
                    if stop.sleep(Duration::from_secs(1)).await {
                        return;
                    }
                }
            }
        }
        tokio::select! {
            changed = committed.changed() => if changed.is_err() { return },
            () = stop.stopped() => return,
        }
    }
}
