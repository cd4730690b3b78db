//! The dashboard's static files, embedded in the binary: served with an `ETag` (a revalidation
//! is a 304) and, through the `/ui` scope's compression, gzipped when the browser accepts it.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};

use crate::http::Error;

#[derive(rust_embed::Embed)]
#[folder = "assets/"]
struct Assets;

/// A static file: htmx, its SSE extension, the stylesheet and the page script.
#[utoipa::path(
    tag = "dashboard",
    params(("file" = String, Path, description = "A file name")),
    responses(
        (status = 200, description = "The file", body = String),
        (status = 304, description = "Unchanged since the `ETag` the browser has"),
    )
)]
#[get("/assets/{file}")]
pub(in crate::http) async fn asset(
    req: HttpRequest,
    file: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let found = Assets::get(&file).ok_or_else(|| Error::NotFound(format!("asset {file}")))?;
    let etag = format!("\"{}\"", hex::encode(&found.metadata.sha256_hash()[..16]));
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    if fresh {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish());
    }
    let content_type = match file.rsplit_once('.').map(|(_, ext)| ext) {
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(found.data.into_owned()))
}
