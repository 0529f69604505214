//! The skill catalogue: admins add and remove skills; staff read them.

use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::errors::Problem;
use super::extract::Staff;
use super::{ApiError, AppState};
use crate::domain::{Role, SkillId, SkillName};
use crate::store::audit;
use crate::store::{self, StoreError};

/// Mounts the routes of this file.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(create_skill)
        .service(list_skills)
        .service(delete_skill);
}

/// A skill.
#[derive(Debug, Serialize, ToSchema)]
pub struct SkillView {
    /// Skill id.
    pub id: i64,
    /// Name, e.g. `billing` or `language:es`.
    pub name: String,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// Body of `POST /skills`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSkill {
    /// a-z, 0-9 and `:_-.`, up to 64 characters (case-folded).
    pub name: String,
}

/// All skills, by name.
#[derive(Debug, Serialize, ToSchema)]
pub struct SkillList {
    /// The skills.
    pub items: Vec<SkillView>,
}

/// Add a skill to the catalogue.
#[utoipa::path(post, path = "/api/v1/skills", tag = "skills", request_body = CreateSkill,
    security(("bearer" = [])),
    responses((status = 201, body = SkillView), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[post("/skills")]
pub async fn create_skill(
    state: web::Data<AppState>,
    staff: Staff,
    req: HttpRequest,
    body: web::Json<CreateSkill>,
) -> Result<HttpResponse, ApiError> {
    staff.require(Role::Admin)?;
    let name = SkillName::parse(&body.name).map_err(|e| ApiError::field("name", e.0))?;
    let txn = store::begin(&state.db).await?;
    let skill = store::skills::insert(&txn, &name)
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => {
                ApiError::Conflict("a skill with this name already exists".into())
            }
            other => other.into(),
        })?;
    audit::record(
        &txn,
        staff.audit(
            &req,
            "skill.create",
            "skill",
            skill.id,
            json!({"name": skill.name}),
        ),
    )
    .await?;
    txn.commit().await?;
    Ok(HttpResponse::Created().json(SkillView {
        id: skill.id,
        name: skill.name,
        created_at: skill.created_at,
    }))
}

/// List every skill.
#[utoipa::path(get, path = "/api/v1/skills", tag = "skills", security(("bearer" = [])),
    responses((status = 200, body = SkillList), (status = 401, body = Problem)))]
#[get("/skills")]
pub async fn list_skills(
    state: web::Data<AppState>,
    _staff: Staff,
) -> Result<HttpResponse, ApiError> {
    let items = store::skills::list(&state.db)
        .await?
        .into_iter()
        .map(|s| SkillView {
            id: s.id,
            name: s.name,
            created_at: s.created_at,
        })
        .collect();
    Ok(HttpResponse::Ok().json(SkillList { items }))
}

/// Remove a skill; agents lose it and conversations stop requiring it.
#[utoipa::path(delete, path = "/api/v1/skills/{id}", tag = "skills",
    params(("id" = i64, Path, description = "skill id")), security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
#[delete("/skills/{id}")]
pub async fn delete_skill(
    state: web::Data<AppState>,
    staff: Staff,
    req: HttpRequest,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    staff.require(Role::Admin)?;
    let id = SkillId(path.into_inner());
    let txn = store::begin(&state.db).await?;
    let skill = store::skills::find(&txn, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such skill".into()))?;
    let waiting = store::skills::teams_waiting_for(&txn, id).await?;
    store::skills::delete(&txn, id).await?;
    audit::record(
        &txn,
        staff.audit(
            &req,
            "skill.delete",
            "skill",
            id.0,
            json!({"name": skill.name}),
        ),
    )
    .await?;
    txn.commit().await?;
    // Conversations that waited for the skill may go to anyone now (the
    // queue plans from what it holds, which still names the skill).
    for team in waiting {
        super::teams::reload_queue(&state, team).await;
    }
    Ok(HttpResponse::NoContent().finish())
}
