//! Gauges sampled on a clock rather than counted where things happen: whether the database
//! answers, how far each reader of the log is behind, and the process's memory against what it
//! may use. The alert rules in `deploy/prometheus/alerts.yml` read them.

use std::time::Duration;

use metrics::gauge;

use super::metrics::{DATABASE_UP, LOG_LAG_EVENTS, MEMORY_LIMIT_BYTES, RESIDENT_MEMORY_BYTES};
use crate::persistence::Database;
use crate::shutdown::Stop;

/// How often the gauges are sampled (Prometheus scrapes every 15 s or so).
const EVERY: Duration = Duration::from_secs(5);

/// Samples until stopped.
pub async fn run(db: Database, mut stop: Stop) {
    loop {
        sample(&db).await;
        if stop.sleep(EVERY).await {
            return;
        }
    }
}

async fn sample(db: &Database) {
    let up = db.readiness().await.is_ok();
    gauge!(DATABASE_UP).set(if up { 1.0 } else { 0.0 });
    if up {
        let log = db.log();
        if let (Ok(end), Ok(readers)) = (log.end().await, log.checkpoints().await) {
            for (reader, at) in readers {
                gauge!(LOG_LAG_EVENTS, "reader" => reader).set((end - at).max(0) as f64);
            }
        }
    }
    if let Some(resident) = resident_bytes() {
        gauge!(RESIDENT_MEMORY_BYTES).set(resident as f64);
    }
    if let Some(limit) = memory_limit_bytes() {
        gauge!(MEMORY_LIMIT_BYTES).set(limit as f64);
    }
}

/// Resident set size, from `/proc/self/statm` (pages).
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// What the process may use: its cgroup's `memory.max` (systemd's `MemoryMax=`), else the
/// machine's memory.
fn memory_limit_bytes() -> Option<u64> {
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = cgroup.lines().find_map(|l| l.strip_prefix("0::"))?;
    let limited = std::fs::read_to_string(format!("/sys/fs/cgroup{path}/memory.max"))
        .ok()
        .and_then(|v| v.trim().parse().ok());
    limited.or_else(|| {
        let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
        let kib: u64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kib * 1024)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn memory_is_read_from_proc() {
        let resident = super::resident_bytes().expect("Linux has /proc/self/statm");
        let limit = super::memory_limit_bytes().expect("a limit or the machine's memory");
        assert!(
            resident > 1 << 20 && resident < limit,
            "{resident} of {limit}"
        );
    }
}
