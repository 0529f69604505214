//! `teams`: groups of agents that conversations are routed to, with an optional overflow/fallback team.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// One team.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "teams")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Team name, unique.
    #[sea_orm(column_type = "Text", unique)]
    pub name: String,
    /// Team that receives queued conversations on overflow (set to NULL if that team is deleted).
    pub fallback_team_id: Option<i64>,
    /// Seconds a conversation may wait before overflowing to the fallback team; NULL = never.
    pub overflow_after_s: Option<i32>,
    /// Whether queued conversations are assigned to agents automatically (default true).
    #[sea_orm(default_value = true)]
    pub auto_assign: bool,
    /// Seconds within which a first agent reply is due; NULL = no target.
    pub sla_first_response_s: Option<i32>,
    /// Seconds within which the conversation should be closed; NULL = no target.
    pub sla_resolution_s: Option<i32>,
    /// Creation time.
    pub created_at: DateTimeUtc,
    /// Last update time.
    pub updated_at: DateTimeUtc,
    /// The fallback team, if any (self reference).
    #[sea_orm(
        self_ref,
        relation_enum = "FallbackTeam",
        from = "fallback_team_id",
        to = "id",
        on_delete = "SetNull"
    )]
    pub fallback_team: BelongsTo<Option<Entity>>,
    /// Membership rows of this team (junction rows).
    #[sea_orm(has_many)]
    pub team_members: HasMany<super::team_members::Entity>,
    /// Users in this team, through `team_members`.
    #[sea_orm(has_many, via = "team_members")]
    pub members: HasMany<super::users::Entity>,
    /// Conversations routed to this team.
    #[sea_orm(has_many)]
    pub conversations: HasMany<super::conversations::Entity>,
    /// Routing rules that target this team.
    #[sea_orm(has_many)]
    pub routing_rules: HasMany<super::routing_rules::Entity>,
    /// Opening hours of this team, if configured.
    #[sea_orm(has_one)]
    pub business_hours: HasOne<super::business_hours::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
