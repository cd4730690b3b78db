use std::process::ExitCode;

/// glibc malloc's arena locking showed up as a quarter of the ingest profile; mimalloc's
/// thread-local free lists remove most of it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[actix_web::main]
async fn main() -> ExitCode {
    creatorflow::integrations::install_tls();
    creatorflow::cli::run().await
}
