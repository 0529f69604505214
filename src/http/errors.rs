//! `ApiError`: every failure of a REST route, rendered as RFC 9457
//! `application/problem+json` with the shared `ErrorCode`.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::TokenError;
use crate::auth::password::PasswordError;
use crate::domain::{ErrorCode, ValidationError};
use crate::store::StoreError;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One invalid field of a request body or query.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct FieldError {
    /// The field's name as sent, e.g. `email` or `skills.billing`.
    pub field: String,
    /// Why it was refused.
    pub message: String,
}

/// The problem+json body.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem: `urn:switchboard:problem:<code>`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Short, fixed summary of the kind.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What happened this time, for a person.
    pub detail: String,
    /// The machine-readable code shared with socket `error` frames.
    pub code: ErrorCode,
    /// For 422: each invalid field.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// A failed request, as the client will see it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed request (bad JSON syntax, wrong content type).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// Well-formed but invalid fields.
    #[error("invalid fields")]
    Invalid(Vec<FieldError>),
    /// Missing or invalid credentials.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// Authenticated without the right.
    #[error("forbidden")]
    Forbidden,
    /// Authenticated without the right, with the reason.
    #[error("forbidden: {0}")]
    ForbiddenBecause(String),
    /// Absent, or not to be known by this caller.
    #[error("not found: {0}")]
    NotFound(String),
    /// Conflicts with the current state.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Body too large.
    #[error("too large: {0}")]
    TooLarge(String),
    /// Over a rate limit; retry after the given time.
    #[error("rate limited")]
    RateLimited(Duration),
    /// Our fault; the cause is logged, the client gets a generic message.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// One invalid field.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Invalid(vec![FieldError {
            field: field.into(),
            message: message.into(),
        }])
    }

    /// The code clients branch on.
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::BadRequest(_) | ApiError::Invalid(_) => ErrorCode::BadRequest,
            ApiError::Unauthorized(_) => ErrorCode::Unauthorized,
            ApiError::Forbidden | ApiError::ForbiddenBecause(_) => ErrorCode::Forbidden,
            ApiError::NotFound(_) => ErrorCode::NotFound,
            ApiError::Conflict(_) => ErrorCode::Conflict,
            ApiError::TooLarge(_) => ErrorCode::TooLarge,
            ApiError::RateLimited(_) => ErrorCode::RateLimited,
            ApiError::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The problem body for this error.
    pub fn problem(&self) -> Problem {
        let status = self.status_code();
        let (title, detail, errors) = match self {
            ApiError::BadRequest(d) => ("Bad request", d.clone(), Vec::new()),
            ApiError::Invalid(errs) => (
                "Invalid fields",
                errs.iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; "),
                errs.clone(),
            ),
            ApiError::Unauthorized(d) => ("Unauthorized", d.clone(), Vec::new()),
            ApiError::Forbidden => (
                "Forbidden",
                "your role does not allow this".to_owned(),
                Vec::new(),
            ),
            ApiError::ForbiddenBecause(d) => ("Forbidden", d.clone(), Vec::new()),
            ApiError::NotFound(d) => ("Not found", d.clone(), Vec::new()),
            ApiError::Conflict(d) => ("Conflict", d.clone(), Vec::new()),
            ApiError::TooLarge(d) => ("Too large", d.clone(), Vec::new()),
            ApiError::RateLimited(wait) => (
                "Too many requests",
                format!("rate limited; retry in {} s", retry_after_secs(*wait)),
                Vec::new(),
            ),
            ApiError::Internal(_) => (
                "Internal error",
                "something went wrong on our side; it has been logged".to_owned(),
                Vec::new(),
            ),
        };
        Problem {
            type_: format!("urn:switchboard:problem:{}", self.code().as_str()),
            title: title.to_owned(),
            status: status.as_u16(),
            detail,
            code: self.code(),
            errors,
        }
    }
}

fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden | ApiError::ForbiddenBecause(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(cause) = self {
            tracing::error!(%cause, "request failed");
        }
        let mut res = HttpResponse::build(self.status_code());
        res.content_type(PROBLEM_JSON);
        match self {
            ApiError::RateLimited(wait) => {
                res.insert_header((header::RETRY_AFTER, retry_after_secs(*wait).to_string()));
            }
            ApiError::Unauthorized(_) => {
                res.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
            }
            _ => {}
        }
        res.json(self.problem())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound("no such resource".into()),
            StoreError::Conflict(_) => ApiError::Conflict("that already exists".into()),
            StoreError::Stale(_) => {
                ApiError::Conflict("it changed meanwhile; reload and retry".into())
            }
            StoreError::MissingReference(m) => {
                ApiError::BadRequest(format!("refers to something that does not exist ({m})"))
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<PasswordError> for ApiError {
    fn from(e: PasswordError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::Invalid(_) => ApiError::Unauthorized("invalid or expired token".into()),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<crate::actors::ActorError> for ApiError {
    fn from(e: crate::actors::ActorError) -> Self {
        match e.code {
            ErrorCode::BadRequest => ApiError::BadRequest(e.message),
            ErrorCode::Unauthorized => ApiError::Unauthorized(e.message),
            ErrorCode::Forbidden => ApiError::ForbiddenBecause(e.message),
            ErrorCode::NotFound => ApiError::NotFound(e.message),
            ErrorCode::Conflict => ApiError::Conflict(e.message),
            ErrorCode::TooLarge => ApiError::TooLarge(e.message),
            ErrorCode::RateLimited => ApiError::RateLimited(Duration::from_secs(1)),
            ErrorCode::Internal => ApiError::Internal(e.message),
        }
    }
}

impl From<crate::bus::BusError> for ApiError {
    fn from(e: crate::bus::BusError) -> Self {
        crate::actors::ActorError::from(e).into()
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(e: sea_orm::DbErr) -> Self {
        StoreError::from(e).into()
    }
}

/// Collects field errors while a request is validated, so a client learns
/// every problem at once rather than one per round trip.
#[derive(Default)]
pub struct Checks(Vec<FieldError>);

impl Checks {
    /// Parses one field, recording its error under `field`.
    pub fn check<T>(&mut self, field: &str, r: Result<T, ValidationError>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.fail(field, e.0);
                None
            }
        }
    }

    /// Records an error on `field`.
    pub fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.to_owned(),
            message: message.into(),
        });
    }

    /// `Err(Invalid)` if anything failed.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Invalid(self.0))
        }
    }
}

/// Turns JSON extractor failures into problems: 413 over the limit, 415 for
/// the wrong content type (as 400), 400 for broken syntax, 422 for the wrong shape.
pub fn json_error(err: actix_web::error::JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    use actix_web::error::JsonPayloadError as E;
    let api = match &err {
        E::OverflowKnownLength { length, limit } => ApiError::TooLarge(format!(
            "body of {length} bytes is over the {limit} byte limit"
        )),
        E::Overflow { limit } => ApiError::TooLarge(format!("body is over the {limit} byte limit")),
        E::ContentType => ApiError::BadRequest("Content-Type must be application/json".into()),
        E::Deserialize(e) if e.is_syntax() || e.is_eof() => {
            ApiError::BadRequest(format!("malformed JSON: {e}"))
        }
        E::Deserialize(e) => ApiError::field("body", e.to_string()),
        other => ApiError::BadRequest(other.to_string()),
    };
    api.into()
}

/// A path segment that does not parse (e.g. `/users/abc`) names nothing that
/// exists: 404.
pub fn path_error(err: actix_web::error::PathError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::NotFound(format!("no such resource ({err})")).into()
}

/// A query string of the wrong shape: 422 naming the problem.
pub fn query_error(
    err: actix_web::error::QueryPayloadError,
    _req: &HttpRequest,
) -> actix_web::Error {
    ApiError::field("query", err.to_string()).into()
}

/// Any route that does not exist.
pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound("no such route".into()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use actix_web::body::to_bytes;

    #[actix_web::test]
    async fn a_rate_limit_problem_carries_retry_after_rounded_up() {
        let res = ApiError::RateLimited(Duration::from_millis(1500)).error_response();
        assert_eq!(res.status(), 429);
        assert_eq!(res.headers().get("retry-after").unwrap(), "2");
        assert_eq!(res.headers().get("content-type").unwrap(), PROBLEM_JSON);
        let body: serde_json::Value =
            serde_json::from_slice(&to_bytes(res.into_body()).await.unwrap()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "type": "urn:switchboard:problem:rate_limited",
                "title": "Too many requests",
                "status": 429,
                "detail": "rate limited; retry in 2 s",
                "code": "rate_limited"
            })
        );
    }

    #[actix_web::test]
    async fn an_internal_error_hides_its_cause() {
        let res = ApiError::Internal("password=hunter2".into()).error_response();
        let body = to_bytes(res.into_body()).await.unwrap();
        assert!(!String::from_utf8_lossy(&body).contains("hunter2"));
    }
}
