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
    // Memory first: a scrape that sees the log's lag has seen the memory gauges too.
    if let Some(resident) = resident_bytes() {
        gauge!(RESIDENT_MEMORY_BYTES).set(resident as f64);
    }
    if let Some(limit) = memory_limit_bytes() {
        gauge!(MEMORY_LIMIT_BYTES).set(limit as f64);
    }
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
}

/// Resident set size, from `/proc/self/statm` (pages).
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// What the process may use: the smaller of its cgroup's limit (systemd's `MemoryMax=`; cgroup v2
/// `memory.max`, or v1 `memory.limit_in_bytes`) and the machine's memory. A process outside any
/// limited cgroup, or on a host that lists no cgroup at all, still gets the machine's memory.
fn memory_limit_bytes() -> Option<u64> {
    let cgroup = std::fs::read_to_string("/proc/self/cgroup")
        .ok()
        .and_then(|listing| {
            cgroup_limit_bytes(&listing, |path| std::fs::read_to_string(path).ok())
        });
    [cgroup, machine_memory_bytes()].into_iter().flatten().min()
}

/// The memory limit the cgroups named in a `/proc/self/cgroup` listing set, read through `read`
/// (a path under `/sys/fs/cgroup`); `None` where no limit file can be read ("max" is no limit).
fn cgroup_limit_bytes(listing: &str, read: impl Fn(&str) -> Option<String>) -> Option<u64> {
    let limit = |path: String| read(&path).and_then(|v| v.trim().parse::<u64>().ok());
    listing.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        let path = path.trim_end_matches('/');
        match controllers {
            "" => limit(format!("/sys/fs/cgroup{path}/memory.max")),
            c if c.split(',').any(|c| c == "memory") => {
                limit(format!("/sys/fs/cgroup/memory{path}/memory.limit_in_bytes"))
            }
            _ => None,
        }
    })
}

/// The machine's memory, from `/proc/meminfo`.
fn machine_memory_bytes() -> Option<u64> {
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

    /// The limit `cgroup_limit_bytes` finds for `listing` on a host whose only files are
    /// `present` (path, contents).
    fn limit(listing: &str, present: &[(&str, &str)]) -> Option<u64> {
        super::cgroup_limit_bytes(listing, |path| {
            present
                .iter()
                .find(|(p, _)| *p == path)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn a_cgroup_v2_memory_max_is_the_limit_and_max_is_none() {
        let listing = "0::/system.slice/creatorflow.service\n";
        let file = "/sys/fs/cgroup/system.slice/creatorflow.service/memory.max";
        assert_eq!(limit(listing, &[(file, "536870912\n")]), Some(536870912));
        assert_eq!(limit(listing, &[(file, "max\n")]), None);
    }

    #[test]
    fn a_cgroup_v1_memory_controller_is_read_and_a_listing_without_one_is_none() {
        let listing = "9:name=systemd:/\n4:cpu,memory:/jobs/one\n0::/\n";
        let file = "/sys/fs/cgroup/memory/jobs/one/memory.limit_in_bytes";
        assert_eq!(limit(listing, &[(file, "1073741824\n")]), Some(1 << 30));
        assert_eq!(limit("9:name=systemd:/\n1:cpu:/\n", &[]), None);
    }
}
