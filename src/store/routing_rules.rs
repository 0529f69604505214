//! Routing rules: which team, skills and priority a new conversation gets
//! from its pre-chat facts. Evaluated in `position` order by
//! `domain::routing::first_match`.

use std::collections::BTreeMap;

use chrono::Utc;
use entity::routing_rules;
use sea_orm::ActiveValue::{Set, Unchanged};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
};

use super::StoreError;
use crate::domain::TeamId;
use crate::domain::routing::{Facts, Otherwise, Route, RouteDecision, Rule, RuleConditions};

/// A rule to create or the full new state of one.
pub struct RuleInput {
    /// Shown to admins.
    pub name: String,
    /// Evaluation order, lowest first.
    pub position: i32,
    /// When it applies.
    pub conditions: RuleConditions,
    /// Where matching conversations go.
    pub team: Option<TeamId>,
    /// Skill name → least level.
    pub required_skills: BTreeMap<String, u8>,
    /// Priority given to matching conversations.
    pub priority: i32,
    /// Inactive rules are kept but skipped.
    pub active: bool,
}

fn json(v: &impl serde::Serialize) -> Result<serde_json::Value, StoreError> {
    serde_json::to_value(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Inserts a rule.
pub async fn insert(
    db: &impl ConnectionTrait,
    rule: &RuleInput,
) -> Result<routing_rules::Model, StoreError> {
    let now = Utc::now();
    Ok(routing_rules::ActiveModel {
        name: Set(rule.name.clone()),
        position: Set(rule.position),
        conditions: Set(json(&rule.conditions)?),
        team_id: Set(rule.team.map(|t| t.0)),
        required_skills: Set(json(&rule.required_skills)?),
        priority: Set(rule.priority),
        active: Set(rule.active),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// Replaces a rule.
pub async fn replace(
    db: &impl ConnectionTrait,
    id: i64,
    rule: &RuleInput,
) -> Result<routing_rules::Model, StoreError> {
    Ok(routing_rules::ActiveModel {
        id: Unchanged(id),
        name: Set(rule.name.clone()),
        position: Set(rule.position),
        conditions: Set(json(&rule.conditions)?),
        team_id: Set(rule.team.map(|t| t.0)),
        required_skills: Set(json(&rule.required_skills)?),
        priority: Set(rule.priority),
        active: Set(rule.active),
        updated_at: Set(Utc::now()),
        ..Default::default()
    }
    .update(db)
    .await?)
}

/// Finds a rule.
pub async fn find(
    db: &impl ConnectionTrait,
    id: i64,
) -> Result<Option<routing_rules::Model>, StoreError> {
    Ok(routing_rules::Entity::find_by_id(id).one(db).await?)
}

/// Every rule in evaluation order.
pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<routing_rules::Model>, StoreError> {
    Ok(routing_rules::Entity::find()
        .order_by_asc(routing_rules::Column::Position)
        .order_by_asc(routing_rules::Column::Id)
        .all(db)
        .await?)
}

/// Deletes a rule.
pub async fn delete(db: &impl ConnectionTrait, id: i64) -> Result<(), StoreError> {
    let res = routing_rules::Entity::delete_by_id(id).exec(db).await?;
    if res.rows_affected == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// A stored row as the domain's rule.
pub fn to_rule(row: &routing_rules::Model) -> Result<Rule, StoreError> {
    let conditions: RuleConditions = serde_json::from_value(row.conditions.clone())
        .map_err(|e| StoreError::Corrupt(format!("rule {} conditions: {e}", row.id)))?;
    let required_skills: BTreeMap<String, u8> = serde_json::from_value(row.required_skills.clone())
        .map_err(|e| StoreError::Corrupt(format!("rule {} skills: {e}", row.id)))?;
    Ok(Rule {
        position: row.position,
        id: row.id,
        conditions,
        decision: RouteDecision {
            team: row.team_id.map(TeamId),
            required_skills,
            priority: row.priority,
        },
    })
}

/// The active rules, as the domain evaluates them.
pub async fn active(db: &impl ConnectionTrait) -> Result<Vec<Rule>, StoreError> {
    routing_rules::Entity::find()
        .filter(routing_rules::Column::Active.eq(true))
        .all(db)
        .await?
        .iter()
        .map(to_rule)
        .collect()
}

/// Routes a new conversation with these facts: loads the active rules and
/// the teams, then applies [`crate::domain::routing::route`].
pub async fn route(
    db: &impl ConnectionTrait,
    facts: &Facts<'_>,
    otherwise: Otherwise<'_>,
) -> Result<Route, StoreError> {
    let rules = active(db).await?;
    let teams: Vec<(TeamId, String)> = super::teams::list(db, None, 1000)
        .await?
        .into_iter()
        .map(|t| (TeamId(t.id), t.name))
        .collect();
    Ok(crate::domain::routing::route(
        &rules, facts, &teams, otherwise,
    ))
}
