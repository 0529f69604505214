//! Customer satisfaction ratings: one per conversation, given by its
//! visitor after the close.

use std::collections::HashMap;

use chrono::Utc;
use entity::csat_ratings;
use sea_orm::ActiveValue::Set;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::StoreError;
use crate::domain::protocol::CsatView;
use crate::domain::{ConversationId, UserId, VisitorId};

/// A validated rating to store.
pub struct NewRating {
    /// The rated conversation.
    pub conversation: ConversationId,
    /// Who rated it.
    pub visitor: VisitorId,
    /// Its agent at the time, for reports per agent.
    pub agent: Option<UserId>,
    /// 1–5.
    pub score: i32,
    /// Optional, already trimmed and bounded.
    pub comment: Option<String>,
}

/// Stores a rating. A second rating of the same conversation is refused by
/// the unique index ([`StoreError::Conflict`]), even when two race.
pub async fn insert(
    db: &impl ConnectionTrait,
    new: NewRating,
) -> Result<csat_ratings::Model, StoreError> {
    Ok(csat_ratings::ActiveModel {
        conversation_id: Set(new.conversation.0),
        visitor_id: Set(new.visitor.0),
        agent_id: Set(new.agent.map(|a| a.0)),
        score: Set(new.score),
        comment: Set(new.comment),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// The rating of one conversation, if given.
pub async fn find(
    db: &impl ConnectionTrait,
    conversation: ConversationId,
) -> Result<Option<csat_ratings::Model>, StoreError> {
    Ok(csat_ratings::Entity::find()
        .filter(csat_ratings::Column::ConversationId.eq(conversation.0))
        .one(db)
        .await?)
}

/// The ratings of many conversations, by conversation id (one query).
pub async fn for_conversations(
    db: &impl ConnectionTrait,
    ids: &[i64],
) -> Result<HashMap<i64, csat_ratings::Model>, StoreError> {
    Ok(csat_ratings::Entity::find()
        .filter(csat_ratings::Column::ConversationId.is_in(ids.iter().copied()))
        .all(db)
        .await?
        .into_iter()
        .map(|r| (r.conversation_id, r))
        .collect())
}

/// The client view of a stored rating.
pub fn view(r: &csat_ratings::Model) -> CsatView {
    CsatView {
        score: r.score,
        comment: r.comment.clone(),
        created_at: r.created_at,
    }
}
