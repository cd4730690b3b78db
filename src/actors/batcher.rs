//! Keyed mailboxes: one task per key (a shop, a shop's SKU, another node) takes what is queued
//! for it. A task starts on first use and may stop when it has nothing to do (it closes its
//! mailbox and finishes what slipped in; the next item starts another). Mailboxes are bounded:
//! a burst waits in order for room instead of growing memory. Items carry their own reply
//! channels.
//!
//! A [`Batcher`] is such a task that takes what is queued, plus what arrives within a window, up
//! to a maximum, and hands it over as one batch; it stops after a minute without work.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::mpsc;

/// A batching task this long without work stops.
pub const IDLE: Duration = Duration::from_secs(60);
/// Items queued per key before senders wait for room.
const MAILBOX: usize = 1024;

type Task<K, T> = Arc<dyn Fn(K, mpsc::Receiver<T>) -> BoxFuture<'static, ()> + Send + Sync>;

/// A task per key, each reading its own mailbox. Cheap to clone.
pub struct Mailboxes<K, T> {
    mailboxes: Arc<Mutex<HashMap<K, mpsc::Sender<T>>>>,
    task: Task<K, T>,
}

impl<K, T> Clone for Mailboxes<K, T> {
    fn clone(&self) -> Self {
        Self {
            mailboxes: self.mailboxes.clone(),
            task: self.task.clone(),
        }
    }
}

impl<K, T> Mailboxes<K, T>
where
    K: Clone + Eq + Hash + Send + 'static,
    T: Send + 'static,
{
    /// `task` is spawned for a key at its first item, with the key and the mailbox's receiver;
    /// when it returns (or closes the receiver), the next item for the key starts another.
    pub fn new<F, Fut>(task: F) -> Self
    where
        F: Fn(K, mpsc::Receiver<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Self {
            mailboxes: Arc::default(),
            task: Arc::new(move |key, inbox| Box::pin(task(key, inbox))),
        }
    }

    /// Queues `item` for `key`'s task; waits only for room. Items are taken in the order they
    /// were submitted.
    pub async fn submit(&self, key: &K, mut item: T) {
        loop {
            let mailbox = self.mailbox(key);
            match mailbox.send(item).await {
                Ok(()) => return,
                // That task stopped as we sent: start another.
                Err(mpsc::error::SendError(back)) => {
                    item = back;
                    let mut mailboxes = self.mailboxes.lock().unwrap_or_else(|p| p.into_inner());
                    if mailboxes
                        .get(key)
                        .is_some_and(|tx| tx.same_channel(&mailbox))
                    {
                        mailboxes.remove(key);
                    }
                }
            }
        }
    }

    fn mailbox(&self, key: &K) -> mpsc::Sender<T> {
        let mut mailboxes = self.mailboxes.lock().unwrap_or_else(|p| p.into_inner());
        mailboxes
            .entry(key.clone())
            .or_insert_with(|| {
                let (tx, rx) = mpsc::channel(MAILBOX);
                tokio::spawn((self.task)(key.clone(), rx));
                tx
            })
            .clone()
    }
}

type Work<K, T> = Arc<dyn Fn(K, Vec<T>) -> BoxFuture<'static, ()> + Send + Sync>;

/// Keyed batching tasks. Cheap to clone.
pub struct Batcher<K, T>(Mailboxes<K, T>);

impl<K, T> Clone for Batcher<K, T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<K, T> Batcher<K, T>
where
    K: Clone + Eq + Hash + Send + 'static,
    T: Send + 'static,
{
    /// Batches of at most `max` items: what is queued when the first arrives, plus what comes
    /// within `window` (zero: only what is queued), each handed to `work` with its key.
    pub fn new<F, Fut>(window: Duration, max: usize, work: F) -> Self
    where
        F: Fn(K, Vec<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let work: Work<K, T> = Arc::new(move |key, batch| Box::pin(work(key, batch)));
        let max = max.max(1);
        Self(Mailboxes::new(move |key, inbox| {
            run(key, inbox, work.clone(), window, max)
        }))
    }

    /// Queues `item` for `key`'s next batch; waits only for room. Items are taken in the
    /// order they were submitted.
    pub async fn submit(&self, key: &K, item: T) {
        self.0.submit(key, item).await
    }
}

async fn run<K: Clone, T>(
    key: K,
    mut inbox: mpsc::Receiver<T>,
    work: Work<K, T>,
    window: Duration,
    max: usize,
) {
    loop {
        let first = match tokio::time::timeout(IDLE, inbox.recv()).await {
            Ok(Some(item)) => item,
            Ok(None) => return,
            Err(_) => {
                // Idle: take no more, and hand over what slipped in before the mailbox closed.
                inbox.close();
                let mut rest = Vec::new();
                while let Ok(item) = inbox.try_recv() {
                    rest.push(item);
                }
                while !rest.is_empty() {
                    let tail = rest.split_off(rest.len().min(max));
                    work(key.clone(), std::mem::replace(&mut rest, tail)).await;
                }
                return;
            }
        };
        let mut batch = vec![first];
        // The queued ones first (a zero window takes only those), then the window's arrivals.
        let until = tokio::time::Instant::now() + window;
        while batch.len() < max {
            match inbox.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) if window.is_zero() => break,
                Err(_) => match tokio::time::timeout_at(until, inbox.recv()).await {
                    Ok(Some(item)) => batch.push(item),
                    _ => break,
                },
            }
        }
        work(key.clone(), batch).await;
    }
}
