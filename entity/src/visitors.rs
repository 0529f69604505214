//! `visitors`: end customers who open conversations (often anonymous, identified by the widget).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// One visitor (customer).
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "visitors")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Name given by the visitor, if any.
    #[sea_orm(column_type = "Text")]
    pub name: Option<String>,
    /// E-mail given by the visitor, if any.
    #[sea_orm(column_type = "Text")]
    pub email: Option<String>,
    /// Browser user agent seen at first contact, if any.
    #[sea_orm(column_type = "Text")]
    pub user_agent: Option<String>,
    /// The page the visitor started from (http(s), at most 1000 characters).
    #[sea_orm(column_type = "Text")]
    pub page_url: Option<String>,
    /// Free-form attributes (pre-chat answers, page, custom data) as a JSON object.
    #[sea_orm(column_type = "JsonBinary")]
    pub attributes: Json,
    /// First contact time.
    pub created_at: DateTimeUtc,
    /// Last time the visitor was seen online.
    pub last_seen_at: DateTimeUtc,
    /// Conversations opened by this visitor.
    #[sea_orm(has_many)]
    pub conversations: HasMany<super::conversations::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
