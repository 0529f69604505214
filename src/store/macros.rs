//! Macros (canned responses): shared ones (`owner_id` NULL) and personal
//! ones. Only what the demo seeding needs so far.

use chrono::Utc;
use entity::macros;
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
};

use super::StoreError;
use crate::domain::UserId;

/// Inserts a macro; `owner` `None` shares it with everyone.
pub async fn insert(
    db: &impl ConnectionTrait,
    owner: Option<UserId>,
    title: &str,
    content: &str,
) -> Result<macros::Model, StoreError> {
    let now = Utc::now();
    Ok(macros::ActiveModel {
        owner_id: Set(owner.map(|o| o.0)),
        title: Set(title.to_owned()),
        content: Set(content.to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// The shared macros, by id.
pub async fn shared(db: &impl ConnectionTrait) -> Result<Vec<macros::Model>, StoreError> {
    Ok(macros::Entity::find()
        .filter(macros::Column::OwnerId.is_null())
        .order_by_asc(macros::Column::Id)
        .all(db)
        .await?)
}
