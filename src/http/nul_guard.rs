//! Refuses a REST request that carries a NUL character anywhere a handler
//! could read it: the path, the query string, or a JSON body. One guard in
//! front of every route instead of a check in each handler's free-text
//! fields (notes, close reasons, custom fields, searches…), which is where
//! the NUL used to slip through; see `domain::nul` for why it is refused.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{ContentLength, Header};
use actix_web::middleware::Next;
use actix_web::mime;
use actix_web::web::{self, Bytes};
use actix_web::{Error, HttpMessage, ResponseError};

use super::ApiError;
use crate::domain::nul;

/// Whether the request says its body is JSON, by the rule `web::Json`
/// applies (`application/json` or a `+json` type such as
/// `application/merge-patch+json`).
fn is_json(req: &ServiceRequest) -> bool {
    matches!(req.mime_type(), Ok(Some(m))
        if m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON))
}

/// Reads the whole body, up to `limit` bytes.
async fn read_body(req: &mut ServiceRequest, limit: usize) -> Result<Bytes, ApiError> {
    let payload = req
        .extract::<web::Payload>()
        .await
        .map_err(|e| ApiError::BadRequest(format!("reading the body: {e}")))?;
    match payload.to_bytes_limited(limit).await {
        Ok(Ok(body)) => Ok(body),
        Ok(Err(e)) => Err(ApiError::BadRequest(format!("reading the body: {e}"))),
        Err(_) => Err(ApiError::TooLarge(format!(
            "body is over the {limit} byte limit"
        ))),
    }
}

/// The guard: `limit` is the JSON body limit the extractors enforce. A body
/// declared longer than that passes untouched, for the extractor to refuse
/// with its own answer; any other JSON body is read here and handed on.
pub async fn refuse_nul(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
    limit: usize,
) -> Result<ServiceResponse<EitherBody<impl MessageBody, actix_web::body::BoxBody>>, Error> {
    let refuse = |req: ServiceRequest, where_: &str| {
        let err = ApiError::BadRequest(format!(
            "the {where_} must not contain NUL characters (\\u0000)"
        ));
        Ok(req
            .into_response(err.error_response())
            .map_into_right_body())
    };
    if nul::url_holds_nul(req.path()) {
        return refuse(req, "path");
    }
    if nul::url_holds_nul(req.query_string()) {
        return refuse(req, "query string");
    }
    let declared = ContentLength::parse(&req).ok().map(|c| c.into_inner());
    if is_json(&req) && declared.is_none_or(|n| n <= limit) {
        let body = match read_body(&mut req, limit).await {
            Ok(body) => body,
            Err(err) => {
                return Ok(req
                    .into_response(err.error_response())
                    .map_into_right_body());
            }
        };
        if nul::json_holds_nul(&body) {
            return refuse(req, "body");
        }
        req.set_payload(body.into());
    }
    Ok(next.call(req).await?.map_into_left_body())
}
