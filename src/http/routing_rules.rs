//! Admin REST for routing rules: map pre-chat facts (issue type, language,
//! channel, custom fields) to a team, required skills and a priority.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use entity::routing_rules;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::errors::{Checks, Problem};
use super::extract::Staff;
use super::{ApiError, AppState};
use crate::domain::routing::RuleConditions;
use crate::domain::{Role, SkillLevel, SkillName, TeamId};
use crate::store;
use crate::store::audit;
use crate::store::routing_rules::RuleInput;

/// Mounts the routes of this file.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list_rules)
        .service(create_rule)
        .service(get_rule)
        .service(update_rule)
        .service(delete_rule);
}

/// A routing rule.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleView {
    /// Rule id.
    pub id: i64,
    /// Shown to admins.
    pub name: String,
    /// Evaluation order, lowest first; the first match wins.
    pub position: i32,
    /// All given conditions must hold.
    pub conditions: RuleConditions,
    /// Team for matching conversations.
    pub team_id: Option<i64>,
    /// Skill name → least level (1–5).
    pub required_skills: BTreeMap<String, u8>,
    /// Higher is served first.
    pub priority: i32,
    /// Inactive rules are skipped.
    pub active: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// Body of `POST /routing-rules`; `PATCH` takes any subset.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleBody {
    /// 1–80 characters.
    pub name: Option<String>,
    /// Default: after the last rule.
    pub position: Option<i32>,
    /// `{issue_type?, language?, channel?, custom_fields?}`.
    pub conditions: Option<ConditionsBody>,
    /// Team for matching conversations.
    pub team_id: Option<i64>,
    /// Skill name → least level 1–5.
    pub required_skills: Option<BTreeMap<String, i64>>,
    /// −100 to 100; default 0.
    pub priority: Option<i32>,
    /// Default true.
    pub active: Option<bool>,
}

/// Rule conditions as sent (unknown keys refused).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConditionsBody {
    /// Pre-chat issue type.
    pub issue_type: Option<String>,
    /// Preferred language.
    pub language: Option<String>,
    /// `widget`, `whatsapp` or `api`.
    pub channel: Option<String>,
    /// Custom field → value.
    #[schema(value_type = Option<Object>)]
    pub custom_fields: Option<BTreeMap<String, serde_json::Value>>,
}

/// All rules in evaluation order.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleList {
    /// The rules.
    pub items: Vec<RuleView>,
}

fn view(row: &routing_rules::Model) -> Result<RuleView, ApiError> {
    let rule = store::routing_rules::to_rule(row)?;
    Ok(RuleView {
        id: row.id,
        name: row.name.clone(),
        position: row.position,
        conditions: rule.conditions,
        team_id: row.team_id,
        required_skills: rule.decision.required_skills,
        priority: row.priority,
        active: row.active,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// Validates a body on top of `base` (the current rule for PATCH).
fn merge(body: RuleBody, base: RuleInput) -> Result<RuleInput, ApiError> {
    let mut checks = Checks::default();
    let mut out = base;
    if let Some(name) = body.name {
        let n = name.trim();
        if n.is_empty() || n.chars().count() > 80 || n.chars().any(char::is_control) {
            checks.fail("name", "must be 1 to 80 printable characters");
        }
        out.name = n.to_owned();
    }
    if let Some(p) = body.position {
        out.position = p;
    }
    if let Some(c) = body.conditions {
        if let Some(ch) = &c.channel
            && !["widget", "whatsapp", "api"].contains(&ch.as_str())
        {
            checks.fail("conditions.channel", "must be widget, whatsapp or api");
        }
        for (field, v) in [("issue_type", &c.issue_type), ("language", &c.language)] {
            if v.as_ref()
                .is_some_and(|v| v.trim().is_empty() || v.chars().count() > 64)
            {
                checks.fail(&format!("conditions.{field}"), "must be 1 to 64 characters");
            }
        }
        let custom = c.custom_fields.unwrap_or_default();
        if custom.len() > 20 || custom.values().any(|v| v.is_object() || v.is_array()) {
            checks.fail(
                "conditions.custom_fields",
                "at most 20 fields with text, number or boolean values",
            );
        }
        out.conditions = RuleConditions {
            issue_type: c.issue_type,
            language: c.language,
            channel: c.channel,
            custom_fields: custom,
        };
    }
    if let Some(t) = body.team_id {
        out.team = Some(TeamId(t));
    }
    if let Some(skills) = body.required_skills {
        let mut parsed = BTreeMap::new();
        for (name, level) in skills {
            let field = format!("required_skills.{name}");
            let n = checks.check(&field, SkillName::parse(&name));
            let l = checks.check(&field, SkillLevel::parse(level));
            if let (Some(n), Some(l)) = (n, l) {
                parsed.insert(n.as_str().to_owned(), l.get());
            }
        }
        out.required_skills = parsed;
    }
    if let Some(p) = body.priority {
        if !(-100..=100).contains(&p) {
            checks.fail("priority", "must be between -100 and 100");
        }
        out.priority = p;
    }
    if let Some(a) = body.active {
        out.active = a;
    }
    checks.finish()?;
    Ok(out)
}

async fn check_team(
    db: &impl sea_orm::ConnectionTrait,
    team: Option<TeamId>,
) -> Result<(), ApiError> {
    if let Some(t) = team
        && store::teams::find(db, t).await?.is_none()
    {
        return Err(ApiError::field("team_id", "no such team"));
    }
    Ok(())
}

/// List routing rules in evaluation order.
#[utoipa::path(get, path = "/api/v1/routing-rules", tag = "routing", security(("bearer" = [])),
    responses((status = 200, body = RuleList), (status = 401, body = Problem),
        (status = 403, body = Problem)))]
#[get("/routing-rules")]
pub async fn list_rules(
    state: web::Data<AppState>,
    staff: Staff,
) -> Result<HttpResponse, ApiError> {
    staff.require(Role::Supervisor)?;
    let items = store::routing_rules::list(&state.db)
        .await?
        .iter()
        .map(view)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(HttpResponse::Ok().json(RuleList { items }))
}

/// Create a routing rule.
#[utoipa::path(post, path = "/api/v1/routing-rules", tag = "routing", request_body = RuleBody,
    security(("bearer" = [])),
    responses((status = 201, body = RuleView), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 422, body = Problem)))]
#[post("/routing-rules")]
pub async fn create_rule(
    state: web::Data<AppState>,
    staff: Staff,
    req: HttpRequest,
    body: web::Json<RuleBody>,
) -> Result<HttpResponse, ApiError> {
    staff.require(Role::Admin)?;
    let body = body.into_inner();
    if body.name.is_none() {
        return Err(ApiError::field("name", "is required"));
    }
    let txn = store::begin(&state.db).await?;
    let next_position = store::routing_rules::list(&txn)
        .await?
        .iter()
        .map(|r| r.position)
        .max()
        .map_or(0, |p| p.saturating_add(10));
    let rule = merge(
        body,
        RuleInput {
            name: String::new(),
            position: next_position,
            conditions: RuleConditions {
                issue_type: None,
                language: None,
                channel: None,
                custom_fields: BTreeMap::new(),
            },
            team: None,
            required_skills: BTreeMap::new(),
            priority: 0,
            active: true,
        },
    )?;
    check_team(&txn, rule.team).await?;
    let row = store::routing_rules::insert(&txn, &rule).await?;
    audit::record(
        &txn,
        staff.audit(
            &req,
            "routing_rule.create",
            "routing_rule",
            row.id,
            json!({"name": row.name}),
        ),
    )
    .await?;
    txn.commit().await?;
    Ok(HttpResponse::Created().json(view(&row)?))
}

/// Read a routing rule.
#[utoipa::path(get, path = "/api/v1/routing-rules/{id}", tag = "routing",
    params(("id" = i64, Path, description = "rule id")), security(("bearer" = [])),
    responses((status = 200, body = RuleView), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
#[get("/routing-rules/{id}")]
pub async fn get_rule(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    staff.require(Role::Supervisor)?;
    let row = store::routing_rules::find(&state.db, path.into_inner())
        .await?
        .ok_or_else(|| ApiError::NotFound("no such routing rule".into()))?;
    Ok(HttpResponse::Ok().json(view(&row)?))
}

/// Change a routing rule.
#[utoipa::path(patch, path = "/api/v1/routing-rules/{id}", tag = "routing", request_body = RuleBody,
    params(("id" = i64, Path, description = "rule id")), security(("bearer" = [])),
    responses((status = 200, body = RuleView), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[patch("/routing-rules/{id}")]
pub async fn update_rule(
    state: web::Data<AppState>,
    staff: Staff,
    req: HttpRequest,
    path: web::Path<i64>,
    body: web::Json<RuleBody>,
) -> Result<HttpResponse, ApiError> {
    staff.require(Role::Admin)?;
    let id = path.into_inner();
    let txn = store::begin(&state.db).await?;
    let row = store::routing_rules::find(&txn, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such routing rule".into()))?;
    let current = store::routing_rules::to_rule(&row)?;
    let rule = merge(
        body.into_inner(),
        RuleInput {
            name: row.name.clone(),
            position: row.position,
            conditions: current.conditions,
            team: current.decision.team,
            required_skills: current.decision.required_skills,
            priority: row.priority,
            active: row.active,
        },
    )?;
    check_team(&txn, rule.team).await?;
    let row = store::routing_rules::replace(&txn, id, &rule).await?;
    audit::record(
        &txn,
        staff.audit(&req, "routing_rule.update", "routing_rule", id, json!({})),
    )
    .await?;
    txn.commit().await?;
    Ok(HttpResponse::Ok().json(view(&row)?))
}

/// Delete a routing rule.
#[utoipa::path(delete, path = "/api/v1/routing-rules/{id}", tag = "routing",
    params(("id" = i64, Path, description = "rule id")), security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
#[delete("/routing-rules/{id}")]
pub async fn delete_rule(
    state: web::Data<AppState>,
    staff: Staff,
    req: HttpRequest,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    staff.require(Role::Admin)?;
    let id = path.into_inner();
    let txn = store::begin(&state.db).await?;
    store::routing_rules::delete(&txn, id)
        .await
        .map_err(|e| match e {
            store::StoreError::NotFound => ApiError::NotFound("no such routing rule".into()),
            other => other.into(),
        })?;
    audit::record(
        &txn,
        staff.audit(&req, "routing_rule.delete", "routing_rule", id, json!({})),
    )
    .await?;
    txn.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}
