//! `tags`: labels agents put on conversations for reporting and search.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// One tag.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "tags")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Tag name, unique.
    #[sea_orm(column_type = "Text", unique)]
    pub name: String,
    /// Display colour (e.g. `#ff8800`), if any.
    #[sea_orm(column_type = "Text")]
    pub color: Option<String>,
    /// Creation time.
    pub created_at: DateTimeUtc,
    /// Tag assignments (junction rows).
    #[sea_orm(has_many)]
    pub conversation_tags: HasMany<super::conversation_tags::Entity>,
    /// Conversations with this tag, through `conversation_tags`.
    #[sea_orm(has_many, via = "conversation_tags")]
    pub conversations: HasMany<super::conversations::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
