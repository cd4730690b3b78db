use std::process::ExitCode;

/// glibc malloc's arena locking showed up as a quarter of the ingest profile; mimalloc's
/// thread-local free lists remove most of it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long mimalloc keeps memory a thread freed before giving it back to the kernel. Its
/// default (10 ms) returned pages between two batches under load, which the next batch faulted
/// in again (zeroed, and split out of their huge pages). A second still let ~1,000 pages a
/// second go and come back at 256 connections (page faults 12,000-15,600 per 12 s run, the
/// kernel's `clear_page_erms` ~6% of the daemon's samples); ten seconds: 550-670 faults, 2-4%
/// less CPU per webhook, 10-18 MiB more resident. An idle daemon still gives back what it no
/// longer needs. `MIMALLOC_PURGE_DELAY` overrides it.
const PURGE_DELAY_MS: std::ffi::c_long = 10_000;

/// `mi_option_purge_delay` in mimalloc v3's `include/mimalloc.h` (libmimalloc-sys 0.1.49 names
/// only v2's options).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

#[actix_web::main]
async fn main() -> ExitCode {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets one of mimalloc's options, which it reads atomically.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) };
    }
    // No transparent huge pages: mimalloc asks for them on its arenas, and the kernel then
    // zeroes a whole 2 MiB page at the first touch of any byte in it, usually from memory the
    // machine has not touched since boot (a VM's host backs it then, ~10 ms a page here).
    // Under load with new orders the heap grows ~130 MiB in ten seconds: with huge pages that
    // zeroing was ~7% of the daemon's samples, with 4 KiB pages ~1% (docs/PERFORMANCE.md,
    // session 47). Set before the first fault of the heap's growth, it covers every mapping
    // (the kernel checks it at each fault). `MIMALLOC_ALLOW_THP=1` keeps them.
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none()
        && let Err(e) = nix::sys::prctl::set_thp_disable(true)
    {
        eprintln!("creatorflow: cannot turn transparent huge pages off ({e}); continuing");
    }
    creatorflow::integrations::install_tls();
    creatorflow::cli::run().await
}
