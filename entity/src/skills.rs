//! `skills`: skills (languages, products, ...) used for skill-based routing of conversations to agents.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// One skill.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "skills")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Skill name, unique.
    #[sea_orm(column_type = "Text", unique)]
    pub name: String,
    /// Creation time.
    pub created_at: DateTimeUtc,
    /// Agent skill levels for this skill (junction rows).
    #[sea_orm(has_many)]
    pub agent_skills: HasMany<super::agent_skills::Entity>,
    /// Agents having this skill, through `agent_skills`.
    #[sea_orm(has_many, via = "agent_skills")]
    pub agents: HasMany<super::users::Entity>,
    /// Conversation requirements for this skill (junction rows).
    #[sea_orm(has_many)]
    pub conversation_skills: HasMany<super::conversation_skills::Entity>,
    /// Conversations requiring this skill, through `conversation_skills`.
    #[sea_orm(has_many, via = "conversation_skills")]
    pub conversations: HasMany<super::conversations::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
