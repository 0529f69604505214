//! `conversation_skills`: skills (with a minimum level 1-5) an agent needs to take a conversation.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// One skill requirement of one conversation.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "conversation_skills")]
pub struct Model {
    /// The conversation (first half of the primary key).
    #[sea_orm(primary_key, auto_increment = false)]
    pub conversation_id: i64,
    /// The required skill (second half of the primary key).
    #[sea_orm(primary_key, auto_increment = false)]
    pub skill_id: i64,
    /// Minimum agent level required, 1 to 5 (CHECK constraint).
    pub min_level: i32,
    /// The conversation.
    #[sea_orm(belongs_to, from = "conversation_id", to = "id", on_delete = "Cascade")]
    pub conversation: BelongsTo<super::conversations::Entity>,
    /// The skill.
    #[sea_orm(belongs_to, from = "skill_id", to = "id", on_delete = "Cascade")]
    pub skill: BelongsTo<super::skills::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
