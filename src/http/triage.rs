//! A team's triage bot: admins write the flow; staff read it. New live
//! chats of a team with an enabled flow talk to the bot before they queue
//! (see `domain::triage` and `docs/routing.md`).

use actix_web::{HttpRequest, HttpResponse, delete, get, put, web};
use serde_json::json;

use super::errors::{FieldError, Problem};
use super::extract::Staff;
use super::teams::require_team;
use super::{ApiError, AppState};
use crate::domain::triage::{Flow, FlowSpec};
use crate::domain::{Role, TeamId};
use crate::store;
use crate::store::audit;

/// Mounts the routes of this file.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(get_triage)
        .service(put_triage)
        .service(delete_triage);
}

/// A team's triage flow (404 when it has none: chats queue at once).
#[utoipa::path(get, path = "/api/v1/teams/{id}/triage", tag = "teams",
    params(("id" = i64, Path, description = "team id")), security(("bearer" = [])),
    responses((status = 200, body = FlowSpec), (status = 401, body = Problem),
        (status = 404, body = Problem)))]
#[get("/teams/{id}/triage")]
pub async fn get_triage(
    state: web::Data<AppState>,
    _staff: Staff,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let team = TeamId(path.into_inner());
    require_team(&state, team).await?;
    let spec = store::triage::find(&state.db, team)
        .await?
        .ok_or_else(|| ApiError::NotFound("this team has no triage flow".into()))?;
    Ok(HttpResponse::Ok().json(spec))
}

/// Set a team's triage flow (admin). Every problem is reported at once
/// (422, `errors[].field` like `steps.0.options.1.label`).
#[utoipa::path(put, path = "/api/v1/teams/{id}/triage", tag = "teams", request_body = FlowSpec,
    params(("id" = i64, Path, description = "team id")), security(("bearer" = [])),
    responses((status = 200, body = FlowSpec), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[put("/teams/{id}/triage")]
pub async fn put_triage(
    state: web::Data<AppState>,
    staff: Staff,
    req: HttpRequest,
    path: web::Path<i64>,
    body: web::Json<FlowSpec>,
) -> Result<HttpResponse, ApiError> {
    staff.require(Role::Admin)?;
    let team = TeamId(path.into_inner());
    require_team(&state, team).await?;
    let spec = body.into_inner();
    let flow = Flow::parse(&spec).map_err(|problems| {
        ApiError::Invalid(
            problems
                .into_iter()
                .map(|p| FieldError {
                    field: p.field,
                    message: p.message,
                })
                .collect(),
        )
    })?;
    let missing = store::teams::missing(&state.db, &flow.teams()).await?;
    if !missing.is_empty() {
        let list: Vec<String> = missing.iter().map(ToString::to_string).collect();
        return Err(ApiError::field(
            "steps",
            format!("options name teams that do not exist: {}", list.join(", ")),
        ));
    }
    let txn = store::begin(&state.db).await?;
    store::triage::put(&txn, team, &spec).await?;
    audit::record(
        &txn,
        staff.audit(
            &req,
            "triage.put",
            "team",
            team.0,
            json!({"enabled": spec.enabled}),
        ),
    )
    .await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(spec))
}

/// Remove a team's triage flow: its chats queue at once (admin).
#[utoipa::path(delete, path = "/api/v1/teams/{id}/triage", tag = "teams",
    params(("id" = i64, Path, description = "team id")), security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
#[delete("/teams/{id}/triage")]
pub async fn delete_triage(
    state: web::Data<AppState>,
    staff: Staff,
    req: HttpRequest,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    staff.require(Role::Admin)?;
    let team = TeamId(path.into_inner());
    require_team(&state, team).await?;
    let txn = store::begin(&state.db).await?;
    if !store::triage::delete(&txn, team).await? {
        return Err(ApiError::NotFound("this team has no triage flow".into()));
    }
    audit::record(
        &txn,
        staff.audit(&req, "triage.delete", "team", team.0, json!({})),
    )
    .await?;
    txn.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}
