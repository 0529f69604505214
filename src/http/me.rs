//! The caller's own account: read it, change name or presence, change password.

use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::auth::{TokenPair, issue_tokens};
use super::errors::{Checks, Problem};
use super::extract::Staff;
use super::users::{UserView, parse_status};
use super::{ApiError, AppState};
use crate::auth::{password, refresh};
use crate::domain::{DisplayName, Password};
use crate::store;
use crate::store::audit;
use crate::store::users::UserChanges;

/// Mounts the routes of this file.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(get_me)
        .service(update_me)
        .service(change_password);
}

/// Body of `PATCH /me`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMe {
    /// New display name.
    pub name: Option<String>,
    /// `online`, `away` or `offline`.
    pub status: Option<String>,
}

/// Body of `POST /me/password`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    /// The password in use now.
    pub current_password: String,
    /// The new one, 8–128 characters.
    pub new_password: String,
}

/// The caller, with teams, skills, capacity and status.
#[utoipa::path(get, path = "/api/v1/me", tag = "me", security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, body = Problem)))]
#[get("/me")]
pub async fn get_me(state: web::Data<AppState>, staff: Staff) -> Result<HttpResponse, ApiError> {
    let record = store::users::record(&state.db, staff.id).await?;
    Ok(HttpResponse::Ok().json(UserView::from_record(record)?))
}

/// Change the caller's name or presence.
#[utoipa::path(patch, path = "/api/v1/me", tag = "me", request_body = UpdateMe,
    security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, body = Problem),
        (status = 422, body = Problem)))]
#[patch("/me")]
pub async fn update_me(
    state: web::Data<AppState>,
    staff: Staff,
    body: web::Json<UpdateMe>,
) -> Result<HttpResponse, ApiError> {
    let mut checks = Checks::default();
    let mut changes = UserChanges::default();
    if let Some(n) = &body.name {
        changes.name = checks.check("name", DisplayName::parse(n));
    }
    if let Some(s) = &body.status {
        match parse_status(s) {
            Ok(s) => changes.status = Some(s),
            Err(_) => checks.fail("status", "must be online, away or offline"),
        }
    }
    checks.finish()?;
    let new_status = changes.status;
    store::users::update(&state.db, staff.id, changes).await?;
    match new_status {
        Some(crate::domain::AgentStatus::Offline) => state
            .bus
            .agent_event(crate::actors::router::AgentEvent::WentOffline { agent: staff.id }),
        Some(_) => state
            .bus
            .agent_event(crate::actors::router::AgentEvent::Changed { agent: staff.id }),
        None => {}
    }
    let record = store::users::record(&state.db, staff.id).await?;
    Ok(HttpResponse::Ok().json(UserView::from_record(record)?))
}

/// Change the caller's password. Every session ends; the answer carries a
/// fresh token pair for this client.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "me", request_body = ChangePassword,
    security(("bearer" = [])),
    responses((status = 200, body = TokenPair), (status = 401, body = Problem),
        (status = 422, description = "current password wrong, or new one invalid", body = Problem)))]
#[post("/me/password")]
pub async fn change_password(
    state: web::Data<AppState>,
    staff: Staff,
    req: HttpRequest,
    body: web::Json<ChangePassword>,
) -> Result<HttpResponse, ApiError> {
    let new =
        Password::parse(&body.new_password).map_err(|e| ApiError::field("new_password", e.0))?;
    if !password::verify(&body.current_password, &staff.user.password_hash).await? {
        return Err(ApiError::field(
            "current_password",
            "is not your current password",
        ));
    }
    let hash = password::hash(&new).await?;
    let txn = store::begin(&state.db).await?;
    store::users::update(
        &txn,
        staff.id,
        UserChanges {
            password_hash: Some(hash),
            ..UserChanges::default()
        },
    )
    .await?;
    store::refresh_tokens::revoke_all_of_user(&txn, staff.id).await?;
    audit::record(
        &txn,
        staff.audit(&req, "user.change_password", "user", staff.id.0, json!({})),
    )
    .await?;
    let pair = issue_tokens(&state, &txn, staff.id, &refresh::new_family_id()).await?;
    txn.commit().await?;
    state
        .bus
        .agent_event(crate::actors::router::AgentEvent::Kick {
            agent: staff.id,
            family: None,
            reason: "password changed; log in again".into(),
            reconnect: false,
        });
    Ok(HttpResponse::Ok().json(pair))
}
