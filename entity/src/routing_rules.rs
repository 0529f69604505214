//! `routing_rules`: ordered rules that pick a team, required skills and priority for new conversations.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// One routing rule.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "routing_rules")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Human-readable rule name.
    #[sea_orm(column_type = "Text")]
    pub name: String,
    /// Evaluation order, lowest first.
    #[sea_orm(indexed)]
    pub position: i32,
    /// Match conditions (on attributes, language, issue type, ...) as JSON.
    #[sea_orm(column_type = "JsonBinary")]
    pub conditions: Json,
    /// Team to route matching conversations to, if any (NULL if the team is deleted).
    pub team_id: Option<i64>,
    /// Skills (with minimum levels) required of the agent, as JSON.
    #[sea_orm(column_type = "JsonBinary")]
    pub required_skills: Json,
    /// Priority given to matching conversations (default 0).
    #[sea_orm(default_value = 0)]
    pub priority: i32,
    /// Whether the rule is evaluated (default true).
    #[sea_orm(default_value = true)]
    pub active: bool,
    /// Creation time.
    pub created_at: DateTimeUtc,
    /// Last update time.
    pub updated_at: DateTimeUtc,
    /// The target team, if any.
    #[sea_orm(belongs_to, from = "team_id", to = "id", on_delete = "SetNull")]
    pub team: BelongsTo<Option<super::teams::Entity>>,
}

impl ActiveModelBehavior for ActiveModel {}
