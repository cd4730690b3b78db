//! Counting the SQL statements one piece of work runs: the pool reports every statement it
//! executes, and work run inside [`counted`] (and the tasks it hands a [`Tally`] on to, such as
//! a GraphQL request's batch loads) adds them up. Outside it, counting costs a thread-local
//! lookup per statement.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

tokio::task_local! {
    static TALLY: Tally;
}

/// The statements counted so far and the time they took. Cheap to clone: clones share it.
#[derive(Debug, Clone, Default)]
pub struct Tally(Arc<Counts>);

#[derive(Debug, Default)]
struct Counts {
    statements: AtomicU64,
    micros: AtomicU64,
}

impl Tally {
    /// The tally of the work now running, if it is counted.
    pub fn current() -> Option<Self> {
        TALLY.try_with(Clone::clone).ok()
    }

    /// Runs `work` adding its statements to this tally (for tasks spawned by counted work).
    pub fn scope<F: Future>(self, work: F) -> impl Future<Output = F::Output> {
        TALLY.scope(self, work)
    }

    pub fn statements(&self) -> u64 {
        self.0.statements.load(Ordering::Relaxed)
    }

    /// The time the statements took, added up.
    pub fn elapsed(&self) -> Duration {
        Duration::from_micros(self.0.micros.load(Ordering::Relaxed))
    }
}

/// Runs `work`, counting its statements.
pub async fn counted<F: Future>(work: F) -> (F::Output, Tally) {
    let tally = Tally::default();
    let output = tally.clone().scope(work).await;
    (output, tally)
}

/// The pool's report of one statement.
pub(super) fn record(info: &sea_orm::metric::Info<'_>) {
    count(info.elapsed);
}

/// One statement run outside the pool's report (a shop's read transaction, see `reader`).
pub(super) fn count(elapsed: Duration) {
    let _ = TALLY.try_with(|tally| {
        tally.0.statements.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        tally.0.micros.fetch_add(micros, Ordering::Relaxed);
    });
}
