//! Refresh-token state: one row per token, grouped in families (one family
//! per login). Rotation revokes the used token with a conditional write, so
//! two concurrent refreshes with one token cannot both succeed; reuse of a
//! revoked token revokes its whole family (the token was stolen or replayed).

use chrono::{DateTime, Utc};
use entity::refresh_tokens;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
};

use super::StoreError;
use crate::domain::UserId;

/// Stores a new token hash in `family`.
pub async fn insert(
    db: &impl ConnectionTrait,
    user: UserId,
    family: &str,
    token_hash: &str,
    expires_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    refresh_tokens::ActiveModel {
        user_id: Set(user.0),
        family_id: Set(family.to_owned()),
        token_hash: Set(token_hash.to_owned()),
        created_at: Set(Utc::now()),
        expires_at: Set(expires_at),
        revoked_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Finds a token by its hash.
pub async fn find_by_hash(
    db: &impl ConnectionTrait,
    token_hash: &str,
) -> Result<Option<refresh_tokens::Model>, StoreError> {
    Ok(refresh_tokens::Entity::find()
        .filter(refresh_tokens::Column::TokenHash.eq(token_hash))
        .one(db)
        .await?)
}

/// Revokes one token if it is still live; `true` if this call revoked it.
pub async fn revoke_if_live(db: &impl ConnectionTrait, id: i64) -> Result<bool, StoreError> {
    let res = refresh_tokens::Entity::update_many()
        .col_expr(refresh_tokens::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(refresh_tokens::Column::Id.eq(id))
        .filter(refresh_tokens::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Revokes every live token of a family (logout, or detected reuse).
pub async fn revoke_family(db: &impl ConnectionTrait, family: &str) -> Result<u64, StoreError> {
    let res = refresh_tokens::Entity::update_many()
        .col_expr(refresh_tokens::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(refresh_tokens::Column::FamilyId.eq(family))
        .filter(refresh_tokens::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

/// Revokes every live token of a user (deactivation, password change).
pub async fn revoke_all_of_user(
    db: &impl ConnectionTrait,
    user: UserId,
) -> Result<u64, StoreError> {
    let res = refresh_tokens::Entity::update_many()
        .col_expr(refresh_tokens::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(refresh_tokens::Column::UserId.eq(user.0))
        .filter(refresh_tokens::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

/// Whether `family` still has a live token (the session is not logged out).
pub async fn family_is_live(db: &impl ConnectionTrait, family: &str) -> Result<bool, StoreError> {
    use sea_orm::PaginatorTrait;
    let n = refresh_tokens::Entity::find()
        .filter(refresh_tokens::Column::FamilyId.eq(family))
        .filter(refresh_tokens::Column::RevokedAt.is_null())
        .filter(refresh_tokens::Column::ExpiresAt.gt(Utc::now()))
        .count(db)
        .await?;
    Ok(n > 0)
}
