use actix_web::{HttpResponse, get, web};
use serde::Serialize;

use super::Error;
use crate::persistence::Database;
use crate::telemetry;

/// What a probe answers.
#[derive(Serialize)]
pub(super) struct Probe {
    status: &'static str,
}

/// Alive: the process answers. Says nothing about dependencies, so a supervisor restarts only a
/// wedged process, not one waiting for its database.
#[get("/livez")]
pub(super) async fn livez() -> HttpResponse {
    HttpResponse::Ok().json(Probe { status: "alive" })
}

/// Ready: the database is reachable and its schema current. 503 with the reason otherwise.
#[get("/readyz")]
pub(super) async fn readyz(db: web::Data<Database>) -> Result<HttpResponse, Error> {
    db.readiness()
        .await
        .map_err(|not_ready| Error::NotReady(not_ready.0))?;
    Ok(HttpResponse::Ok().json(Probe { status: "ready" }))
}

#[get("/metrics")]
pub(super) async fn metrics() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(telemetry::metrics::handle().render())
}
