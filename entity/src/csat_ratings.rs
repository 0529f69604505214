//! `csat_ratings`: the customer's satisfaction rating of a closed
//! conversation, at most one per conversation.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// One rating.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "csat_ratings")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The rated conversation (deleted with it); unique: rated once.
    #[sea_orm(unique)]
    pub conversation_id: i64,
    /// The visitor who rated it.
    pub visitor_id: i64,
    /// The conversation's agent when it was rated (NULL if none or deleted).
    pub agent_id: Option<i64>,
    /// 1 (bad) to 5 (great).
    pub score: i32,
    /// Optional words, at most 1000 characters.
    #[sea_orm(column_type = "Text")]
    pub comment: Option<String>,
    /// When it was given.
    pub created_at: DateTimeUtc,
    /// The conversation.
    #[sea_orm(belongs_to, from = "conversation_id", to = "id", on_delete = "Cascade")]
    pub conversation: BelongsTo<super::conversations::Entity>,
    /// The visitor.
    #[sea_orm(belongs_to, from = "visitor_id", to = "id", on_delete = "Cascade")]
    pub visitor: BelongsTo<super::visitors::Entity>,
    /// The agent.
    #[sea_orm(belongs_to, from = "agent_id", to = "id", on_delete = "SetNull")]
    pub agent: BelongsTo<Option<super::users::Entity>>,
}

impl ActiveModelBehavior for ActiveModel {}
