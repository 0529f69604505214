//! The audit log: who changed what, kept for admins and investigations.

use chrono::Utc;
use entity::audit_log;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait};

use super::StoreError;
use crate::domain::UserId;

/// One auditable action.
pub struct AuditEntry<'a> {
    /// Who did it; `None` for the system itself (bootstrap, CLI).
    pub actor: Option<UserId>,
    /// Dotted verb, e.g. `user.create`.
    pub action: &'a str,
    /// Kind of the thing acted on, e.g. `user`.
    pub target_type: &'a str,
    /// Its id.
    pub target_id: Option<i64>,
    /// What changed (never secrets).
    pub details: serde_json::Value,
    /// The client address, when it came over HTTP.
    pub ip: Option<String>,
}

/// Appends an entry.
pub async fn record(db: &impl ConnectionTrait, entry: AuditEntry<'_>) -> Result<(), StoreError> {
    audit_log::ActiveModel {
        actor_id: Set(entry.actor.map(|u| u.0)),
        action: Set(entry.action.to_owned()),
        target_type: Set(entry.target_type.to_owned()),
        target_id: Set(entry.target_id),
        details: Set(entry.details),
        ip: Set(entry.ip),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// The most recent entries about one target, newest first.
pub async fn for_target(
    db: &impl ConnectionTrait,
    target_type: &str,
    target_id: i64,
) -> Result<Vec<audit_log::Model>, StoreError> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    Ok(audit_log::Entity::find()
        .filter(audit_log::Column::TargetType.eq(target_type))
        .filter(audit_log::Column::TargetId.eq(target_id))
        .order_by_desc(audit_log::Column::Id)
        .all(db)
        .await?)
}
