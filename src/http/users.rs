//! Admin REST for staff users: create, list, read, update, deactivate,
//! reset password, teams, skills. Supervisors may read the members of their
//! own teams; agents may not use these routes (they have `/me`).

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, get, patch, post, put, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::errors::{Checks, Problem};
use super::extract::Staff;
use super::pagination::{self, Page};
use super::{ApiError, AppState};
use crate::auth::password;
use crate::domain::{
    AgentStatus, Capacity, DisplayName, Email, Password, Role, SkillLevel, SkillName, TeamId,
    UserId,
};
use crate::store::audit;
use crate::store::users::{UserChanges, UserFilter, UserRecord};
use crate::store::{self, StoreError};

/// Mounts the routes of this file.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(create_user)
        .service(list_users)
        .service(get_user)
        .service(update_user)
        .service(deactivate_user)
        .service(reset_password)
        .service(set_user_teams)
        .service(set_user_skills);
}

/// A team as a user's membership shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TeamRef {
    /// Team id.
    pub id: i64,
    /// Team name.
    pub name: String,
}

/// A staff user as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    /// User id.
    pub id: i64,
    /// Login e-mail (lower-case).
    pub email: String,
    /// Display name.
    pub name: String,
    /// `admin`, `supervisor` or `agent`.
    pub role: Role,
    /// `false` once deactivated: cannot log in.
    pub active: bool,
    /// Concurrent conversations the agent takes.
    pub capacity: i32,
    /// Presence.
    pub status: String,
    /// Teams the user belongs to.
    pub teams: Vec<TeamRef>,
    /// Skill name → level (1–5).
    pub skills: BTreeMap<String, u8>,
    /// Last successful login.
    pub last_login_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl UserView {
    /// Builds the view of a loaded user record.
    pub fn from_record(r: UserRecord) -> Result<Self, ApiError> {
        let role = r.role()?;
        Ok(UserView {
            id: r.user.id,
            email: r.user.email,
            name: r.user.name,
            role,
            active: r.user.active,
            capacity: r.user.capacity,
            status: r.user.status,
            teams: r
                .teams
                .into_iter()
                .map(|(id, name)| TeamRef { id: id.0, name })
                .collect(),
            skills: r.skills,
            last_login_at: r.user.last_login_at,
            created_at: r.user.created_at,
            updated_at: r.user.updated_at,
        })
    }
}

/// Body of `POST /users`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// Login e-mail; must be unused.
    pub email: String,
    /// 8–128 characters.
    pub password: String,
    /// Display name.
    pub name: String,
    /// `admin`, `supervisor` or `agent`.
    pub role: Role,
    /// 1–50; default 3.
    pub capacity: Option<i64>,
    /// Teams to join.
    #[serde(default)]
    pub team_ids: Vec<i64>,
    /// Skill name → level 1–5; unknown skills are created.
    #[serde(default)]
    pub skills: BTreeMap<String, i64>,
}

/// Body of `PATCH /users/{id}`: any subset of fields.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    /// New login e-mail.
    pub email: Option<String>,
    /// New password (ends the user's sessions).
    pub password: Option<String>,
    /// New display name.
    pub name: Option<String>,
    /// New role.
    pub role: Option<Role>,
    /// New capacity.
    pub capacity: Option<i64>,
    /// Replaces team memberships.
    pub team_ids: Option<Vec<i64>>,
    /// Replaces skills.
    pub skills: Option<BTreeMap<String, i64>>,
    /// `false` deactivates (ends sessions), `true` reactivates.
    pub active: Option<bool>,
}

/// Body of `POST /users/{id}/password`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPassword {
    /// The new password, 8–128 characters.
    pub password: String,
}

/// Body of `PUT /users/{id}/teams`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetTeams {
    /// The complete set of teams.
    pub team_ids: Vec<i64>,
}

/// Body of `PUT /users/{id}/skills`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetSkills {
    /// The complete set: skill name → level 1–5.
    pub skills: BTreeMap<String, i64>,
}

/// Query of `GET /users`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListUsers {
    /// Only this role.
    pub role: Option<Role>,
    /// Only active (`true`) or deactivated (`false`) users.
    pub active: Option<bool>,
    /// Only members of this team.
    pub team_id: Option<i64>,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Page size, 1–200 (default 50).
    pub limit: Option<u64>,
}

/// Validated skills: (name, level) pairs, sorted by name.
fn parse_skills(checks: &mut Checks, raw: &BTreeMap<String, i64>) -> Vec<(SkillName, SkillLevel)> {
    let mut out = Vec::new();
    for (name, level) in raw {
        let field = format!("skills.{name}");
        let n = checks.check(&field, SkillName::parse(name));
        let l = checks.check(&field, SkillLevel::parse(*level));
        if let (Some(n), Some(l)) = (n, l) {
            if out.iter().any(|(x, _): &(SkillName, SkillLevel)| *x == n) {
                checks.fail(&field, "skill given twice (names are case-insensitive)");
            } else {
                out.push((n, l));
            }
        }
    }
    out
}

/// Validated, de-duplicated team ids.
fn parse_team_ids(raw: &[i64]) -> Vec<TeamId> {
    let mut ids: Vec<TeamId> = raw.iter().copied().map(TeamId).collect();
    ids.sort();
    ids.dedup();
    ids
}

/// `MissingReference` → 422 on `team_ids`, when a listed team is absent.
async fn check_teams_exist(
    db: &impl sea_orm::ConnectionTrait,
    ids: &[TeamId],
) -> Result<(), ApiError> {
    let missing = store::teams::missing(db, ids).await?;
    if missing.is_empty() {
        Ok(())
    } else {
        let list: Vec<String> = missing.iter().map(|t| t.to_string()).collect();
        Err(ApiError::field(
            "team_ids",
            format!("no such team: {}", list.join(", ")),
        ))
    }
}

async fn apply_skills(
    db: &impl sea_orm::ConnectionTrait,
    user: UserId,
    skills: &[(SkillName, SkillLevel)],
) -> Result<(), ApiError> {
    let names: Vec<SkillName> = skills.iter().map(|(n, _)| n.clone()).collect();
    let ids = store::skills::ensure(db, &names).await?;
    let levels: Vec<(i64, u8)> = ids
        .iter()
        .zip(skills)
        .map(|((_, id), (_, level))| (id.0, level.get()))
        .collect();
    store::users::set_skills(db, user, &levels).await?;
    Ok(())
}

fn email_conflict(e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict(_) => {
            ApiError::Conflict("a user with this email already exists".into())
        }
        other => other.into(),
    }
}

/// Whether the caller may see user `target` (admins: all; supervisors:
/// themselves and members of their teams).
async fn visible_to(state: &AppState, staff: &Staff, target: UserId) -> Result<bool, ApiError> {
    match staff.role {
        Role::Admin => Ok(true),
        Role::Supervisor if staff.id == target => Ok(true),
        Role::Supervisor => {
            let mine = store::users::team_ids(&state.db, staff.id).await?;
            let theirs = store::users::team_ids(&state.db, target).await?;
            Ok(theirs.iter().any(|t| mine.contains(t)))
        }
        Role::Agent => Ok(false),
    }
}

/// Loads the view of a user after a change.
async fn view(db: &impl sea_orm::ConnectionTrait, id: UserId) -> Result<UserView, ApiError> {
    UserView::from_record(store::users::record(db, id).await?)
}

/// Create a staff user.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = CreateUser,
    security(("bearer" = [])),
    responses((status = 201, body = UserView), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 409, description = "email in use", body = Problem),
        (status = 422, body = Problem)))]
#[post("/users")]
pub async fn create_user(
    state: web::Data<AppState>,
    staff: Staff,
    req: HttpRequest,
    body: web::Json<CreateUser>,
) -> Result<HttpResponse, ApiError> {
    staff.require(Role::Admin)?;
    let body = body.into_inner();
    let mut checks = Checks::default();
    let email = checks.check("email", Email::parse(&body.email));
    let password = checks.check("password", Password::parse(&body.password));
    let name = checks.check("name", DisplayName::parse(&body.name));
    let capacity = match body.capacity {
        Some(c) => checks.check("capacity", Capacity::parse(c)),
        None => Some(Capacity::DEFAULT),
    };
    let skills = parse_skills(&mut checks, &body.skills);
    checks.finish()?;
    let (Some(email), Some(password), Some(name), Some(capacity)) =
        (email, password, name, capacity)
    else {
        return Err(ApiError::Internal("validated fields missing".into()));
    };
    let team_ids = parse_team_ids(&body.team_ids);
    let password_hash = password::hash(&password).await?;

    let txn = store::begin(&state.db).await?;
    check_teams_exist(&txn, &team_ids).await?;
    let new = store::users::NewUser {
        email,
        name,
        password_hash,
        role: body.role,
        capacity,
    };
    let user = store::users::insert(&txn, &new)
        .await
        .map_err(email_conflict)?;
    let id = UserId(user.id);
    store::users::set_teams(&txn, id, &team_ids).await?;
    apply_skills(&txn, id, &skills).await?;
    audit::record(
        &txn,
        staff.audit(
            &req,
            "user.create",
            "user",
            id.0,
            json!({"email": user.email, "role": user.role}),
        ),
    )
    .await?;
    let out = view(&txn, id).await?;
    txn.commit().await?;
    Ok(HttpResponse::Created().json(out))
}

/// List staff users (admins: all; supervisors: their teams' members).
#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(ListUsers),
    security(("bearer" = [])),
    responses((status = 200, body = Page<UserView>), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 422, body = Problem)))]
#[get("/users")]
pub async fn list_users(
    state: web::Data<AppState>,
    staff: Staff,
    query: web::Query<ListUsers>,
) -> Result<HttpResponse, ApiError> {
    staff.require(Role::Supervisor)?;
    let q = query.into_inner();
    let limit = pagination::limit(q.limit)?;
    let after_id = q.cursor.as_deref().map(pagination::decode).transpose()?;
    let within_teams = if staff.role == Role::Admin {
        None
    } else {
        Some(store::users::team_ids(&state.db, staff.id).await?)
    };
    let rows = store::users::list(
        &state.db,
        &UserFilter {
            role: q.role,
            active: q.active,
            team: q.team_id.map(TeamId),
            within_teams,
            after_id,
            limit: limit + 1,
        },
    )
    .await?;
    let more = rows.len() as u64 > limit;
    let records = store::users::with_details(&state.db, rows).await?;
    let mut page = pagination::page(records, limit, |r| r.user.id, |r| r);
    if !more {
        page.next_cursor = None;
    }
    let items = page
        .items
        .into_iter()
        .map(UserView::from_record)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(HttpResponse::Ok().json(Page {
        items,
        next_cursor: page.next_cursor,
    }))
}

/// Read one staff user.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users",
    params(("id" = i64, Path, description = "user id")), security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
#[get("/users/{id}")]
pub async fn get_user(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    staff.require(Role::Supervisor)?;
    let id = UserId(path.into_inner());
    if !visible_to(&state, &staff, id).await? {
        return Err(ApiError::NotFound("no such user".into()));
    }
    let out = view(&state.db, id).await.map_err(|e| match e {
        ApiError::NotFound(_) => ApiError::NotFound("no such user".into()),
        other => other,
    })?;
    Ok(HttpResponse::Ok().json(out))
}

/// What a user update changes, validated.
struct ParsedUpdate {
    changes: UserChanges,
    password: Option<Password>,
    team_ids: Option<Vec<TeamId>>,
    skills: Option<Vec<(SkillName, SkillLevel)>>,
}

fn parse_update(body: &UpdateUser) -> Result<ParsedUpdate, ApiError> {
    let mut checks = Checks::default();
    let mut changes = UserChanges {
        role: body.role,
        active: body.active,
        ..UserChanges::default()
    };
    if let Some(e) = &body.email {
        changes.email = checks.check("email", Email::parse(e));
    }
    if let Some(n) = &body.name {
        changes.name = checks.check("name", DisplayName::parse(n));
    }
    if let Some(c) = body.capacity {
        changes.capacity = checks.check("capacity", Capacity::parse(c));
    }
    let password = match &body.password {
        Some(p) => checks.check("password", Password::parse(p)),
        None => None,
    };
    let skills = body.skills.as_ref().map(|s| parse_skills(&mut checks, s));
    checks.finish()?;
    Ok(ParsedUpdate {
        changes,
        password,
        team_ids: body.team_ids.as_deref().map(parse_team_ids),
        skills,
    })
}

/// Makes the user's open sockets reconnect at once (closed with 1012), so
/// that each takes the role and teams the user has now: a socket checks
/// every event against the scope it connected with.
pub(crate) fn reconnect_sockets(state: &AppState, user: UserId) {
    state
        .bus
        .agent_event(crate::actors::router::AgentEvent::Kick {
            agent: user,
            family: None,
            reason: "your role or teams changed; reconnect".into(),
            reconnect: true,
        });
}

fn sorted(mut ids: Vec<TeamId>) -> Vec<TeamId> {
    ids.sort();
    ids
}

/// Applies a validated update in one transaction: all of it or nothing.
async fn apply_update(
    state: &AppState,
    staff: &Staff,
    req: &HttpRequest,
    id: UserId,
    mut update: ParsedUpdate,
    action: &str,
) -> Result<UserView, ApiError> {
    if let Some(p) = &update.password {
        update.changes.password_hash = Some(password::hash(p).await?);
    }
    let txn = store::begin(&state.db).await?;
    let current = store::users::find(&txn, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such user".into()))?;
    let current_role = store::users::role_of(&current)?;
    let teams_before = sorted(store::users::team_ids(&txn, id).await?);
    let loses_admin = current_role == Role::Admin
        && current.active
        && (update.changes.active == Some(false)
            || update.changes.role.is_some_and(|r| r != Role::Admin));
    if loses_admin && store::users::count_active_admins(&txn).await? <= 1 {
        return Err(ApiError::Conflict(
            "this is the last active admin; make another admin first".into(),
        ));
    }
    if let Some(teams) = &update.team_ids {
        check_teams_exist(&txn, teams).await?;
    }
    let deactivates = update.changes.active == Some(false);
    let ends_sessions = deactivates || update.changes.password_hash.is_some();
    let new_role = update.changes.role.is_some_and(|r| r != current_role);
    let mut changed: Vec<&str> = Vec::new();
    let c = &update.changes;
    for (set, field) in [
        (c.email.is_some(), "email"),
        (c.name.is_some(), "name"),
        (c.role.is_some(), "role"),
        (c.capacity.is_some(), "capacity"),
        (c.active.is_some(), "active"),
        (c.password_hash.is_some(), "password"),
        (update.team_ids.is_some(), "team_ids"),
        (update.skills.is_some(), "skills"),
    ] {
        if set {
            changed.push(field);
        }
    }
    store::users::update(&txn, id, update.changes)
        .await
        .map_err(email_conflict)?;
    if let Some(teams) = &update.team_ids {
        store::users::set_teams(&txn, id, teams).await?;
    }
    if let Some(skills) = &update.skills {
        apply_skills(&txn, id, skills).await?;
    }
    if ends_sessions {
        store::refresh_tokens::revoke_all_of_user(&txn, id).await?;
    }
    audit::record(
        &txn,
        staff.audit(req, action, "user", id.0, json!({ "changed": changed })),
    )
    .await?;
    let out = view(&txn, id).await?;
    txn.commit().await?;
    let teams_after = sorted(out.teams.iter().map(|t| TeamId(t.id)).collect());
    let rescoped = new_role || teams_before != teams_after;
    if ends_sessions {
        state
            .bus
            .agent_event(crate::actors::router::AgentEvent::Kick {
                agent: id,
                family: None,
                reason: "your sessions were ended".into(),
                reconnect: false,
            });
    } else if rescoped {
        reconnect_sockets(state, id);
    }
    if deactivates {
        // Its conversations go back to the front of their queues now, as
        // when an agent sets itself offline: a user without a socket has no
        // socket to close, so the requeue timer of a disconnect would never
        // start for it.
        state
            .bus
            .agent_event(crate::actors::router::AgentEvent::WentOffline { agent: id });
    }
    // Queues of the teams the user left or joined show the change (status,
    // capacity, membership) and may now route differently.
    let mut teams = teams_before;
    teams.extend(teams_after);
    teams.sort();
    teams.dedup();
    for team in teams {
        if let Ok(queue) = state.bus.team(team).await {
            queue.tell(crate::actors::team_queue::RefreshAgent { agent: id });
        }
    }
    Ok(out)
}

/// Change any fields of a user; `active: false` deactivates.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", request_body = UpdateUser,
    params(("id" = i64, Path, description = "user id")), security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "email in use, or last admin", body = Problem),
        (status = 422, body = Problem)))]
#[patch("/users/{id}")]
pub async fn update_user(
    state: web::Data<AppState>,
    staff: Staff,
    req: HttpRequest,
    path: web::Path<i64>,
    body: web::Json<UpdateUser>,
) -> Result<HttpResponse, ApiError> {
    staff.require(Role::Admin)?;
    let update = parse_update(&body)?;
    let out = apply_update(
        &state,
        &staff,
        &req,
        UserId(path.into_inner()),
        update,
        "user.update",
    )
    .await?;
    Ok(HttpResponse::Ok().json(out))
}

/// Deactivate a user: it can no longer log in and its sessions end.
#[utoipa::path(post, path = "/api/v1/users/{id}/deactivate", tag = "users",
    params(("id" = i64, Path, description = "user id")), security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "last admin", body = Problem)))]
#[post("/users/{id}/deactivate")]
pub async fn deactivate_user(
    state: web::Data<AppState>,
    staff: Staff,
    req: HttpRequest,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    staff.require(Role::Admin)?;
    let update = parse_update(&UpdateUser {
        active: Some(false),
        ..UpdateUser::default()
    })?;
    let out = apply_update(
        &state,
        &staff,
        &req,
        UserId(path.into_inner()),
        update,
        "user.deactivate",
    )
    .await?;
    Ok(HttpResponse::Ok().json(out))
}

/// Set a new password for a user; its sessions end.
#[utoipa::path(post, path = "/api/v1/users/{id}/password", tag = "users", request_body = ResetPassword,
    params(("id" = i64, Path, description = "user id")), security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
#[post("/users/{id}/password")]
pub async fn reset_password(
    state: web::Data<AppState>,
    staff: Staff,
    req: HttpRequest,
    path: web::Path<i64>,
    body: web::Json<ResetPassword>,
) -> Result<HttpResponse, ApiError> {
    staff.require(Role::Admin)?;
    let update = parse_update(&UpdateUser {
        password: Some(body.into_inner().password),
        ..UpdateUser::default()
    })?;
    apply_update(
        &state,
        &staff,
        &req,
        UserId(path.into_inner()),
        update,
        "user.reset_password",
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Replace a user's team memberships.
#[utoipa::path(put, path = "/api/v1/users/{id}/teams", tag = "users", request_body = SetTeams,
    params(("id" = i64, Path, description = "user id")), security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[put("/users/{id}/teams")]
pub async fn set_user_teams(
    state: web::Data<AppState>,
    staff: Staff,
    req: HttpRequest,
    path: web::Path<i64>,
    body: web::Json<SetTeams>,
) -> Result<HttpResponse, ApiError> {
    staff.require(Role::Admin)?;
    let update = parse_update(&UpdateUser {
        team_ids: Some(body.into_inner().team_ids),
        ..UpdateUser::default()
    })?;
    let out = apply_update(
        &state,
        &staff,
        &req,
        UserId(path.into_inner()),
        update,
        "user.set_teams",
    )
    .await?;
    Ok(HttpResponse::Ok().json(out))
}

/// Replace a user's skills.
#[utoipa::path(put, path = "/api/v1/users/{id}/skills", tag = "users", request_body = SetSkills,
    params(("id" = i64, Path, description = "user id")), security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[put("/users/{id}/skills")]
pub async fn set_user_skills(
    state: web::Data<AppState>,
    staff: Staff,
    req: HttpRequest,
    path: web::Path<i64>,
    body: web::Json<SetSkills>,
) -> Result<HttpResponse, ApiError> {
    staff.require(Role::Admin)?;
    let update = parse_update(&UpdateUser {
        skills: Some(body.into_inner().skills),
        ..UpdateUser::default()
    })?;
    let out = apply_update(
        &state,
        &staff,
        &req,
        UserId(path.into_inner()),
        update,
        "user.set_skills",
    )
    .await?;
    Ok(HttpResponse::Ok().json(out))
}

/// The status names accepted by `PATCH /me`.
pub fn parse_status(raw: &str) -> Result<AgentStatus, ApiError> {
    AgentStatus::parse(raw)
        .ok_or_else(|| ApiError::field("status", "must be online, away or offline"))
}
