//! The operator's dashboard under `/ui`: server-rendered pages (askama templates compiled into
//! the binary) that htmx 2 and its SSE extension make live, with their static files embedded
//! too. Nothing is loaded from anywhere but this server, and no script is inline: the content
//! security policy (see [`SECURITY_HEADERS`]) allows only this server's files.

mod analytics;
mod assets;
mod bulk;
mod live;
mod order;
mod orders;
mod packing;
mod session;
mod system;
mod workflows;

pub(super) use analytics::analytics_page;
pub(super) use assets::asset;
pub(super) use bulk::{cancel_job, confirm, download, job_page, jobs_page, start};
pub(super) use live::events;
pub(super) use order::{command, fetch_label, show};
pub(super) use orders::{count, list, one_row, remove_view, rows, save_view};
pub(super) use packing::packing_slips;
pub(super) use session::{sign_in, sign_in_page, sign_out};
pub(super) use system::{adjust, replay_kept, stock_page, system_page};
pub(super) use workflows::{replay, workflows_page};

use actix_web::http::header;
use actix_web::{HttpResponse, get};

use super::Error;

/// Where a browser without a session is sent.
pub const SIGN_IN: &str = "/ui/sign-in";

/// Headers on every answer: only this server's scripts, styles, images and connections; no
/// framing; no MIME sniffing.
pub const SECURITY_HEADERS: [(&str, &str); 4] = [
    (
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; \
         object-src 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
];

/// Who is signed in, as the page header shows it (and the form token its forms carry).
pub struct Who {
    /// Whether the key may change things: a read-only key's pages show no action.
    pub operate: bool,
    pub name: String,
    pub shop: Option<String>,
    pub csrf: String,
}

/// A rendered page.
fn page(template: &impl askama::Template) -> Result<HttpResponse, Error> {
    let html = template
        .render()
        .map_err(|e| Error::Internal(anyhow::anyhow!("rendering a page: {e}")))?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(html))
}

/// Back to `path` after a form, saying what happened: `("done", …)` or `("problem", …)`,
/// shown by the page it opens.
fn back(path: &str, flash: (&str, String)) -> HttpResponse {
    let query = serde_urlencoded::to_string([flash]).unwrap_or_default();
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, format!("{path}?{query}")))
        .finish()
}

/// The root opens the dashboard.
#[utoipa::path(
    tag = "dashboard",
    responses((status = 303, description = "To the dashboard's orders (or its sign-in)"))
)]
#[get("/")]
pub(super) async fn index() -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/ui/orders"))
        .finish()
}
