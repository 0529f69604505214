//! CORS for the widget. The widget runs inside other sites' pages, so its
//! public REST routes (and its scripts, see `assets`) answer any origin.
//! That is safe here because they authenticate with a bearer visitor token
//! in a header, never with cookies: a foreign page without the token gets
//! nothing it could not get by calling the routes itself. Staff routes stay
//! same-origin.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse};

/// The public widget routes, under `/api/v1`.
const WIDGET_ROUTES: [&str; 6] = [
    "/api/v1/widget/init",
    "/api/v1/widget/sessions",
    "/api/v1/widget/offline-messages",
    "/api/v1/widget/conversation",
    "/api/v1/widget/csat",
    "/api/v1/widget/transcript",
];

/// Whether `path` is one of the public widget routes.
fn is_widget_route(path: &str) -> bool {
    WIDGET_ROUTES.contains(&path)
}

/// Answers preflights of the widget routes and marks their answers (errors
/// included) readable from any origin; other requests pass untouched.
pub async fn widget_api(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody, actix_web::body::BoxBody>>, Error> {
    if !is_widget_route(req.path()) {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    if req.method() == Method::OPTIONS {
        let res = HttpResponse::NoContent()
            .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
            .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST"))
            .insert_header((
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                "authorization, content-type",
            ))
            .insert_header((header::ACCESS_CONTROL_MAX_AGE, "86400"))
            .finish();
        return Ok(req.into_response(res).map_into_right_body());
    }
    let mut res = next.call(req).await?;
    let headers = res.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        header::HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        header::HeaderValue::from_static("content-disposition, retry-after, x-request-id"),
    );
    Ok(res.map_into_left_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_public_widget_routes_are_cross_origin() {
        assert!(is_widget_route("/api/v1/widget/sessions"));
        assert!(is_widget_route("/api/v1/widget/csat"));
        assert!(!is_widget_route("/api/v1/widget/settings"));
        assert!(!is_widget_route("/api/v1/users"));
        assert!(!is_widget_route("/api/v1/widget/sessions/x"));
    }
}
