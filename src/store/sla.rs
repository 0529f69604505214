//! SLA breaches, recorded once per conversation and kind, for reports.

use chrono::{DateTime, Utc};
use entity::sla_breaches;
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use super::StoreError;
use crate::domain::sla::SlaKind;
use crate::domain::{ConversationId, TeamId};

/// Records a breach; `false` if it was already recorded.
pub async fn record(
    db: &impl ConnectionTrait,
    conversation: ConversationId,
    team: Option<TeamId>,
    kind: SlaKind,
    target_s: i32,
    due_at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let res = sla_breaches::ActiveModel {
        conversation_id: Set(conversation.0),
        team_id: Set(team.map(|t| t.0)),
        kind: Set(kind.as_str().to_owned()),
        target_s: Set(target_s),
        due_at: Set(due_at),
        breached_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await;
    match res.map_err(StoreError::from) {
        Ok(_) => Ok(true),
        Err(StoreError::Conflict(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Breaches, newest first, optionally of some teams only.
pub async fn list(
    db: &impl ConnectionTrait,
    teams: Option<&[TeamId]>,
    before_id: Option<i64>,
    limit: u64,
) -> Result<Vec<sla_breaches::Model>, StoreError> {
    let mut q = sla_breaches::Entity::find().order_by_desc(sla_breaches::Column::Id);
    if let Some(teams) = teams {
        q = q.filter(sla_breaches::Column::TeamId.is_in(teams.iter().map(|t| t.0)));
    }
    if let Some(b) = before_id {
        q = q.filter(sla_breaches::Column::Id.lt(b));
    }
    Ok(q.limit(limit).all(db).await?)
}
