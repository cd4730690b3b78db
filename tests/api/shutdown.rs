use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::helpers::{Daemon, TestDb};

/// SIGTERM (and SIGINT) stop the daemon gracefully: a request already being received is still
/// answered, new connections are refused, the pool is closed, and the exit code is 0.
#[actix_web::test]
async fn a_signal_stops_gracefully_finishing_requests_in_flight() {
    for signal in [Signal::SIGTERM, Signal::SIGINT] {
        let db = TestDb::new().await;
        let mut daemon = Daemon::start(&db);

        // Start a request and send only half of its body.
        let body = r#"{"tiktok_shop_id":"9001","name":"In Flight"}"#;
        let (head, tail) = body.split_at(10);
        let mut conn = TcpStream::connect(daemon.addr).unwrap();
        write!(
            conn,
            "POST /api/v1/shops HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{head}",
            daemon.admin_key,
            body.len()
        )
        .unwrap();
        conn.flush().unwrap();
        std::thread::sleep(Duration::from_millis(200));

        daemon.signal(signal);
        daemon.wait_for_line("stopping", Duration::from_secs(10));

        // New connections are no longer accepted.
        let refused = (0..50).any(|_| {
            std::thread::sleep(Duration::from_millis(20));
            TcpStream::connect(daemon.addr).is_err()
        });
        assert!(refused, "the listener closed after {signal}");

        // The request in flight completes.
        conn.write_all(tail.as_bytes()).unwrap();
        let mut response = String::new();
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        conn.read_to_string(&mut response).unwrap();
        assert!(response.starts_with("HTTP/1.1 201"), "{response}");

        let status = daemon.wait_exit(Duration::from_secs(20));
        assert!(
            status.success(),
            "exit 0 after {signal}: {status:?}; log: {:#?}",
            daemon.log
        );
        assert!(
            daemon.log.iter().any(|l| l.contains("stopped")),
            "{:#?}",
            daemon.log
        );

        // What the in-flight request wrote was committed before the pool closed.
        let out = crate::helpers::run_cli(&db, &["shop", "list"]);
        assert!(String::from_utf8_lossy(&out.stdout).contains("9001\tIn Flight"));
    }
}
