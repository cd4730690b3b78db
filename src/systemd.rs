//! systemd integration (`Type=notify`): READY=1 once migrations ran and HTTP is bound, STOPPING=1
//! when a stop begins, and watchdog pings while the database answers. Without `NOTIFY_SOCKET`
//! (not under systemd) every call is a no-op.

use sd_notify::NotifyState;

use crate::persistence::Database;

pub fn ready() {
    notify(NotifyState::Ready);
}

pub fn stopping() {
    notify(NotifyState::Stopping);
}

/// If systemd asked for a watchdog, pings it at half the interval for as long as the daemon is
/// healthy; a wedged or database-less daemon stops pinging and systemd restarts it.
pub fn spawn_watchdog(db: Database, tasks: &mut crate::shutdown::Tasks) {
    let Some(interval) = sd_notify::watchdog_enabled() else {
        return;
    };
    tasks.spawn("systemd watchdog", move |mut stop| async move {
        let mut ticks = tokio::time::interval(interval / 2);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                () = stop.stopped() => return,
            }
            match db.readiness().await {
                Ok(()) => notify(NotifyState::Watchdog),
                Err(reason) => tracing::warn!(%reason, "not healthy; withholding watchdog ping"),
            }
        }
    });
}

fn notify(state: NotifyState<'_>) {
    if let Err(e) = sd_notify::notify(&[state]) {
        tracing::warn!(error = %e, "cannot notify systemd");
    }
}
