//! Who is calling: the `Staff` extractor authenticates a bearer access token
//! and re-reads the user, so a deactivated account or an ended session is
//! refused at once, not when its token expires.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use entity::users;

use super::{ApiError, AppState};
use crate::domain::{Role, UserId};
use crate::store;
use crate::store::audit::AuditEntry;

/// An authenticated, active staff user.
#[derive(Debug, Clone)]
pub struct Staff {
    /// The user id.
    pub id: UserId,
    /// The user's current role (from the database, not the token).
    pub role: Role,
    /// The login session the token belongs to.
    pub session: String,
    /// The whole row.
    pub user: users::Model,
}

impl Staff {
    /// An audit entry for something this user did through `req`.
    pub fn audit<'a>(
        &self,
        req: &HttpRequest,
        action: &'a str,
        target_type: &'a str,
        target_id: i64,
        details: serde_json::Value,
    ) -> AuditEntry<'a> {
        AuditEntry {
            actor: Some(self.id),
            action,
            target_type,
            target_id: Some(target_id),
            details,
            ip: req.peer_addr().map(|a| a.ip().to_string()),
        }
    }

    /// `Forbidden` unless the caller has at least `role`.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.role.at_least(role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }
}

/// The bearer token of a request: `Authorization: Bearer …`, or the
/// `access_token` query parameter (browsers cannot set headers on WebSockets).
pub fn bearer_token(req: &HttpRequest) -> Option<String> {
    if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        let value = value.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_owned());
    }
    web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.get("access_token").cloned())
}

impl FromRequest for Staff {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer_token(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::Internal("app state missing".into()))?;
            let token =
                token.ok_or_else(|| ApiError::Unauthorized("missing bearer token".into()))?;
            let claims = state.keys.verify_access(&token)?;
            let id = claims.user_id()?;
            let unauthorized = || ApiError::Unauthorized("invalid or expired token".into());
            let user = store::users::find(&state.db, id)
                .await?
                .ok_or_else(unauthorized)?;
            if !user.active {
                return Err(ApiError::Unauthorized("account is deactivated".into()));
            }
            if !store::refresh_tokens::family_is_live(&state.db, &claims.sid).await? {
                return Err(ApiError::Unauthorized(
                    "session has ended; log in again".into(),
                ));
            }
            let role = store::users::role_of(&user)?;
            Ok(Staff {
                id,
                role,
                session: claims.sid,
                user,
            })
        })
    }
}
