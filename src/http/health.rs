use actix_web::{HttpResponse, get, web};
use serde::Serialize;

use super::Error;
use super::openapi::Problem;
use crate::persistence::Database;
use crate::telemetry;

/// What a probe answers.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct Probe {
    status: &'static str,
}

/// Alive: the process answers. Says nothing about dependencies, so a supervisor restarts only a
/// wedged process, not one waiting for its database.
#[utoipa::path(
    tag = "operations",
    responses((status = 200, description = "The process is alive", body = Probe))
)]
#[get("/livez")]
pub(super) async fn livez() -> HttpResponse {
    HttpResponse::Ok().json(Probe { status: "alive" })
}

/// Ready: the database is reachable and its schema current. 503 with the reason otherwise.
#[utoipa::path(
    tag = "operations",
    responses((status = 200, description = "The database answers and migrations are applied", body = Probe), (status = 503, description = "Not ready", body = Problem, content_type = "application/problem+json"))
)]
#[get("/readyz")]
pub(super) async fn readyz(db: web::Data<Database>) -> Result<HttpResponse, Error> {
    db.readiness()
        .await
        .map_err(|not_ready| Error::NotReady(not_ready.0))?;
    Ok(HttpResponse::Ok().json(Probe { status: "ready" }))
}

#[utoipa::path(
    tag = "operations",
    responses((status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain"))
)]
#[get("/metrics")]
pub(super) async fn metrics() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(telemetry::metrics::handle().render())
}
