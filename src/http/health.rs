//! Liveness and readiness for load balancers and orchestrators.

use actix_web::{HttpResponse, get, web};
use serde_json::json;

use super::{ApiError, AppState};
use crate::store;

/// The process is up and serving HTTP.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "up")))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// The process can do work: its database answers.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "ready"),
        (status = 503, description = "a dependency is down", body = super::errors::Problem)))]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match store::ping(&state.db).await {
        Ok(()) => HttpResponse::Ok().json(json!({"status": "ready", "database": "ok"})),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            let mut res = actix_web::ResponseError::error_response(&ApiError::Internal(format!(
                "database: {e}"
            )));
            *res.status_mut() = actix_web::http::StatusCode::SERVICE_UNAVAILABLE;
            res
        }
    }
}
