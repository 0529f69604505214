//! `audit_log`: append-only record of administrative and security-relevant actions (who did what to which object).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// One audit entry.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// User who performed the action; NULL for the system or a deleted user.
    pub actor_id: Option<i64>,
    /// Action name (e.g. `user.create`).
    #[sea_orm(column_type = "Text")]
    pub action: String,
    /// Kind of object acted on (e.g. `user`, `team`).
    #[sea_orm(column_type = "Text")]
    pub target_type: String,
    /// Id of the object acted on, if any (not a foreign key).
    pub target_id: Option<i64>,
    /// Action details (changed fields, ...) as JSON.
    #[sea_orm(column_type = "JsonBinary")]
    pub details: Json,
    /// Client IP address, if known.
    #[sea_orm(column_type = "Text")]
    pub ip: Option<String>,
    /// When the action happened.
    #[sea_orm(indexed)]
    pub created_at: DateTimeUtc,
    /// The actor, if any.
    #[sea_orm(belongs_to, from = "actor_id", to = "id", on_delete = "SetNull")]
    pub actor: BelongsTo<Option<super::users::Entity>>,
}

impl ActiveModelBehavior for ActiveModel {}
