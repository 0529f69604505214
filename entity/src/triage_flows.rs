//! `triage_flows`: a team's scripted triage bot (at most one per team),
//! run before its conversations join the queue.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// The triage flow of one team.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "triage_flows")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The team, unique (deleted with the team).
    #[sea_orm(unique)]
    pub team_id: i64,
    /// Off: conversations go straight to the queue (the flow is kept).
    #[sea_orm(default_value = true)]
    pub enabled: bool,
    /// The flow as written and validated (`FlowSpec` in the server).
    #[sea_orm(column_type = "JsonBinary")]
    pub flow: Json,
    /// Creation time.
    pub created_at: DateTimeUtc,
    /// Last update time.
    pub updated_at: DateTimeUtc,
    /// The team.
    #[sea_orm(belongs_to, from = "team_id", to = "id", on_delete = "Cascade")]
    pub team: BelongsTo<super::teams::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
