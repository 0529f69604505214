//! `agent_skills`: the level (1-5) an agent has in a skill, used by skill-based routing.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// One agent's level in one skill.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "agent_skills")]
pub struct Model {
    /// The agent (first half of the primary key).
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: i64,
    /// The skill (second half of the primary key).
    #[sea_orm(primary_key, auto_increment = false, indexed)]
    pub skill_id: i64,
    /// Proficiency from 1 to 5 (CHECK constraint).
    pub level: i32,
    /// The agent.
    #[sea_orm(belongs_to, from = "user_id", to = "id", on_delete = "Cascade")]
    pub user: BelongsTo<super::users::Entity>,
    /// The skill.
    #[sea_orm(belongs_to, from = "skill_id", to = "id", on_delete = "Cascade")]
    pub skill: BelongsTo<super::skills::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
