//! `macros`: canned responses agents insert into chats; personal when `owner_id` is set, shared with everyone when NULL.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// One canned response.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "macros")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Owning user (deleted with the user); NULL = shared with everyone.
    #[sea_orm(indexed)]
    pub owner_id: Option<i64>,
    /// Short title used to pick the macro.
    #[sea_orm(column_type = "Text")]
    pub title: String,
    /// Text inserted into the chat.
    #[sea_orm(column_type = "Text")]
    pub content: String,
    /// Creation time.
    pub created_at: DateTimeUtc,
    /// Last update time.
    pub updated_at: DateTimeUtc,
    /// The owner, if personal.
    #[sea_orm(belongs_to, from = "owner_id", to = "id", on_delete = "Cascade")]
    pub owner: BelongsTo<Option<super::users::Entity>>,
}

impl ActiveModelBehavior for ActiveModel {}
