//! The skill catalogue.

use chrono::Utc;
use entity::{conversation_skills, conversations, skills};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use super::StoreError;
use crate::domain::conversation::ConversationState;
use crate::domain::{SkillId, SkillName, TeamId};

/// Inserts a skill.
pub async fn insert(
    db: &impl ConnectionTrait,
    name: &SkillName,
) -> Result<skills::Model, StoreError> {
    Ok(skills::ActiveModel {
        name: Set(name.as_str().to_owned()),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// All skills by name.
pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<skills::Model>, StoreError> {
    Ok(skills::Entity::find()
        .order_by_asc(skills::Column::Name)
        .all(db)
        .await?)
}

/// Finds a skill.
pub async fn find(
    db: &impl ConnectionTrait,
    id: SkillId,
) -> Result<Option<skills::Model>, StoreError> {
    Ok(skills::Entity::find_by_id(id.0).one(db).await?)
}

/// Deletes a skill; agent levels and conversation requirements go with it.
pub async fn delete(db: &impl ConnectionTrait, id: SkillId) -> Result<(), StoreError> {
    let res = skills::Entity::delete_by_id(id.0).exec(db).await?;
    if res.rows_affected == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// The teams with a queued conversation that requires skill `id`: their
/// queues must plan again once the requirement is gone.
pub async fn teams_waiting_for(
    db: &impl ConnectionTrait,
    id: SkillId,
) -> Result<Vec<TeamId>, StoreError> {
    let teams: Vec<Option<i64>> = conversations::Entity::find()
        .select_only()
        .column(conversations::Column::TeamId)
        .distinct()
        .filter(conversations::Column::State.eq(ConversationState::Queued.as_str()))
        .filter(
            conversations::Column::Id.in_subquery(
                Query::select()
                    .column(conversation_skills::Column::ConversationId)
                    .from(conversation_skills::Entity)
                    .and_where(Expr::col(conversation_skills::Column::SkillId).eq(id.0))
                    .to_owned(),
            ),
        )
        .into_tuple()
        .all(db)
        .await?;
    Ok(teams.into_iter().flatten().map(TeamId).collect())
}

/// Ids for `names`, creating the skills that do not exist yet, so an admin
/// can give an agent `language:es` without a separate step.
pub async fn ensure(
    db: &impl ConnectionTrait,
    names: &[SkillName],
) -> Result<Vec<(SkillName, SkillId)>, StoreError> {
    let existing = skills::Entity::find()
        .filter(skills::Column::Name.is_in(names.iter().map(|n| n.as_str())))
        .all(db)
        .await?;
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let id = match existing.iter().find(|s| s.name == name.as_str()) {
            Some(s) => s.id,
            None => insert(db, name).await?.id,
        };
        out.push((name.clone(), SkillId(id)));
    }
    Ok(out)
}
