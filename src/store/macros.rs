//! Macros (canned responses): personal ones belong to one user, global ones
//! (`owner_id` NULL) are shared with every staff member.

use chrono::Utc;
use entity::macros;
use sea_orm::ActiveValue::{Set, Unchanged};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr, Order};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use super::StoreError;
use crate::domain::UserId;
use crate::domain::inbox::{MacroContent, MacroTitle, SearchText};

/// Which macros to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacroScope {
    /// The caller's own and the global ones.
    Both,
    /// Only the caller's own.
    Personal,
    /// Only the global ones.
    Global,
}

/// Inserts a macro; `owner` `None` makes it global.
pub async fn insert(
    db: &impl ConnectionTrait,
    owner: Option<UserId>,
    title: &MacroTitle,
    content: &MacroContent,
) -> Result<macros::Model, StoreError> {
    let now = Utc::now();
    Ok(macros::ActiveModel {
        owner_id: Set(owner.map(|u| u.0)),
        title: Set(title.as_str().to_owned()),
        content: Set(content.as_str().to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// Changes a macro's title and/or content.
pub async fn update(
    db: &impl ConnectionTrait,
    id: i64,
    title: Option<&MacroTitle>,
    content: Option<&MacroContent>,
) -> Result<macros::Model, StoreError> {
    let mut row = macros::ActiveModel {
        id: Unchanged(id),
        updated_at: Set(Utc::now()),
        ..Default::default()
    };
    if let Some(t) = title {
        row.title = Set(t.as_str().to_owned());
    }
    if let Some(c) = content {
        row.content = Set(c.as_str().to_owned());
    }
    Ok(row.update(db).await?)
}

/// Finds a macro.
pub async fn find(db: &impl ConnectionTrait, id: i64) -> Result<Option<macros::Model>, StoreError> {
    Ok(macros::Entity::find_by_id(id).one(db).await?)
}

/// Deletes a macro.
pub async fn delete(db: &impl ConnectionTrait, id: i64) -> Result<(), StoreError> {
    let res = macros::Entity::delete_by_id(id).exec(db).await?;
    if res.rows_affected == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// The macros `user` may use, by title (then id), optionally only those
/// whose title contains `q` (case-insensitive), at most `limit`.
pub async fn list_for(
    db: &impl ConnectionTrait,
    user: UserId,
    scope: MacroScope,
    q: Option<&SearchText>,
    limit: u64,
) -> Result<Vec<macros::Model>, StoreError> {
    let own = macros::Column::OwnerId.eq(user.0);
    let global = macros::Column::OwnerId.is_null();
    let mut query = macros::Entity::find().filter(match scope {
        MacroScope::Both => Condition::any().add(own).add(global),
        MacroScope::Personal => Condition::all().add(own),
        MacroScope::Global => Condition::all().add(global),
    });
    if let Some(q) = q {
        query = query.filter(
            Expr::expr(Func::lower(Expr::col((
                macros::Entity,
                macros::Column::Title,
            ))))
            .like(LikeExpr::new(q.like_pattern()).escape('\\')),
        );
    }
    // By title as people read it, not by byte value ("apple" before "Zebra").
    let title = Expr::expr(Func::lower(Expr::col((
        macros::Entity,
        macros::Column::Title,
    ))));
    Ok(query
        .order_by(title, Order::Asc)
        .order_by_asc(macros::Column::Id)
        .limit(limit)
        .all(db)
        .await?)
}
