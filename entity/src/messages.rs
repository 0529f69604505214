//! `messages`: the chat transcript; `seq` orders messages per conversation and `client_msg_id` makes client retries idempotent.
//!
//! The database enforces UNIQUE (conversation_id, seq) and UNIQUE (conversation_id, client_msg_id)
//! with named unique indexes created by the migration.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// One chat message.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The conversation (deleted with it).
    pub conversation_id: i64,
    /// Position in the conversation, unique per conversation.
    pub seq: i64,
    /// Client-generated id for idempotent sends, unique per conversation when present.
    #[sea_orm(column_type = "Text")]
    pub client_msg_id: Option<String>,
    /// Who sent it: `customer`, `agent`, `bot` or `system` (CHECK constraint).
    #[sea_orm(column_type = "Text")]
    pub sender_kind: String,
    /// Sender id (user or visitor id depending on `sender_kind`), not a foreign key.
    pub sender_id: Option<i64>,
    /// Sender display name at the time of sending, if any.
    #[sea_orm(column_type = "Text")]
    pub sender_name: Option<String>,
    /// Message body.
    #[sea_orm(column_type = "Text")]
    pub text: String,
    /// Attachment descriptors as a JSON array.
    #[sea_orm(column_type = "JsonBinary")]
    pub attachments: Json,
    /// Send time.
    pub created_at: DateTimeUtc,
    /// The conversation.
    #[sea_orm(belongs_to, from = "conversation_id", to = "id", on_delete = "Cascade")]
    pub conversation: BelongsTo<super::conversations::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
