//! One way to stop, in the mini-redis style: every long-lived task takes a [`Stop`] (a
//! broadcast it checks where it waits), and its [`Tasks`] group is the one completion to await.
//!
//! A task stops at its next wait point, after finishing what it was doing: a subscription saves
//! its checkpoint, a workflow round writes its outcomes. [`Tasks::stop`] fires the signal and
//! waits for every task of the group, aborting (and naming) any that overruns, so a stop always
//! ends. The order in which groups stop is `app::Application::run_until_stopped`'s.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A task's view of the stop signal. Cheap to clone.
#[derive(Clone)]
pub struct Stop(watch::Receiver<bool>);

impl Stop {
    /// Resolves once the task's group is told to stop (at once if it already was).
    pub async fn stopped(&mut self) {
        // An error means the group is gone, which is a stop too.
        let _ = self.0.wait_for(|stop| *stop).await;
    }

    /// Whether the group was told to stop.
    pub fn is_stopped(&self) -> bool {
        *self.0.borrow()
    }

    /// Sleeps for `pause`; true if told to stop meanwhile (the task should return).
    pub async fn sleep(&mut self, pause: Duration) -> bool {
        tokio::select! {
            () = tokio::time::sleep(pause) => self.is_stopped(),
            () = self.stopped() => true,
        }
    }

    /// A signal that never fires, for running a task's loop on its own (tests, benchmarks).
    pub fn never() -> Self {
        let (signal, stop) = watch::channel(false);
        // Leaking the sender keeps the channel open for the life of the process.
        std::mem::forget(signal);
        Stop(stop)
    }
}

/// A group of tasks stopped together.
pub struct Tasks {
    name: &'static str,
    /// Sent `true` once by [`Tasks::stop`]; every [`Stop`] of the group watches it.
    signal: watch::Sender<bool>,
    handles: Vec<(&'static str, JoinHandle<()>)>,
}

impl Tasks {
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            signal: watch::channel(false).0,
            handles: Vec::new(),
        }
    }

    /// A stop signal of this group, for a task spawned elsewhere.
    pub fn stop_signal(&self) -> Stop {
        Stop(self.signal.subscribe())
    }

    /// Runs `task` on the current runtime until it returns; it is handed the group's signal.
    pub fn spawn<F, Fut>(&mut self, name: &'static str, task: F)
    where
        F: FnOnce(Stop) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let handle = tokio::spawn(task(self.stop_signal()));
        self.handles.push((name, handle));
    }

    /// Adds a task that was spawned with [`Tasks::stop_signal`].
    pub fn adopt(&mut self, name: &'static str, handle: JoinHandle<()>) {
        self.handles.push((name, handle));
    }

    /// Tells every task to stop and waits for all of them, up to `within` in all; a task still
    /// running then is aborted and named in the log.
    pub async fn stop(self, within: Duration) {
        self.signal.send_replace(true);
        let deadline = tokio::time::Instant::now() + within;
        for (name, mut handle) in self.handles {
            match tokio::time::timeout_at(deadline, &mut handle).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) if e.is_panic() => {
                    tracing::error!(group = self.name, task = name, "task panicked")
                }
                Ok(Err(_)) => {}
                Err(_) => {
                    tracing::warn!(
                        group = self.name,
                        task = name,
                        ?within,
                        "task did not stop in time; aborted"
                    );
                    handle.abort();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stop_waits_for_each_task_to_finish_its_work() {
        let (done_tx, mut done) = tokio::sync::mpsc::unbounded_channel();
        let mut tasks = Tasks::new("test");
        for name in ["a", "b"] {
            let done_tx = done_tx.clone();
            tasks.spawn(name, move |mut stop| async move {
                while !stop.sleep(Duration::from_millis(5)).await {}
                // Work after the signal (a checkpoint save) still happens.
                tokio::time::sleep(Duration::from_millis(20)).await;
                done_tx.send(name).unwrap();
            });
        }
        tasks.stop(Duration::from_secs(5)).await;
        let mut finished = vec![done.recv().await.unwrap(), done.recv().await.unwrap()];
        finished.sort();
        assert_eq!(finished, ["a", "b"]);
    }

    #[tokio::test]
    async fn a_task_that_ignores_the_signal_is_aborted_when_time_is_up() {
        let mut tasks = Tasks::new("test");
        let (_keep, mut never) = tokio::sync::mpsc::channel::<()>(1);
        tasks.spawn("stuck", move |_stop| async move {
            never.recv().await;
        });
        let started = std::time::Instant::now();
        tasks.stop(Duration::from_millis(50)).await;
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
