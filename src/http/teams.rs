//! Teams: admins create, change, delete and staff them; every staff user may
//! read them (agents need them to transfer conversations).

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, put, web};
use chrono::{DateTime, Utc};
use entity::teams;
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::errors::{Checks, Problem};
use super::extract::Staff;
use super::pagination::{self, Page};
use super::{ApiError, AppState};
use crate::domain::team::fallback_makes_cycle;
use crate::domain::{Role, TeamId, TeamName, UserId};
use crate::store::audit;
use crate::store::teams::{NewTeam, TeamChanges};
use crate::store::{self, StoreError};

/// Longest overflow wait accepted: one week.
const MAX_OVERFLOW_S: i64 = 7 * 24 * 3600;

/// Mounts the routes of this file.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(create_team)
        .service(list_teams)
        .service(get_team)
        .service(update_team)
        .service(delete_team)
        .service(set_members);
}

/// A team as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TeamView {
    /// Team id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Team that takes conversations waiting longer than `overflow_after_s`.
    pub fallback_team_id: Option<i64>,
    /// Seconds before a waiting conversation overflows.
    pub overflow_after_s: Option<i32>,
    /// Automatic assignment (`true`) or agents take from the queue.
    pub auto_assign: bool,
    /// Seconds within which the first agent reply is due.
    pub sla_first_response_s: Option<i32>,
    /// Seconds within which a conversation should be closed.
    pub sla_resolution_s: Option<i32>,
    /// Member user ids.
    pub member_ids: Vec<i64>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

fn team_view(t: teams::Model, members: Vec<UserId>) -> TeamView {
    TeamView {
        id: t.id,
        name: t.name,
        fallback_team_id: t.fallback_team_id,
        overflow_after_s: t.overflow_after_s,
        auto_assign: t.auto_assign,
        sla_first_response_s: t.sla_first_response_s,
        sla_resolution_s: t.sla_resolution_s,
        member_ids: members.into_iter().map(|u| u.0).collect(),
        created_at: t.created_at,
        updated_at: t.updated_at,
    }
}

/// Body of `POST /teams`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTeam {
    /// Unique name, 1–80 characters.
    pub name: String,
    /// Overflow target.
    pub fallback_team_id: Option<i64>,
    /// Seconds before overflow, 1–604800.
    pub overflow_after_s: Option<i64>,
    /// Default `true`.
    pub auto_assign: Option<bool>,
    /// First-response target, seconds (1–604800).
    pub sla_first_response_s: Option<i64>,
    /// Resolution target, seconds (1–604800).
    pub sla_resolution_s: Option<i64>,
}

/// Body of `PATCH /teams/{id}`; `null` clears a nullable field.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTeam {
    /// New name.
    pub name: Option<String>,
    /// New overflow target, or `null` for none.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub fallback_team_id: Option<Option<i64>>,
    /// New overflow time, or `null` for none.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub overflow_after_s: Option<Option<i64>>,
    /// New assignment mode.
    pub auto_assign: Option<bool>,
    /// New first-response target, or `null` for none.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub sla_first_response_s: Option<Option<i64>>,
    /// New resolution target, or `null` for none.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub sla_resolution_s: Option<Option<i64>>,
}

/// Tells "field absent" (outer `None`) from "field is null" (`Some(None)`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Body of `PUT /teams/{id}/members`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetMembers {
    /// The complete set of member user ids.
    pub user_ids: Vec<i64>,
}

/// Query of `GET /teams`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListTeams {
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Page size, 1–200 (default 50).
    pub limit: Option<u64>,
}

fn parse_overflow(checks: &mut Checks, raw: Option<i64>) -> Option<i32> {
    parse_seconds(checks, "overflow_after_s", raw)
}

/// A duration in seconds between 1 and a week.
fn parse_seconds(checks: &mut Checks, field: &str, raw: Option<i64>) -> Option<i32> {
    match raw {
        Some(s) if (1..=MAX_OVERFLOW_S).contains(&s) => i32::try_from(s).ok(),
        Some(_) => {
            checks.fail(field, format!("must be between 1 and {MAX_OVERFLOW_S}"));
            None
        }
        None => None,
    }
}

/// 422 unless `fallback` exists and does not make a loop with `team`.
async fn check_fallback(
    db: &impl ConnectionTrait,
    team: Option<TeamId>,
    fallback: TeamId,
) -> Result<(), ApiError> {
    store::teams::lock_fallbacks(db).await?;
    let map = store::teams::fallback_map(db).await?;
    if !map.contains_key(&fallback) {
        return Err(ApiError::field("fallback_team_id", "no such team"));
    }
    if let Some(team) = team
        && fallback_makes_cycle(&map, team, fallback)
    {
        return Err(ApiError::field(
            "fallback_team_id",
            "would make overflow go round in a circle",
        ));
    }
    Ok(())
}

fn name_conflict(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(_) => {
            ApiError::Conflict("a team with this name already exists".into())
        }
        other => other.into(),
    }
}

/// Makes team `id`'s live queue reload from the store and plan again,
/// after a change it cannot see (it plans from what it holds).
pub(super) async fn reload_queue(state: &AppState, id: TeamId) {
    if let Ok(queue) = state.bus.team(id).await {
        queue.tell(crate::actors::team_queue::Reload);
    }
}

async fn load_view(db: &impl ConnectionTrait, id: TeamId) -> Result<TeamView, ApiError> {
    let team = store::teams::find(db, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such team".into()))?;
    let members = store::teams::member_ids(db, id).await?;
    Ok(team_view(team, members))
}

/// Create a team.
#[utoipa::path(post, path = "/api/v1/teams", tag = "teams", request_body = CreateTeam,
    security(("bearer" = [])),
    responses((status = 201, body = TeamView), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 409, description = "name in use", body = Problem),
        (status = 422, body = Problem)))]
#[post("/teams")]
pub async fn create_team(
    state: web::Data<AppState>,
    staff: Staff,
    req: HttpRequest,
    body: web::Json<CreateTeam>,
) -> Result<HttpResponse, ApiError> {
    staff.require(Role::Admin)?;
    let mut checks = Checks::default();
    let name = checks.check("name", TeamName::parse(&body.name));
    let overflow_after_s = parse_overflow(&mut checks, body.overflow_after_s);
    let sla_first_response_s = parse_seconds(
        &mut checks,
        "sla_first_response_s",
        body.sla_first_response_s,
    );
    let sla_resolution_s = parse_seconds(&mut checks, "sla_resolution_s", body.sla_resolution_s);
    checks.finish()?;
    let Some(name) = name else {
        return Err(ApiError::Internal("validated name missing".into()));
    };
    let txn = store::begin(&state.db).await?;
    let fallback_team = body.fallback_team_id.map(TeamId);
    if let Some(fb) = fallback_team {
        check_fallback(&txn, None, fb).await?;
    }
    let team = store::teams::insert(
        &txn,
        &NewTeam {
            name,
            fallback_team,
            overflow_after_s,
            auto_assign: body.auto_assign.unwrap_or(true),
            sla_first_response_s,
            sla_resolution_s,
        },
    )
    .await
    .map_err(name_conflict)?;
    audit::record(
        &txn,
        staff.audit(
            &req,
            "team.create",
            "team",
            team.id,
            json!({"name": team.name}),
        ),
    )
    .await?;
    txn.commit().await?;
    Ok(HttpResponse::Created().json(team_view(team, Vec::new())))
}

/// List teams.
#[utoipa::path(get, path = "/api/v1/teams", tag = "teams", params(ListTeams),
    security(("bearer" = [])),
    responses((status = 200, body = Page<TeamView>), (status = 401, body = Problem),
        (status = 422, body = Problem)))]
#[get("/teams")]
pub async fn list_teams(
    state: web::Data<AppState>,
    _staff: Staff,
    query: web::Query<ListTeams>,
) -> Result<HttpResponse, ApiError> {
    let limit = pagination::limit(query.limit)?;
    let after = query
        .cursor
        .as_deref()
        .map(pagination::decode)
        .transpose()?;
    let rows = store::teams::list(&state.db, after, limit + 1).await?;
    let ids: Vec<TeamId> = rows.iter().map(|t| TeamId(t.id)).collect();
    let mut members = store::teams::members_of(&state.db, &ids).await?;
    let page = pagination::page(
        rows,
        limit,
        |t| t.id,
        |t| {
            let m = members.remove(&TeamId(t.id)).unwrap_or_default();
            team_view(t, m)
        },
    );
    Ok(HttpResponse::Ok().json(page))
}

/// Read a team.
#[utoipa::path(get, path = "/api/v1/teams/{id}", tag = "teams",
    params(("id" = i64, Path, description = "team id")), security(("bearer" = [])),
    responses((status = 200, body = TeamView), (status = 401, body = Problem),
        (status = 404, body = Problem)))]
#[get("/teams/{id}")]
pub async fn get_team(
    state: web::Data<AppState>,
    _staff: Staff,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(load_view(&state.db, TeamId(path.into_inner())).await?))
}

/// Change a team.
#[utoipa::path(patch, path = "/api/v1/teams/{id}", tag = "teams", request_body = UpdateTeam,
    params(("id" = i64, Path, description = "team id")), security(("bearer" = [])),
    responses((status = 200, body = TeamView), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
#[patch("/teams/{id}")]
pub async fn update_team(
    state: web::Data<AppState>,
    staff: Staff,
    req: HttpRequest,
    path: web::Path<i64>,
    body: web::Json<UpdateTeam>,
) -> Result<HttpResponse, ApiError> {
    staff.require(Role::Admin)?;
    let id = TeamId(path.into_inner());
    let mut checks = Checks::default();
    let mut changes = TeamChanges {
        auto_assign: body.auto_assign,
        ..TeamChanges::default()
    };
    if let Some(n) = &body.name {
        changes.name = checks.check("name", TeamName::parse(n));
    }
    if let Some(o) = body.overflow_after_s {
        changes.overflow_after_s = Some(parse_overflow(&mut checks, o));
    }
    if let Some(v) = body.sla_first_response_s {
        changes.sla_first_response_s = Some(parse_seconds(&mut checks, "sla_first_response_s", v));
    }
    if let Some(v) = body.sla_resolution_s {
        changes.sla_resolution_s = Some(parse_seconds(&mut checks, "sla_resolution_s", v));
    }
    changes.fallback_team = body.fallback_team_id.map(|f| f.map(TeamId));
    checks.finish()?;
    let txn = store::begin(&state.db).await?;
    if store::teams::find(&txn, id).await?.is_none() {
        return Err(ApiError::NotFound("no such team".into()));
    }
    if let Some(Some(fb)) = changes.fallback_team {
        check_fallback(&txn, Some(id), fb).await?;
    }
    store::teams::update(&txn, id, changes)
        .await
        .map_err(name_conflict)?;
    audit::record(
        &txn,
        staff.audit(&req, "team.update", "team", id.0, json!({})),
    )
    .await?;
    let out = load_view(&txn, id).await?;
    txn.commit().await?;
    // The live queue picks up new settings or members (and routes with them).
    reload_queue(&state, id).await;
    Ok(HttpResponse::Ok().json(out))
}

/// Delete a team that has no open conversations.
#[utoipa::path(delete, path = "/api/v1/teams/{id}", tag = "teams",
    params(("id" = i64, Path, description = "team id")), security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, description = "the team has open conversations", body = Problem)))]
#[delete("/teams/{id}")]
pub async fn delete_team(
    state: web::Data<AppState>,
    staff: Staff,
    req: HttpRequest,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    staff.require(Role::Admin)?;
    let id = TeamId(path.into_inner());
    let txn = store::begin(&state.db).await?;
    if store::teams::find_for_change(&txn, id).await?.is_none() {
        return Err(ApiError::NotFound("no such team".into()));
    }
    let open = store::teams::open_conversations(&txn, id).await?;
    if open > 0 {
        return Err(ApiError::Conflict(format!(
            "the team has {open} open conversations; transfer or close them first"
        )));
    }
    store::teams::delete(&txn, id).await?;
    audit::record(
        &txn,
        staff.audit(&req, "team.delete", "team", id.0, json!({})),
    )
    .await?;
    txn.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Replace a team's members.
#[utoipa::path(put, path = "/api/v1/teams/{id}/members", tag = "teams", request_body = SetMembers,
    params(("id" = i64, Path, description = "team id")), security(("bearer" = [])),
    responses((status = 200, body = TeamView), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
#[put("/teams/{id}/members")]
pub async fn set_members(
    state: web::Data<AppState>,
    staff: Staff,
    req: HttpRequest,
    path: web::Path<i64>,
    body: web::Json<SetMembers>,
) -> Result<HttpResponse, ApiError> {
    staff.require(Role::Admin)?;
    let id = TeamId(path.into_inner());
    let mut users: Vec<UserId> = body.user_ids.iter().copied().map(UserId).collect();
    users.sort();
    users.dedup();
    let txn = store::begin(&state.db).await?;
    if store::teams::find(&txn, id).await?.is_none() {
        return Err(ApiError::NotFound("no such team".into()));
    }
    for u in &users {
        if store::users::find(&txn, *u).await?.is_none() {
            return Err(ApiError::field("user_ids", format!("no such user: {u}")));
        }
    }
    let before = store::teams::member_ids(&txn, id).await?;
    store::teams::set_members(&txn, id, &users).await?;
    audit::record(
        &txn,
        staff.audit(
            &req,
            "team.set_members",
            "team",
            id.0,
            json!({"user_ids": body.user_ids}),
        ),
    )
    .await?;
    let out = load_view(&txn, id).await?;
    txn.commit().await?;
    // Whoever joined or left holds sockets scoped to the teams they had.
    let left = before.iter().filter(|u| !users.contains(u));
    let joined = users.iter().filter(|u| !before.contains(u));
    for user in left.chain(joined) {
        super::users::reconnect_sockets(&state, *user);
    }
    // The live queue picks up new settings or members (and routes with them).
    reload_queue(&state, id).await;
    Ok(HttpResponse::Ok().json(out))
}

/// `Ok` if the team exists, else 404 "no such team" (routes under
/// `/teams/{id}/…`).
pub(crate) async fn require_team(state: &AppState, team: TeamId) -> Result<(), ApiError> {
    if store::teams::find(&state.db, team).await?.is_none() {
        return Err(ApiError::NotFound("no such team".into()));
    }
    Ok(())
}
