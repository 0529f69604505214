//! `widget_settings`: appearance and texts of the customer chat widget (one row, id = 1, in practice).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// The widget configuration.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "widget_settings")]
pub struct Model {
    /// Primary key (1 in practice).
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Widget header title.
    #[sea_orm(column_type = "Text")]
    pub title: String,
    /// First message shown to a new visitor.
    #[sea_orm(column_type = "Text")]
    pub welcome_message: String,
    /// Brand colour (e.g. `#0055ff`).
    #[sea_orm(column_type = "Text")]
    pub primary_color: String,
    /// Logo URL, if any.
    #[sea_orm(column_type = "Text")]
    pub logo_url: Option<String>,
    /// Screen side: `left` or `right` (default `right`, CHECK constraint).
    #[sea_orm(column_type = "Text", default_value = "right")]
    pub position: String,
    /// Pre-chat form fields as a JSON array.
    #[sea_orm(column_type = "JsonBinary")]
    pub pre_chat_fields: Json,
    /// Text shown when no agent is available.
    #[sea_orm(column_type = "Text")]
    pub offline_message: String,
    /// Last update time.
    pub updated_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
