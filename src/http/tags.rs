//! Tags: admins keep the catalogue (`/tags`); staff who may read a
//! conversation set, add and remove its tags (`/conversations/{id}/tags`),
//! through the Conversation actor so followers get `conversation.updated`.

use std::collections::BTreeSet;

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, put, web};
use chrono::{DateTime, Utc};
use entity::tags;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::conversations::{party, scope, visible};
use super::errors::{Checks, Problem};
use super::extract::Staff;
use super::{ApiError, AppState};
use crate::actors::conversation::SetTags;
use crate::domain::access::StaffScope;
use crate::domain::inbox::{Color, TagName};
use crate::domain::{ConversationId, Role};
use crate::store::audit;
use crate::store::tags::TagChange;
use crate::store::{self, StoreError};

/// Most tag names one request may name.
pub const MAX_TAGS_PER_REQUEST: usize = 20;

/// Mounts the routes of this file.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list_tags)
        .service(create_tag)
        .service(update_tag)
        .service(delete_tag)
        .service(set_conversation_tags)
        .service(add_conversation_tags)
        .service(remove_conversation_tag);
}

/// A tag.
#[derive(Debug, Serialize, ToSchema)]
pub struct TagView {
    /// Tag id.
    pub id: i64,
    /// Lower-case name, unique.
    pub name: String,
    /// `#rrggbb`, or `null`.
    pub color: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
}

impl From<tags::Model> for TagView {
    fn from(t: tags::Model) -> Self {
        TagView {
            id: t.id,
            name: t.name,
            color: t.color,
            created_at: t.created_at,
        }
    }
}

/// Every tag, by name.
#[derive(Debug, Serialize, ToSchema)]
pub struct TagList {
    /// The tags.
    pub items: Vec<TagView>,
}

/// Body of `POST /tags`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTag {
    /// 1–40 characters of letters, digits, spaces and `-_:.`; lower-cased.
    pub name: String,
    /// `#rrggbb`.
    pub color: Option<String>,
}

/// Body of `PATCH /tags/{id}`; `color: null` clears the colour.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTag {
    /// New name.
    pub name: Option<String>,
    /// New colour, or `null` for none.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub color: Option<Option<String>>,
}

/// Tells "field absent" (outer `None`) from "field is null" (`Some(None)`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Body of `PUT` and `POST /conversations/{id}/tags`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConversationTags {
    /// Tag names (at most 20); each must exist in the catalogue.
    pub tags: Vec<String>,
}

fn name_taken(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(_) => ApiError::Conflict("a tag with this name already exists".into()),
        other => other.into(),
    }
}

/// List every tag.
#[utoipa::path(get, path = "/api/v1/tags", tag = "tags", security(("bearer" = [])),
    responses((status = 200, body = TagList), (status = 401, body = Problem)))]
#[get("/tags")]
pub async fn list_tags(
    state: web::Data<AppState>,
    _staff: Staff,
) -> Result<HttpResponse, ApiError> {
    let items = store::tags::list(&state.db)
        .await?
        .into_iter()
        .map(TagView::from)
        .collect();
    Ok(HttpResponse::Ok().json(TagList { items }))
}

/// Add a tag to the catalogue.
#[utoipa::path(post, path = "/api/v1/tags", tag = "tags", request_body = CreateTag,
    security(("bearer" = [])),
    responses((status = 201, body = TagView), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[post("/tags")]
pub async fn create_tag(
    state: web::Data<AppState>,
    staff: Staff,
    req: HttpRequest,
    body: web::Json<CreateTag>,
) -> Result<HttpResponse, ApiError> {
    staff.require(Role::Admin)?;
    let body = body.into_inner();
    let mut checks = Checks::default();
    let name = checks.check("name", TagName::parse(&body.name));
    let color = body
        .color
        .as_deref()
        .and_then(|c| checks.check("color", Color::parse(c)));
    checks.finish()?;
    let Some(name) = name else {
        return Err(ApiError::Internal("validated name missing".into()));
    };
    let txn = store::begin(&state.db).await?;
    let tag = store::tags::insert(&txn, &name, color.as_ref())
        .await
        .map_err(name_taken)?;
    audit::record(
        &txn,
        staff.audit(
            &req,
            "tag.create",
            "tag",
            tag.id,
            json!({"name": tag.name, "color": tag.color}),
        ),
    )
    .await?;
    txn.commit().await?;
    Ok(HttpResponse::Created().json(TagView::from(tag)))
}

/// Rename a tag or change its colour; conversations keep it.
#[utoipa::path(patch, path = "/api/v1/tags/{id}", tag = "tags", request_body = UpdateTag,
    params(("id" = i64, Path, description = "tag id")), security(("bearer" = [])),
    responses((status = 200, body = TagView), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
#[patch("/tags/{id}")]
pub async fn update_tag(
    state: web::Data<AppState>,
    staff: Staff,
    req: HttpRequest,
    path: web::Path<i64>,
    body: web::Json<UpdateTag>,
) -> Result<HttpResponse, ApiError> {
    staff.require(Role::Admin)?;
    let id = path.into_inner();
    let body = body.into_inner();
    let mut checks = Checks::default();
    let name = body
        .name
        .as_deref()
        .and_then(|n| checks.check("name", TagName::parse(n)));
    let color: Option<Option<Color>> = match &body.color {
        None => None,
        Some(None) => Some(None),
        Some(Some(c)) => checks.check("color", Color::parse(c)).map(Some),
    };
    checks.finish()?;
    let txn = store::begin(&state.db).await?;
    if store::tags::find(&txn, id).await?.is_none() {
        return Err(ApiError::NotFound("no such tag".into()));
    }
    let tag = store::tags::update(&txn, id, name.as_ref(), color.as_ref().map(|c| c.as_ref()))
        .await
        .map_err(name_taken)?;
    audit::record(
        &txn,
        staff.audit(
            &req,
            "tag.update",
            "tag",
            tag.id,
            json!({"name": tag.name, "color": tag.color}),
        ),
    )
    .await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(TagView::from(tag)))
}

/// Remove a tag from the catalogue and from every conversation.
#[utoipa::path(delete, path = "/api/v1/tags/{id}", tag = "tags",
    params(("id" = i64, Path, description = "tag id")), security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
#[delete("/tags/{id}")]
pub async fn delete_tag(
    state: web::Data<AppState>,
    staff: Staff,
    req: HttpRequest,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    staff.require(Role::Admin)?;
    let id = path.into_inner();
    let txn = store::begin(&state.db).await?;
    let tag = store::tags::find(&txn, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such tag".into()))?;
    store::tags::delete(&txn, id).await?;
    audit::record(
        &txn,
        staff.audit(&req, "tag.delete", "tag", id, json!({"name": tag.name})),
    )
    .await?;
    txn.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Validates tag names and finds their ids: 422 for a bad or unknown name.
async fn tag_ids(state: &AppState, names: &[String]) -> Result<BTreeSet<i64>, ApiError> {
    if names.len() > MAX_TAGS_PER_REQUEST {
        return Err(ApiError::field(
            "tags",
            format!("at most {MAX_TAGS_PER_REQUEST} tags"),
        ));
    }
    let mut checks = Checks::default();
    let parsed: Vec<TagName> = names
        .iter()
        .enumerate()
        .filter_map(|(i, n)| checks.check(&format!("tags.{i}"), TagName::parse(n)))
        .collect();
    checks.finish()?;
    match store::tags::resolve(&state.db, &parsed).await? {
        Ok(found) => Ok(found.into_iter().map(|t| t.id).collect()),
        Err(missing) => {
            let mut checks = Checks::default();
            for (i, n) in parsed.iter().enumerate() {
                if missing.contains(n) {
                    checks.fail(&format!("tags.{i}"), format!("no such tag: {}", n.as_str()));
                }
            }
            checks.finish()?;
            Err(ApiError::Internal("unknown tags not reported".into()))
        }
    }
}

/// Runs a tag change through the conversation's actor, which checks the
/// caller's access again against its own, current row.
async fn change_tags(
    state: &AppState,
    staff: &Staff,
    scope: StaffScope,
    id: ConversationId,
    change: TagChange,
) -> Result<HttpResponse, ApiError> {
    let conv = state.bus.conversation(id).await?;
    let view = conv
        .ask(SetTags {
            by: party(staff, scope),
            change,
        })
        .await??;
    Ok(HttpResponse::Ok().json(view))
}

/// Replace a conversation's tags.
#[utoipa::path(put, path = "/api/v1/conversations/{id}/tags", tag = "tags",
    request_body = ConversationTags,
    params(("id" = i64, Path, description = "conversation id")), security(("bearer" = [])),
    responses((status = 200, body = crate::domain::protocol::ConversationView),
        (status = 401, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[put("/conversations/{id}/tags")]
pub async fn set_conversation_tags(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<i64>,
    body: web::Json<ConversationTags>,
) -> Result<HttpResponse, ApiError> {
    // Visibility first: a caller outside the scope learns nothing, not
    // even which tags exist.
    let scope = scope(&state, &staff).await?;
    let row = visible(&state, &scope, path.into_inner()).await?;
    let ids = tag_ids(&state, &body.tags).await?;
    change_tags(
        &state,
        &staff,
        scope,
        ConversationId(row.id),
        TagChange::Set(ids),
    )
    .await
}

/// Add tags to a conversation (those it has already stay).
#[utoipa::path(post, path = "/api/v1/conversations/{id}/tags", tag = "tags",
    request_body = ConversationTags,
    params(("id" = i64, Path, description = "conversation id")), security(("bearer" = [])),
    responses((status = 200, body = crate::domain::protocol::ConversationView),
        (status = 401, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[post("/conversations/{id}/tags")]
pub async fn add_conversation_tags(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<i64>,
    body: web::Json<ConversationTags>,
) -> Result<HttpResponse, ApiError> {
    let scope = scope(&state, &staff).await?;
    let row = visible(&state, &scope, path.into_inner()).await?;
    if body.tags.is_empty() {
        return Err(ApiError::field("tags", "name at least one tag"));
    }
    let ids = tag_ids(&state, &body.tags).await?;
    change_tags(
        &state,
        &staff,
        scope,
        ConversationId(row.id),
        TagChange::Add(ids),
    )
    .await
}

/// Remove one tag from a conversation (nothing happens if it lacks it).
#[utoipa::path(delete, path = "/api/v1/conversations/{id}/tags/{name}", tag = "tags",
    params(("id" = i64, Path, description = "conversation id"),
        ("name" = String, Path, description = "tag name")),
    security(("bearer" = [])),
    responses((status = 200, body = crate::domain::protocol::ConversationView),
        (status = 401, body = Problem), (status = 404, body = Problem)))]
#[delete("/conversations/{id}/tags/{name}")]
pub async fn remove_conversation_tag(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<(i64, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, name) = path.into_inner();
    let scope = scope(&state, &staff).await?;
    let row = visible(&state, &scope, id).await?;
    let not_found = || ApiError::NotFound("no such tag".into());
    let name = TagName::parse(&name).map_err(|_| not_found())?;
    let found = store::tags::resolve(&state.db, std::slice::from_ref(&name))
        .await?
        .map_err(|_| not_found())?;
    let ids = found.into_iter().map(|t| t.id).collect();
    change_tags(
        &state,
        &staff,
        scope,
        ConversationId(row.id),
        TagChange::Remove(ids),
    )
    .await
}
