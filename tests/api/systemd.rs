use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::helpers::{Daemon, TestDb};

/// Under systemd (`Type=notify`, `WatchdogSec=`), the daemon says READY=1 once it serves, pings
/// the watchdog while healthy, and says STOPPING=1 when asked to stop.
#[actix_web::test]
async fn the_daemon_speaks_the_systemd_notify_protocol() {
    let db = TestDb::new().await;
    let socket_path = db.dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();

    let mut daemon = Daemon::start_with(
        &db,
        &[
            ("NOTIFY_SOCKET", socket_path.to_str().unwrap()),
            // 400 ms: pings every 200 ms.
            ("WATCHDOG_USEC", "400000"),
        ],
    );
    let mut received = Vec::new();
    let next = || {
        let mut buf = [0u8; 256];
        let n = socket.recv(&mut buf).expect("a notification arrives");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    received.push(next());
    assert!(received[0].contains("READY=1"), "{received:?}");
    // Ready only once HTTP answers.
    let live = std::net::TcpStream::connect(daemon.addr);
    assert!(live.is_ok());

    received.push(next());
    received.push(next());
    assert!(
        received[1..].iter().all(|m| m.contains("WATCHDOG=1")),
        "{received:?}"
    );

    daemon.signal(Signal::SIGTERM);
    let stopping = (0..20).map(|_| next()).find(|m| m.contains("STOPPING=1"));
    assert!(stopping.is_some(), "STOPPING=1 after SIGTERM");
    assert!(daemon.wait_exit(Duration::from_secs(20)).success());
}

/// An operator's `top -H` (or `ps -L`, `perf`) tells the daemon's threads apart: the HTTP
/// workers, the order engine's thread and each further registry shard carry their own names.
#[actix_web::test]
async fn the_daemon_names_its_threads() {
    let db = TestDb::new().await;
    let mut daemon = Daemon::start_with(
        &db,
        &[
            ("CREATORFLOW__HTTP__WORKERS", "2"),
            ("CREATORFLOW__ENGINE__SHARDS", "3"),
        ],
    );
    let tasks = format!("/proc/{}/task", daemon.child.id());
    let threads = || -> Vec<String> {
        std::fs::read_dir(&tasks)
            .unwrap()
            .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
            .map(|name| name.trim_end().to_owned())
            .collect()
    };
    let count = |names: &[String], name: &str| names.iter().filter(|n| *n == name).count();
    // The HTTP workers start, and name themselves, a moment after the daemon says it serves.
    let until = std::time::Instant::now() + Duration::from_secs(10);
    let mut names = threads();
    while count(&names, "cf-http") < 2 && std::time::Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
        names = threads();
    }
    daemon.signal(Signal::SIGTERM);
    daemon.wait_exit(Duration::from_secs(10));
    let count = |name: &str| count(&names, name);
    assert_eq!(count("cf-http"), 2, "{names:?}");
    assert_eq!(count("cf-engine"), 1, "{names:?}");
    assert_eq!(count("cf-shard-1"), 1, "{names:?}");
    assert_eq!(count("cf-shard-2"), 1, "{names:?}");
    assert!(
        !names.iter().any(|n| n.starts_with("actix-rt")),
        "{names:?}"
    );
}
