//! `notes`: internal notes agents attach to a conversation; never shown to the customer.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// One internal note.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "notes")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The conversation (deleted with it).
    #[sea_orm(indexed)]
    pub conversation_id: i64,
    /// The author (notes are deleted with their author).
    pub author_id: i64,
    /// Note body.
    #[sea_orm(column_type = "Text")]
    pub text: String,
    /// Creation time.
    pub created_at: DateTimeUtc,
    /// The conversation.
    #[sea_orm(belongs_to, from = "conversation_id", to = "id", on_delete = "Cascade")]
    pub conversation: BelongsTo<super::conversations::Entity>,
    /// The author.
    #[sea_orm(belongs_to, from = "author_id", to = "id", on_delete = "Cascade")]
    pub author: BelongsTo<super::users::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
