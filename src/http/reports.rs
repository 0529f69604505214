//! Reports for supervisors and admins. For now: the SLA breaches recorded
//! when conversations missed their team's first-response or resolution
//! target (`domain::sla`).

use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::errors::Problem;
use super::extract::Staff;
use super::pagination::{self, Page};
use super::{ApiError, AppState};
use crate::domain::{Role, TeamId};
use crate::store;

/// Mounts the routes of this file.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list_sla_breaches);
}

/// Query of `GET /reports/sla-breaches`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListBreaches {
    /// Only this team.
    pub team_id: Option<i64>,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Page size, 1–200 (default 50).
    pub limit: Option<u64>,
}

/// One missed target.
#[derive(Debug, Serialize, ToSchema)]
pub struct BreachView {
    /// Record id.
    pub id: i64,
    /// The conversation.
    pub conversation_id: i64,
    /// Its team when it breached (`null` once that team is deleted).
    pub team_id: Option<i64>,
    /// `first_response` or `resolution`.
    pub kind: String,
    /// The target, seconds.
    pub target_s: i32,
    /// When it was due.
    pub due_at: DateTime<Utc>,
    /// When the breach was recorded.
    pub breached_at: DateTime<Utc>,
}

/// SLA breaches, newest first: supervisors see their teams', admins all.
#[utoipa::path(get, path = "/api/v1/reports/sla-breaches", tag = "reports",
    params(ListBreaches), security(("bearer" = [])),
    responses((status = 200, body = Page<BreachView>), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 422, body = Problem)))]
#[get("/reports/sla-breaches")]
pub async fn list_sla_breaches(
    state: web::Data<AppState>,
    staff: Staff,
    query: web::Query<ListBreaches>,
) -> Result<HttpResponse, ApiError> {
    staff.require(Role::Supervisor)?;
    let q = query.into_inner();
    let limit = pagination::limit(q.limit)?;
    let before = q.cursor.as_deref().map(pagination::decode).transpose()?;
    let mut teams: Option<Vec<TeamId>> = match staff.role {
        Role::Admin => None,
        _ => Some(store::users::team_ids(&state.db, staff.id).await?),
    };
    if let Some(t) = q.team_id.map(TeamId) {
        teams = match teams {
            Some(mine) if !mine.contains(&t) => Some(Vec::new()),
            _ => Some(vec![t]),
        };
    }
    let rows = store::sla::list(&state.db, teams.as_deref(), before, limit + 1).await?;
    Ok(HttpResponse::Ok().json(pagination::page(
        rows,
        limit,
        |r| r.id,
        |r| BreachView {
            id: r.id,
            conversation_id: r.conversation_id,
            team_id: r.team_id,
            kind: r.kind,
            target_s: r.target_s,
            due_at: r.due_at,
            breached_at: r.breached_at,
        },
    )))
}
