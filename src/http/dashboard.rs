use actix_web::{HttpResponse, get};

/// The operator's landing page. For now a status page with links; the live dashboard grows here.
#[utoipa::path(
    tag = "operations",
    responses((status = 200, description = "The status page", body = String, content_type = "text/html"))
)]
#[get("/")]
pub(super) async fn index() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(include_str!("dashboard.html"))
}
