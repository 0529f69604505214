//! `conversation_tags`: which tags are on which conversations (many-to-many junction).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// One tag on one conversation.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "conversation_tags")]
pub struct Model {
    /// The conversation (first half of the primary key).
    #[sea_orm(primary_key, auto_increment = false)]
    pub conversation_id: i64,
    /// The tag (second half of the primary key).
    #[sea_orm(primary_key, auto_increment = false, indexed)]
    pub tag_id: i64,
    /// When the tag was added.
    pub created_at: DateTimeUtc,
    /// The conversation.
    #[sea_orm(belongs_to, from = "conversation_id", to = "id", on_delete = "Cascade")]
    pub conversation: BelongsTo<super::conversations::Entity>,
    /// The tag.
    #[sea_orm(belongs_to, from = "tag_id", to = "id", on_delete = "Cascade")]
    pub tag: BelongsTo<super::tags::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
