//! `refresh_tokens`: hashed refresh tokens, grouped in families (one login = one family) for rotation and reuse detection.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// One issued refresh token.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "refresh_tokens")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Owner of the token (deleted with the user).
    #[sea_orm(indexed)]
    pub user_id: i64,
    /// Token family (a uuid): all rotations of one login share it.
    #[sea_orm(column_type = "Text", indexed)]
    pub family_id: String,
    /// Hex SHA-256 of the token, unique; the token itself is never stored.
    #[sea_orm(column_type = "Text", unique)]
    pub token_hash: String,
    /// Issue time.
    pub created_at: DateTimeUtc,
    /// Expiry time.
    pub expires_at: DateTimeUtc,
    /// Revocation time (rotation, logout or reuse detection), if revoked.
    pub revoked_at: Option<DateTimeUtc>,
    /// The user the token was issued to.
    #[sea_orm(belongs_to, from = "user_id", to = "id", on_delete = "Cascade")]
    pub user: BelongsTo<super::users::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
