//! `team_members`: which users belong to which teams (many-to-many junction).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// One membership of a user in a team.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "team_members")]
pub struct Model {
    /// The team (first half of the primary key).
    #[sea_orm(primary_key, auto_increment = false)]
    pub team_id: i64,
    /// The member (second half of the primary key).
    #[sea_orm(primary_key, auto_increment = false, indexed)]
    pub user_id: i64,
    /// When the user joined the team.
    pub created_at: DateTimeUtc,
    /// The team.
    #[sea_orm(belongs_to, from = "team_id", to = "id", on_delete = "Cascade")]
    pub team: BelongsTo<super::teams::Entity>,
    /// The member.
    #[sea_orm(belongs_to, from = "user_id", to = "id", on_delete = "Cascade")]
    pub user: BelongsTo<super::users::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
