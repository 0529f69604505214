//! The web pages and scripts under `web/`: the embeddable widget
//! (`/widget/…`), the staff app (`/app/…`) and the demo host page
//! (`/demo/…`). Compiled into the binary by `rust-embed`; debug builds read
//! them from disk, so editing a page needs no rebuild.

use actix_web::http::header::{self, CacheControl, CacheDirective};
use actix_web::{HttpRequest, HttpResponse, get, web};
use rust_embed::RustEmbed;

/// Everything under `web/`.
#[derive(RustEmbed)]
#[folder = "web/"]
struct Web;

/// Mounts the asset routes (outside `/api`).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(root).service(asset);
}

/// `/` goes to the staff app.
#[get("/")]
async fn root() -> HttpResponse {
    HttpResponse::Found()
        .insert_header((header::LOCATION, "/app/"))
        .finish()
}

/// A file under `web/widget`, `web/app` or `web/demo`; a directory path
/// serves its `index.html`. Compressed when the client accepts it: the
/// widget is loaded by every page of the sites that embed it.
#[get(
    "/{area:widget|app|demo}{rest:.*}",
    wrap = "actix_web::middleware::Compress::default()"
)]
async fn asset(req: HttpRequest, path: web::Path<(String, String)>) -> HttpResponse {
    let (area, rest) = path.into_inner();
    if rest.is_empty() {
        return HttpResponse::Found()
            .insert_header((header::LOCATION, format!("/{area}/")))
            .finish();
    }
    let rest = rest.trim_start_matches('/');
    let file = if rest.is_empty() || rest.ends_with('/') {
        format!("{area}/{rest}index.html")
    } else {
        format!("{area}/{rest}")
    };
    serve(&req, &file)
}

/// The problem+json 404 every unknown path gets.
fn no_such_file() -> HttpResponse {
    actix_web::ResponseError::error_response(&super::ApiError::NotFound("no such file".into()))
}

/// The embedded file with its content type and an ETag, or 404.
fn serve(req: &HttpRequest, file: &str) -> HttpResponse {
    if file
        .split('/')
        .any(|part| part == ".." || part.starts_with('.'))
    {
        return no_such_file();
    }
    let Some(content) = Web::get(file) else {
        return no_such_file();
    };
    let etag = format!("\"{}\"", hex::encode(&content.metadata.sha256_hash()[..16]));
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == etag);
    if fresh {
        return HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish();
    }
    let mut res = HttpResponse::Ok();
    if file.starts_with("widget/") {
        // Sites embed the widget from this server and load its ES modules
        // cross-origin, which needs CORS; the files are public anyway.
        res.insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"));
    }
    res.content_type(content.metadata.mimetype())
        // Revalidate every time: the ETag makes that cheap, and a new
        // release is picked up at once.
        .insert_header(CacheControl(vec![CacheDirective::NoCache]))
        .insert_header((header::ETAG, etag))
        .insert_header(("x-content-type-options", "nosniff"))
        .body(content.data.into_owned())
}
