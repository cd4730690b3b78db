use std::process::ExitCode;

#[actix_web::main]
async fn main() -> ExitCode {
    creatorflow::cli::run().await
}
