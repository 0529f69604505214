//! Tags: the catalogue admins keep, and which tags are on which
//! conversation. Changes to a conversation's tags are made by its
//! Conversation actor, which tells the followers.

use std::collections::BTreeSet;

use chrono::Utc;
use entity::{conversation_tags, conversations, tags};
use sea_orm::ActiveValue::{Set, Unchanged};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
};

use super::StoreError;
use crate::domain::ConversationId;
use crate::domain::inbox::{Color, TagName};

/// Inserts a tag.
pub async fn insert(
    db: &impl ConnectionTrait,
    name: &TagName,
    color: Option<&Color>,
) -> Result<tags::Model, StoreError> {
    Ok(tags::ActiveModel {
        name: Set(name.as_str().to_owned()),
        color: Set(color.map(|c| c.as_str().to_owned())),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// Changes a tag's name and/or colour (`Some(None)` clears the colour).
pub async fn update(
    db: &impl ConnectionTrait,
    id: i64,
    name: Option<&TagName>,
    color: Option<Option<&Color>>,
) -> Result<tags::Model, StoreError> {
    let mut row = tags::ActiveModel {
        id: Unchanged(id),
        ..Default::default()
    };
    if let Some(n) = name {
        row.name = Set(n.as_str().to_owned());
    }
    if let Some(c) = color {
        row.color = Set(c.map(|c| c.as_str().to_owned()));
    }
    if name.is_none() && color.is_none() {
        return find(db, id).await?.ok_or(StoreError::NotFound);
    }
    Ok(row.update(db).await?)
}

/// Finds a tag.
pub async fn find(db: &impl ConnectionTrait, id: i64) -> Result<Option<tags::Model>, StoreError> {
    Ok(tags::Entity::find_by_id(id).one(db).await?)
}

/// Every tag, by name.
pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<tags::Model>, StoreError> {
    Ok(tags::Entity::find()
        .order_by_asc(tags::Column::Name)
        .all(db)
        .await?)
}

/// Deletes a tag; it leaves every conversation that had it.
pub async fn delete(db: &impl ConnectionTrait, id: i64) -> Result<(), StoreError> {
    let res = tags::Entity::delete_by_id(id).exec(db).await?;
    if res.rows_affected == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// The tags with these names; `Err` lists the names that do not exist.
pub async fn resolve(
    db: &impl ConnectionTrait,
    names: &[TagName],
) -> Result<Result<Vec<tags::Model>, Vec<TagName>>, StoreError> {
    let found = tags::Entity::find()
        .filter(tags::Column::Name.is_in(names.iter().map(TagName::as_str)))
        .all(db)
        .await?;
    let missing: Vec<TagName> = names
        .iter()
        .filter(|n| !found.iter().any(|t| t.name == n.as_str()))
        .cloned()
        .collect();
    Ok(if missing.is_empty() {
        Ok(found)
    } else {
        Err(missing)
    })
}

/// What to do to a conversation's tags.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum TagChange {
    /// Exactly these tags (by id).
    Set(BTreeSet<i64>),
    /// These as well.
    Add(BTreeSet<i64>),
    /// Not these.
    Remove(BTreeSet<i64>),
}

/// Applies `change` to a conversation's tags; returns whether the set of
/// tags changed. When it did, the conversation's `updated_at` moves.
pub async fn change_on_conversation(
    db: &impl ConnectionTrait,
    id: ConversationId,
    change: &TagChange,
) -> Result<bool, StoreError> {
    let current: BTreeSet<i64> = conversation_tags::Entity::find()
        .filter(conversation_tags::Column::ConversationId.eq(id.0))
        .all(db)
        .await?
        .into_iter()
        .map(|r| r.tag_id)
        .collect();
    let wanted: BTreeSet<i64> = match change {
        TagChange::Set(ids) => ids.clone(),
        TagChange::Add(ids) => current.union(ids).copied().collect(),
        TagChange::Remove(ids) => current.difference(ids).copied().collect(),
    };
    if wanted == current {
        return Ok(false);
    }
    let gone: Vec<i64> = current.difference(&wanted).copied().collect();
    if !gone.is_empty() {
        conversation_tags::Entity::delete_many()
            .filter(conversation_tags::Column::ConversationId.eq(id.0))
            .filter(conversation_tags::Column::TagId.is_in(gone))
            .exec(db)
            .await?;
    }
    let now = Utc::now();
    let new: Vec<conversation_tags::ActiveModel> = wanted
        .difference(&current)
        .map(|tag| conversation_tags::ActiveModel {
            conversation_id: Set(id.0),
            tag_id: Set(*tag),
            created_at: Set(now),
        })
        .collect();
    if !new.is_empty() {
        conversation_tags::Entity::insert_many(new).exec(db).await?;
    }
    conversations::Entity::update_many()
        .col_expr(conversations::Column::UpdatedAt, Expr::value(now))
        .filter(conversations::Column::Id.eq(id.0))
        .exec(db)
        .await?;
    Ok(true)
}
