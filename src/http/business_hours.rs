//! A team's business hours: admins set them; staff read them; the widget's
//! `init` uses them to offer live chat or "leave a message".

use actix_web::{HttpRequest, HttpResponse, delete, get, put, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::errors::Problem;
use super::extract::Staff;
use super::teams::require_team;
use super::{ApiError, AppState};
use crate::domain::hours::{BusinessHours, WeeklySchedule};
use crate::domain::{Role, TeamId};
use crate::store;
use crate::store::audit;

/// Mounts the routes of this file.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(get_hours)
        .service(put_hours)
        .service(delete_hours);
}

/// A team's hours.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoursBody {
    /// IANA time zone, e.g. `Europe/Lisbon`.
    pub timezone: String,
    /// `{"mon": [["09:00","17:00"]], …}` (mon…sun; absent days are closed).
    #[schema(value_type = Object)]
    pub schedule: WeeklySchedule,
    /// Closed dates, `YYYY-MM-DD`, in the team's time zone.
    #[serde(default)]
    pub holidays: Vec<String>,
}

/// A team's hours and whether it is open now.
#[derive(Debug, Serialize, ToSchema)]
pub struct HoursView {
    /// The team.
    pub team_id: i64,
    /// IANA time zone.
    pub timezone: String,
    /// The weekly schedule.
    #[schema(value_type = Object)]
    pub schedule: WeeklySchedule,
    /// Closed dates.
    pub holidays: Vec<String>,
    /// Open at the time of the request.
    pub open_now: bool,
    /// When it opens next, if closed now.
    pub next_open: Option<DateTime<Utc>>,
}

fn view(team: TeamId, body: HoursBody, hours: &BusinessHours) -> HoursView {
    let now = Utc::now();
    let open_now = hours.is_open(now);
    HoursView {
        team_id: team.0,
        timezone: body.timezone,
        schedule: body.schedule,
        holidays: body.holidays,
        open_now,
        next_open: if open_now { None } else { hours.next_open(now) },
    }
}

/// A team's business hours (404 when it has none: always open).
#[utoipa::path(get, path = "/api/v1/teams/{id}/business-hours", tag = "teams",
    params(("id" = i64, Path, description = "team id")), security(("bearer" = [])),
    responses((status = 200, body = HoursView), (status = 401, body = Problem),
        (status = 404, body = Problem)))]
#[get("/teams/{id}/business-hours")]
pub async fn get_hours(
    state: web::Data<AppState>,
    _staff: Staff,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let team = TeamId(path.into_inner());
    require_team(&state, team).await?;
    let row = store::business_hours::find(&state.db, team)
        .await?
        .ok_or_else(|| {
            ApiError::NotFound("this team has no business hours (always open)".into())
        })?;
    let hours = store::business_hours::parse(&row)?;
    let body = HoursBody {
        timezone: row.timezone,
        schedule: serde_json::from_value(row.schedule).unwrap_or_default(),
        holidays: serde_json::from_value(row.holidays).unwrap_or_default(),
    };
    Ok(HttpResponse::Ok().json(view(team, body, &hours)))
}

/// Set a team's business hours (admin).
#[utoipa::path(put, path = "/api/v1/teams/{id}/business-hours", tag = "teams",
    request_body = HoursBody,
    params(("id" = i64, Path, description = "team id")), security(("bearer" = [])),
    responses((status = 200, body = HoursView), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[put("/teams/{id}/business-hours")]
pub async fn put_hours(
    state: web::Data<AppState>,
    staff: Staff,
    req: HttpRequest,
    path: web::Path<i64>,
    body: web::Json<HoursBody>,
) -> Result<HttpResponse, ApiError> {
    staff.require(Role::Admin)?;
    let team = TeamId(path.into_inner());
    require_team(&state, team).await?;
    let body = body.into_inner();
    if body.holidays.len() > 366 {
        return Err(ApiError::field("holidays", "at most 366 dates"));
    }
    let hours = BusinessHours::parse(&body.timezone, &body.schedule, &body.holidays)
        .map_err(|e| ApiError::field("schedule", e.0))?;
    let txn = store::begin(&state.db).await?;
    store::business_hours::put(&txn, team, &body.timezone, &body.schedule, &body.holidays).await?;
    audit::record(
        &txn,
        staff.audit(&req, "business_hours.put", "team", team.0, json!({})),
    )
    .await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(view(team, body, &hours)))
}

/// Remove a team's business hours: it is always open again (admin).
#[utoipa::path(delete, path = "/api/v1/teams/{id}/business-hours", tag = "teams",
    params(("id" = i64, Path, description = "team id")), security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
#[delete("/teams/{id}/business-hours")]
pub async fn delete_hours(
    state: web::Data<AppState>,
    staff: Staff,
    req: HttpRequest,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    staff.require(Role::Admin)?;
    let team = TeamId(path.into_inner());
    require_team(&state, team).await?;
    let txn = store::begin(&state.db).await?;
    if !store::business_hours::delete(&txn, team).await? {
        return Err(ApiError::NotFound("this team has no business hours".into()));
    }
    audit::record(
        &txn,
        staff.audit(&req, "business_hours.delete", "team", team.0, json!({})),
    )
    .await?;
    txn.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}
