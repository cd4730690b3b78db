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
        // A first, whole request on the same connection proves a worker has taken the
        // connection (one still in the listen backlog would be reset by the stop).
        first_request_answered(&mut conn);
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

/// Sends `GET /livez` on `conn` (kept alive) and reads its whole answer.
fn first_request_answered(conn: &mut TcpStream) {
    conn.write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 1024];
    loop {
        let read = conn.read(&mut buffer).unwrap();
        assert!(read > 0, "the daemon closed the connection");
        answer.extend_from_slice(&buffer[..read]);
        let text = String::from_utf8_lossy(&answer).to_lowercase();
        let Some(end) = text.find("\r\n\r\n") else {
            continue;
        };
        let length: usize = text
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map_or(0, |n| n.trim().parse().unwrap());
        if answer.len() >= end + 4 + length {
            assert!(text.starts_with("http/1.1 200"), "{text}");
            return;
        }
    }
}
