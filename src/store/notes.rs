//! Internal notes: staff-only remarks on a conversation, never sent to the customer.

use chrono::Utc;
use entity::notes;
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, ConnectionTrait};

use super::StoreError;
use crate::domain::{ConversationId, UserId};

/// Adds a note by `author`.
pub async fn insert(
    db: &impl ConnectionTrait,
    conversation: ConversationId,
    author: UserId,
    text: &str,
) -> Result<notes::Model, StoreError> {
    Ok(notes::ActiveModel {
        conversation_id: Set(conversation.0),
        author_id: Set(author.0),
        text: Set(text.to_owned()),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// The notes of a conversation, oldest first, with their authors' names.
pub async fn list(
    db: &impl ConnectionTrait,
    conversation: ConversationId,
) -> Result<Vec<(notes::Model, Option<String>)>, StoreError> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    Ok(notes::Entity::find()
        .filter(notes::Column::ConversationId.eq(conversation.0))
        .order_by_asc(notes::Column::Id)
        .find_also_related(entity::users::Entity)
        .all(db)
        .await?
        .into_iter()
        .map(|(n, u)| (n, u.map(|u| u.name)))
        .collect())
}
