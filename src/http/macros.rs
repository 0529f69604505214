//! Macros (canned responses) agents insert into replies: personal ones
//! (the caller's own, invisible to everyone else) and global ones that
//! admins write and every staff member may use.

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use entity::macros;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::errors::{Checks, Problem};
use super::extract::Staff;
use super::{ApiError, AppState, pagination};
use crate::domain::Role;
use crate::domain::inbox::{MacroContent, MacroTitle, SearchText};
use crate::store;
use crate::store::audit;
use crate::store::macros::MacroScope;

/// Mounts the routes of this file.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list_macros)
        .service(create_macro)
        .service(get_macro)
        .service(update_macro)
        .service(delete_macro);
}

/// Who a macro belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Only its owner sees and uses it.
    Personal,
    /// Every staff member uses it; admins write it.
    Global,
}

/// A macro.
#[derive(Debug, Serialize, ToSchema)]
pub struct MacroView {
    /// Macro id.
    pub id: i64,
    /// What agents search for after `/`.
    pub title: String,
    /// The text inserted into the reply.
    pub content: String,
    /// `personal` or `global`.
    pub scope: Visibility,
    /// The owner of a personal macro; `null` for a global one.
    pub owner_id: Option<i64>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<macros::Model> for MacroView {
    fn from(m: macros::Model) -> Self {
        MacroView {
            id: m.id,
            title: m.title,
            content: m.content,
            scope: if m.owner_id.is_some() {
                Visibility::Personal
            } else {
                Visibility::Global
            },
            owner_id: m.owner_id,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// Macros, by title.
#[derive(Debug, Serialize, ToSchema)]
pub struct MacroList {
    /// The macros.
    pub items: Vec<MacroView>,
}

/// Query of `GET /macros`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListMacros {
    /// Only macros whose title contains this (case-insensitive), 1–100 characters.
    pub q: Option<String>,
    /// `personal`, `global`, or absent for both.
    pub scope: Option<Visibility>,
    /// At most this many, 1–200 (default 50).
    pub limit: Option<u64>,
}

/// Body of `POST /macros`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMacro {
    /// 1–80 characters.
    pub title: String,
    /// 1–4000 characters.
    pub content: String,
    /// `personal` (the default) or `global` (admins only).
    pub scope: Option<Visibility>,
}

/// Body of `PATCH /macros/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMacro {
    /// New title.
    pub title: Option<String>,
    /// New content.
    pub content: Option<String>,
}

/// The macro, if the caller may see it: its own or a global one. Someone
/// else's personal macro is answered like a missing one.
async fn visible_macro(
    state: &AppState,
    staff: &Staff,
    id: i64,
) -> Result<macros::Model, ApiError> {
    store::macros::find(&state.db, id)
        .await?
        .filter(|m| m.owner_id.is_none_or(|o| o == staff.id.0))
        .ok_or_else(|| ApiError::NotFound("no such macro".into()))
}

/// Writing needs ownership, and for a global macro the admin role.
fn may_write(staff: &Staff, m: &macros::Model) -> Result<(), ApiError> {
    if m.owner_id.is_none() && staff.role != Role::Admin {
        return Err(ApiError::ForbiddenBecause(
            "only admins change global macros".into(),
        ));
    }
    Ok(())
}

/// The caller's macros and the global ones.
#[utoipa::path(get, path = "/api/v1/macros", tag = "macros", params(ListMacros),
    security(("bearer" = [])),
    responses((status = 200, body = MacroList), (status = 401, body = Problem),
        (status = 422, body = Problem)))]
#[get("/macros")]
pub async fn list_macros(
    state: web::Data<AppState>,
    staff: Staff,
    query: web::Query<ListMacros>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let limit = pagination::limit(q.limit)?;
    let search = match q.q.as_deref() {
        Some(text) => SearchText::parse(text).map_err(|e| ApiError::field("q", e.0))?,
        None => None,
    };
    let scope = match q.scope {
        None => MacroScope::Both,
        Some(Visibility::Personal) => MacroScope::Personal,
        Some(Visibility::Global) => MacroScope::Global,
    };
    let items = store::macros::list_for(&state.db, staff.id, scope, search.as_ref(), limit)
        .await?
        .into_iter()
        .map(MacroView::from)
        .collect();
    Ok(HttpResponse::Ok().json(MacroList { items }))
}

/// Write a macro: personal for anyone, global for admins.
#[utoipa::path(post, path = "/api/v1/macros", tag = "macros", request_body = CreateMacro,
    security(("bearer" = [])),
    responses((status = 201, body = MacroView), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 422, body = Problem)))]
#[post("/macros")]
pub async fn create_macro(
    state: web::Data<AppState>,
    staff: Staff,
    req: HttpRequest,
    body: web::Json<CreateMacro>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let scope = body.scope.unwrap_or(Visibility::Personal);
    if scope == Visibility::Global && staff.role != Role::Admin {
        return Err(ApiError::ForbiddenBecause(
            "only admins write global macros".into(),
        ));
    }
    let mut checks = Checks::default();
    let title = checks.check("title", MacroTitle::parse(&body.title));
    let content = checks.check("content", MacroContent::parse(&body.content));
    checks.finish()?;
    let (Some(title), Some(content)) = (title, content) else {
        return Err(ApiError::Internal("validated macro missing".into()));
    };
    let owner = (scope == Visibility::Personal).then_some(staff.id);
    let txn = store::begin(&state.db).await?;
    let m = store::macros::insert(&txn, owner, &title, &content).await?;
    audit::record(
        &txn,
        staff.audit(
            &req,
            "macro.create",
            "macro",
            m.id,
            json!({"title": m.title, "owner_id": m.owner_id}),
        ),
    )
    .await?;
    txn.commit().await?;
    Ok(HttpResponse::Created().json(MacroView::from(m)))
}

/// One macro (the caller's own, or a global one).
#[utoipa::path(get, path = "/api/v1/macros/{id}", tag = "macros",
    params(("id" = i64, Path, description = "macro id")), security(("bearer" = [])),
    responses((status = 200, body = MacroView), (status = 401, body = Problem),
        (status = 404, body = Problem)))]
#[get("/macros/{id}")]
pub async fn get_macro(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let m = visible_macro(&state, &staff, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(MacroView::from(m)))
}

/// Change a macro's title or content.
#[utoipa::path(patch, path = "/api/v1/macros/{id}", tag = "macros", request_body = UpdateMacro,
    params(("id" = i64, Path, description = "macro id")), security(("bearer" = [])),
    responses((status = 200, body = MacroView), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[patch("/macros/{id}")]
pub async fn update_macro(
    state: web::Data<AppState>,
    staff: Staff,
    req: HttpRequest,
    path: web::Path<i64>,
    body: web::Json<UpdateMacro>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let m = visible_macro(&state, &staff, path.into_inner()).await?;
    may_write(&staff, &m)?;
    let mut checks = Checks::default();
    let title = body
        .title
        .as_deref()
        .and_then(|t| checks.check("title", MacroTitle::parse(t)));
    let content = body
        .content
        .as_deref()
        .and_then(|c| checks.check("content", MacroContent::parse(c)));
    checks.finish()?;
    let txn = store::begin(&state.db).await?;
    let m = store::macros::update(&txn, m.id, title.as_ref(), content.as_ref()).await?;
    audit::record(
        &txn,
        staff.audit(
            &req,
            "macro.update",
            "macro",
            m.id,
            json!({"title": m.title, "owner_id": m.owner_id}),
        ),
    )
    .await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(MacroView::from(m)))
}

/// Delete a macro.
#[utoipa::path(delete, path = "/api/v1/macros/{id}", tag = "macros",
    params(("id" = i64, Path, description = "macro id")), security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
#[delete("/macros/{id}")]
pub async fn delete_macro(
    state: web::Data<AppState>,
    staff: Staff,
    req: HttpRequest,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let m = visible_macro(&state, &staff, path.into_inner()).await?;
    may_write(&staff, &m)?;
    let txn = store::begin(&state.db).await?;
    store::macros::delete(&txn, m.id).await?;
    audit::record(
        &txn,
        staff.audit(
            &req,
            "macro.delete",
            "macro",
            m.id,
            json!({"title": m.title, "owner_id": m.owner_id}),
        ),
    )
    .await?;
    txn.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}
