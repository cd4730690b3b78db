//! Logs and metrics, set up in one place.

mod logs;
pub mod metrics;
pub mod sampler;
pub mod traces;

pub use logs::{init, init_logs};

/// Names the calling thread as `top -H`, `ps -L` and `perf` show it (`/proc/…/task/*/comm`; 15
/// bytes at most): `cf-http` for the HTTP workers, `cf-engine` for the order engine's thread
/// (the journal's writers and the first registry shard), `cf-shard-N` for the other shards.
/// Without it every one of them read `actix-rt|system`.
pub fn name_thread(name: &str) {
    if let Ok(name) = std::ffi::CString::new(name) {
        // Only a name longer than the kernel keeps, or a platform without names, fails: the
        // thread keeps the name it had.
        let _ = nix::sys::prctl::set_name(&name);
    }
}

/// An error with its causes on one line (`outer: cause: root`), as logs and records show it.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
