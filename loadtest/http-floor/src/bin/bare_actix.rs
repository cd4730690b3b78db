//! actix-web with nothing of the daemon's: two workers, two routes, no middleware.

#[global_allocator]
static A: mimalloc::MiMalloc = mimalloc::MiMalloc;
use actix_web::{App, HttpResponse, HttpServer, get, post, web};

#[get("/livez")]
async fn livez() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(r#"{"status":"ok"}"#)
}

#[post("/webhooks/tiktok")]
async fn hook(body: web::Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(format!(r#"{{"received":{}}}"#, body.len()))
}

/// `127.0.0.1:PORT`, the port the first argument.
fn address() -> String {
    let port = std::env::args().nth(1).expect("usage: bare_actix PORT");
    format!("127.0.0.1:{port}")
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    HttpServer::new(|| App::new().service(livez).service(hook))
        .workers(2)
        .bind(address())?
        .run()
        .await
}
