//! Per-team triage flows (the bot that runs before the queue).

use chrono::Utc;
use entity::triage_flows;
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::StoreError;
use crate::domain::TeamId;
use crate::domain::triage::{Flow, FlowSpec};

/// The stored flow of a team, as written.
pub async fn find(db: &impl ConnectionTrait, team: TeamId) -> Result<Option<FlowSpec>, StoreError> {
    let row = triage_flows::Entity::find()
        .filter(triage_flows::Column::TeamId.eq(team.0))
        .one(db)
        .await?;
    row.map(|r| {
        let mut spec: FlowSpec = serde_json::from_value(r.flow)
            .map_err(|e| StoreError::Corrupt(format!("triage flow of team {team}: {e}")))?;
        spec.enabled = r.enabled;
        Ok(spec)
    })
    .transpose()
}

/// The flow that runs for a team's new conversations: `None` without one,
/// or when it is switched off.
pub async fn active(db: &impl ConnectionTrait, team: TeamId) -> Result<Option<Flow>, StoreError> {
    let Some(spec) = find(db, team).await? else {
        return Ok(None);
    };
    if !spec.enabled {
        return Ok(None);
    }
    Flow::parse(&spec)
        .map(Some)
        .map_err(|p| StoreError::Corrupt(format!("triage flow of team {team}: {p:?}")))
}

/// Sets a team's flow (replacing any). `spec` must have been validated.
pub async fn put(
    db: &impl ConnectionTrait,
    team: TeamId,
    spec: &FlowSpec,
) -> Result<(), StoreError> {
    let now = Utc::now();
    let flow = serde_json::to_value(spec).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let existing = triage_flows::Entity::find()
        .filter(triage_flows::Column::TeamId.eq(team.0))
        .one(db)
        .await?;
    match existing {
        Some(row) => {
            let mut am: triage_flows::ActiveModel = row.into();
            am.enabled = Set(spec.enabled);
            am.flow = Set(flow);
            am.updated_at = Set(now);
            am.update(db).await?;
        }
        None => {
            triage_flows::ActiveModel {
                team_id: Set(team.0),
                enabled: Set(spec.enabled),
                flow: Set(flow),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(db)
            .await?;
        }
    }
    Ok(())
}

/// Removes a team's flow; `false` if it had none.
pub async fn delete(db: &impl ConnectionTrait, team: TeamId) -> Result<bool, StoreError> {
    let res = triage_flows::Entity::delete_many()
        .filter(triage_flows::Column::TeamId.eq(team.0))
        .exec(db)
        .await?;
    Ok(res.rows_affected > 0)
}
