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
    let not_ready = |cause: String| {
        tracing::warn!(%cause, "readiness check failed");
        let mut res = actix_web::ResponseError::error_response(&ApiError::Internal(cause));
        *res.status_mut() = actix_web::http::StatusCode::SERVICE_UNAVAILABLE;
        res
    };
    if let Err(e) = store::ping(&state.db).await {
        return not_ready(format!("database: {e}"));
    }
    if !state.bus.is_ready() {
        // A node cut off from Redis still serves what it hosts, but a load
        // balancer should send new clients elsewhere.
        return not_ready("redis: unreachable or lease lapsed".into());
    }
    let redis = state.bus.clustered().then_some("ok");
    HttpResponse::Ok().json(json!({"status": "ready", "database": "ok", "redis": redis}))
}
