use actix_web::{HttpResponse, get};

/// The operator's landing page. For now a status page with links; the live dashboard grows here.
#[get("/")]
pub(super) async fn index() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(include_str!("dashboard.html"))
}
