//! `sla_breaches`: each time a conversation missed its team's first-response
//! or resolution target (at most once per kind), kept for reports.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// One breach.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "sla_breaches")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The conversation (deleted with it).
    #[sea_orm(indexed)]
    pub conversation_id: i64,
    /// Its team at the time (NULL once the team is deleted).
    pub team_id: Option<i64>,
    /// `first_response` or `resolution`.
    #[sea_orm(column_type = "Text")]
    pub kind: String,
    /// The target that was missed, in seconds.
    pub target_s: i32,
    /// When it was due.
    pub due_at: DateTimeUtc,
    /// When the breach was recorded.
    pub breached_at: DateTimeUtc,
    /// The conversation.
    #[sea_orm(belongs_to, from = "conversation_id", to = "id", on_delete = "Cascade")]
    pub conversation: BelongsTo<super::conversations::Entity>,
    /// The team.
    #[sea_orm(belongs_to, from = "team_id", to = "id", on_delete = "SetNull")]
    pub team: BelongsTo<Option<super::teams::Entity>>,
}

impl ActiveModelBehavior for ActiveModel {}
