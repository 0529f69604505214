//! `business_hours`: weekly opening hours and holidays of a team (at most one row per team).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// The opening hours of one team.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "business_hours")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The team, unique (deleted with the team).
    #[sea_orm(unique)]
    pub team_id: i64,
    /// IANA time zone of the schedule (e.g. `Europe/Paris`).
    #[sea_orm(column_type = "Text")]
    pub timezone: String,
    /// Weekly schedule (open/close times per weekday) as JSON.
    #[sea_orm(column_type = "JsonBinary")]
    pub schedule: Json,
    /// Closed dates as a JSON array.
    #[sea_orm(column_type = "JsonBinary")]
    pub holidays: Json,
    /// Creation time.
    pub created_at: DateTimeUtc,
    /// Last update time.
    pub updated_at: DateTimeUtc,
    /// The team.
    #[sea_orm(belongs_to, from = "team_id", to = "id", on_delete = "Cascade")]
    pub team: BelongsTo<super::teams::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
