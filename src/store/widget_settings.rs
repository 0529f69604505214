//! The widget's look and texts (one row, id 1), with defaults until an
//! admin saves them.

use chrono::Utc;
use entity::widget_settings;
use sea_orm::ActiveValue::{Set, Unchanged};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait};

use super::StoreError;

/// The id of the single settings row.
const ROW: i64 = 1;

/// The settings, or the defaults when none were saved.
pub async fn get(db: &impl ConnectionTrait) -> Result<widget_settings::Model, StoreError> {
    Ok(widget_settings::Entity::find_by_id(ROW)
        .one(db)
        .await?
        .unwrap_or_else(defaults))
}

/// What a new installation shows.
pub fn defaults() -> widget_settings::Model {
    widget_settings::Model {
        id: ROW,
        title: "Chat with us".to_owned(),
        welcome_message: "Hi! How can we help?".to_owned(),
        primary_color: "#2563eb".to_owned(),
        logo_url: None,
        position: "right".to_owned(),
        pre_chat_fields: serde_json::json!([]),
        offline_message:
            "We're away right now. Leave a message and we'll get back to you by e-mail.".to_owned(),
        updated_at: Utc::now(),
    }
}

/// Saves the settings.
pub async fn put(
    db: &impl ConnectionTrait,
    s: widget_settings::Model,
) -> Result<widget_settings::Model, StoreError> {
    let exists = widget_settings::Entity::find_by_id(ROW)
        .one(db)
        .await?
        .is_some();
    let am = widget_settings::ActiveModel {
        id: if exists { Unchanged(ROW) } else { Set(ROW) },
        title: Set(s.title),
        welcome_message: Set(s.welcome_message),
        primary_color: Set(s.primary_color),
        logo_url: Set(s.logo_url),
        position: Set(s.position),
        pre_chat_fields: Set(s.pre_chat_fields),
        offline_message: Set(s.offline_message),
        updated_at: Set(Utc::now()),
    };
    Ok(if exists {
        am.update(db).await?
    } else {
        am.insert(db).await?
    })
}
