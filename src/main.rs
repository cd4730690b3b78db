use std::process::ExitCode;

/// glibc malloc's arena locking showed up as a quarter of the ingest profile; mimalloc's
/// thread-local free lists remove most of it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long mimalloc keeps memory a thread freed before giving it back to the kernel. Its
/// default (10 ms) returned pages between two batches under load, which the next batch faulted
/// in again (zeroed, and split out of their huge pages): a second keeps them while busy and
/// still returns what an idle daemon no longer needs. `MIMALLOC_PURGE_DELAY` overrides it.
const PURGE_DELAY_MS: std::ffi::c_long = 1000;

/// `mi_option_purge_delay` in mimalloc v3's `include/mimalloc.h` (libmimalloc-sys 0.1.49 names
/// only v2's options).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

#[actix_web::main]
async fn main() -> ExitCode {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets one of mimalloc's options, which it reads atomically.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) };
    }
    creatorflow::integrations::install_tls();
    creatorflow::cli::run().await
}
