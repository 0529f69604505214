//! Login, refresh and logout. A login starts a session (a refresh-token
//! family); each refresh rotates the token; logout ends the session.

use actix_web::{HttpRequest, HttpResponse, post, web};
use chrono::Utc;
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::errors::Problem;
use super::users::UserView;
use super::{ApiError, AppState};
use crate::auth::{password, refresh};
use crate::domain::{Email, UserId};
use crate::store;

/// Mounts the routes of this file.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(login).service(refresh_session).service(logout);
}

/// Body of `POST /auth/login`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The account's e-mail (case-insensitive).
    pub email: String,
    /// The password.
    pub password: String,
}

/// Body of `POST /auth/refresh` and `POST /auth/logout`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token from the last login or refresh.
    pub refresh_token: String,
}

/// Answer of login and refresh.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenPair {
    /// Bearer token for REST and sockets; short-lived.
    pub access_token: String,
    /// Single-use token for `POST /auth/refresh`; replaced on every use.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until `access_token` expires.
    pub expires_in: i64,
    /// The authenticated user.
    pub user: UserView,
}

fn rejected() -> ApiError {
    ApiError::Unauthorized("invalid email or password".into())
}

fn session_rejected() -> ApiError {
    ApiError::Unauthorized("refresh token is invalid, expired or already used".into())
}

/// Mints a refresh token in `family` and an access token, and loads the user view.
pub async fn issue_tokens(
    state: &AppState,
    db: &impl ConnectionTrait,
    user: UserId,
    family: &str,
) -> Result<TokenPair, ApiError> {
    let record = store::users::record(db, user).await?;
    let role = record.role()?;
    let minted = refresh::mint();
    let ttl = i64::try_from(state.settings.auth.refresh_ttl_s).unwrap_or(i64::MAX / 4);
    let expires_at = Utc::now() + chrono::Duration::seconds(ttl);
    store::refresh_tokens::insert(db, user, family, &minted.hash, expires_at).await?;
    Ok(TokenPair {
        access_token: state.keys.issue_access(user, role, family)?,
        refresh_token: minted.token,
        token_type: "Bearer",
        expires_in: state.keys.access_ttl_s(),
        user: UserView::from_record(record)?,
    })
}

fn limit_ip(state: &AppState, req: &HttpRequest) -> Result<(), ApiError> {
    if let Some(addr) = req.peer_addr() {
        state
            .login_limiter
            .check_ip(addr.ip())
            .map_err(ApiError::RateLimited)?;
    }
    Ok(())
}

/// Log in with e-mail and password.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenPair),
        (status = 401, description = "wrong credentials or deactivated", body = Problem),
        (status = 422, body = Problem),
        (status = 429, description = "too many attempts; see Retry-After", body = Problem)))]
#[post("/auth/login")]
#[tracing::instrument(skip_all)]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    limit_ip(&state, &req)?;
    let email = Email::parse(&body.email).map_err(|e| ApiError::field("email", e.0))?;
    state
        .login_limiter
        .check_account(email.as_str())
        .map_err(ApiError::RateLimited)?;
    let Some(user) = store::users::find_by_email(&state.db, &email).await? else {
        password::verify_dummy(&body.password).await?;
        return Err(rejected());
    };
    if !password::verify(&body.password, &user.password_hash).await? {
        tracing::info!(user_id = user.id, "login refused: wrong password");
        return Err(rejected());
    }
    if !user.active {
        return Err(ApiError::Unauthorized("account is deactivated".into()));
    }
    let id = UserId(user.id);
    let txn = store::begin(&state.db).await?;
    store::users::record_login(&txn, id).await?;
    let pair = issue_tokens(&state, &txn, id, &refresh::new_family_id()).await?;
    txn.commit().await?;
    tracing::info!(user_id = id.0, "logged in");
    Ok(HttpResponse::Ok().json(pair))
}

/// Exchange a refresh token for a new pair. Each refresh token works once;
/// presenting a used one ends the whole session (it was copied).
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenPair), (status = 401, body = Problem),
        (status = 422, body = Problem), (status = 429, body = Problem)))]
#[post("/auth/refresh")]
#[tracing::instrument(skip_all)]
pub async fn refresh_session(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    limit_ip(&state, &req)?;
    let hash = refresh::hash(&body.refresh_token);
    let txn = store::begin(&state.db).await?;
    let token = store::refresh_tokens::find_by_hash(&txn, &hash)
        .await?
        .ok_or_else(session_rejected)?;
    if token.revoked_at.is_some() {
        let n = store::refresh_tokens::revoke_family(&txn, &token.family_id).await?;
        txn.commit().await?;
        tracing::warn!(
            user_id = token.user_id,
            revoked = n,
            "refresh token reused; session ended"
        );
        return Err(session_rejected());
    }
    if token.expires_at <= Utc::now() {
        return Err(session_rejected());
    }
    let user = store::users::find(&txn, UserId(token.user_id))
        .await?
        .ok_or_else(session_rejected)?;
    if !user.active {
        return Err(ApiError::Unauthorized("account is deactivated".into()));
    }
    if !store::refresh_tokens::revoke_if_live(&txn, token.id).await? {
        return Err(session_rejected());
    }
    let pair = issue_tokens(&state, &txn, UserId(user.id), &token.family_id).await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(pair))
}

/// End the session of a refresh token: it and its access tokens stop working.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", request_body = RefreshRequest,
    responses((status = 204, description = "session ended (or was already)"),
        (status = 422, body = Problem)))]
#[post("/auth/logout")]
pub async fn logout(
    state: web::Data<AppState>,
    body: web::Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let hash = refresh::hash(&body.refresh_token);
    if let Some(token) = store::refresh_tokens::find_by_hash(&state.db, &hash).await? {
        store::refresh_tokens::revoke_family(&state.db, &token.family_id).await?;
        // The session's sockets end with it.
        state
            .bus
            .agent_event(crate::actors::router::AgentEvent::Kick {
                agent: crate::domain::UserId(token.user_id),
                family: Some(token.family_id),
                reason: "logged out".into(),
                reconnect: false,
            });
    }
    Ok(HttpResponse::NoContent().finish())
}
