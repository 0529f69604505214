//! Teams and their members.

use std::collections::HashMap;

use chrono::Utc;
use entity::{conversations, team_members, teams};
use sea_orm::ActiveValue::{Set, Unchanged};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use super::StoreError;
use crate::domain::{TeamId, TeamName, UserId};

/// A team to create.
pub struct NewTeam {
    /// Unique name.
    pub name: TeamName,
    /// Where conversations overflow to after `overflow_after_s`.
    pub fallback_team: Option<TeamId>,
    /// Seconds a conversation may wait before it overflows.
    pub overflow_after_s: Option<i32>,
    /// Whether the queue assigns automatically or agents take by hand.
    pub auto_assign: bool,
    /// First-response target in seconds.
    pub sla_first_response_s: Option<i32>,
    /// Resolution target in seconds.
    pub sla_resolution_s: Option<i32>,
}

/// Fields to change on a team; the outer `None` leaves a field as it is.
#[derive(Default)]
pub struct TeamChanges {
    /// New name.
    pub name: Option<TeamName>,
    /// New fallback (`Some(None)` clears it).
    pub fallback_team: Option<Option<TeamId>>,
    /// New overflow time (`Some(None)` clears it).
    pub overflow_after_s: Option<Option<i32>>,
    /// New assignment mode.
    pub auto_assign: Option<bool>,
    /// New first-response target (`Some(None)` clears it).
    pub sla_first_response_s: Option<Option<i32>>,
    /// New resolution target (`Some(None)` clears it).
    pub sla_resolution_s: Option<Option<i32>>,
}

/// Inserts a team.
pub async fn insert(db: &impl ConnectionTrait, new: &NewTeam) -> Result<teams::Model, StoreError> {
    let now = Utc::now();
    Ok(teams::ActiveModel {
        name: Set(new.name.as_str().to_owned()),
        fallback_team_id: Set(new.fallback_team.map(|t| t.0)),
        overflow_after_s: Set(new.overflow_after_s),
        auto_assign: Set(new.auto_assign),
        sla_first_response_s: Set(new.sla_first_response_s),
        sla_resolution_s: Set(new.sla_resolution_s),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// The PostgreSQL advisory lock that serialises changes of fallback teams.
const FALLBACK_LOCK: i64 = 0x5357_4642; // "SWFB"

/// Finds a team and, on PostgreSQL, locks its row until the transaction
/// ends. A deletion that counts the team's open conversations under this
/// lock sees a conversation moved into the team meanwhile (the move's
/// foreign-key check waits for the lock), instead of deleting the team
/// from under it. SQLite's transactions hold the write lock from the start.
pub async fn find_for_change(
    db: &impl ConnectionTrait,
    id: TeamId,
) -> Result<Option<teams::Model>, StoreError> {
    let mut find = teams::Entity::find_by_id(id.0);
    if db.get_database_backend() == sea_orm::DbBackend::Postgres {
        find = find.lock_exclusive();
    }
    Ok(find.one(db).await?)
}

/// Serialises the transactions that change a fallback team, on PostgreSQL
/// (until the transaction ends), so that two changes at once cannot each
/// pass the cycle check against the other's old state (A → B beside
/// B → A). SQLite's transactions are serial already.
pub async fn lock_fallbacks(db: &impl ConnectionTrait) -> Result<(), StoreError> {
    if db.get_database_backend() == sea_orm::DbBackend::Postgres {
        db.query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!("SELECT pg_advisory_xact_lock({FALLBACK_LOCK})"),
        ))
        .await?;
    }
    Ok(())
}

/// Finds a team.
pub async fn find(
    db: &impl ConnectionTrait,
    id: TeamId,
) -> Result<Option<teams::Model>, StoreError> {
    Ok(teams::Entity::find_by_id(id.0).one(db).await?)
}

/// The team conversation `id` is routed to, if any, in one read (a
/// conversation's actor reads it beside the conversation itself at start).
pub async fn of_conversation(
    db: &impl ConnectionTrait,
    id: crate::domain::ConversationId,
) -> Result<Option<teams::Model>, StoreError> {
    let team = sea_orm::sea_query::Query::select()
        .column(conversations::Column::TeamId)
        .from(conversations::Entity)
        .and_where(conversations::Column::Id.eq(id.0))
        .to_owned();
    Ok(teams::Entity::find()
        .filter(teams::Column::Id.in_subquery(team))
        .one(db)
        .await?)
}

/// Lists teams by ascending id, one page after `after_id`.
pub async fn list(
    db: &impl ConnectionTrait,
    after_id: Option<i64>,
    limit: u64,
) -> Result<Vec<teams::Model>, StoreError> {
    let mut q = teams::Entity::find().order_by_asc(teams::Column::Id);
    if let Some(after) = after_id {
        q = q.filter(teams::Column::Id.gt(after));
    }
    Ok(q.limit(limit).all(db).await?)
}

/// Which ids of `ids` do not exist.
pub async fn missing(db: &impl ConnectionTrait, ids: &[TeamId]) -> Result<Vec<TeamId>, StoreError> {
    let found: Vec<i64> = teams::Entity::find()
        .select_only()
        .column(teams::Column::Id)
        .filter(teams::Column::Id.is_in(ids.iter().map(|t| t.0)))
        .into_tuple()
        .all(db)
        .await?;
    Ok(ids
        .iter()
        .copied()
        .filter(|t| !found.contains(&t.0))
        .collect())
}

/// Every team's fallback, for cycle checks.
pub async fn fallback_map(
    db: &impl ConnectionTrait,
) -> Result<HashMap<TeamId, Option<TeamId>>, StoreError> {
    let rows: Vec<(i64, Option<i64>)> = teams::Entity::find()
        .select_only()
        .column(teams::Column::Id)
        .column(teams::Column::FallbackTeamId)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, fb)| (TeamId(id), fb.map(TeamId)))
        .collect())
}

/// Applies `changes` and returns the new row.
pub async fn update(
    db: &impl ConnectionTrait,
    id: TeamId,
    changes: TeamChanges,
) -> Result<teams::Model, StoreError> {
    let mut am = teams::ActiveModel {
        id: Unchanged(id.0),
        updated_at: Set(Utc::now()),
        ..Default::default()
    };
    if let Some(name) = changes.name {
        am.name = Set(name.as_str().to_owned());
    }
    if let Some(fb) = changes.fallback_team {
        am.fallback_team_id = Set(fb.map(|t| t.0));
    }
    if let Some(o) = changes.overflow_after_s {
        am.overflow_after_s = Set(o);
    }
    if let Some(a) = changes.auto_assign {
        am.auto_assign = Set(a);
    }
    if let Some(v) = changes.sla_first_response_s {
        am.sla_first_response_s = Set(v);
    }
    if let Some(v) = changes.sla_resolution_s {
        am.sla_resolution_s = Set(v);
    }
    Ok(am.update(db).await?)
}

/// How many conversations of the team are not closed (a team with live
/// work cannot be deleted).
pub async fn open_conversations(db: &impl ConnectionTrait, id: TeamId) -> Result<u64, StoreError> {
    Ok(conversations::Entity::find()
        .filter(conversations::Column::TeamId.eq(id.0))
        .filter(conversations::Column::State.ne("closed"))
        .count(db)
        .await?)
}

/// Deletes a team; memberships go with it, fallbacks pointing at it are cleared.
pub async fn delete(db: &impl ConnectionTrait, id: TeamId) -> Result<(), StoreError> {
    let res = teams::Entity::delete_by_id(id.0).exec(db).await?;
    if res.rows_affected == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Member ids of a team, ascending.
pub async fn member_ids(db: &impl ConnectionTrait, id: TeamId) -> Result<Vec<UserId>, StoreError> {
    Ok(team_members::Entity::find()
        .filter(team_members::Column::TeamId.eq(id.0))
        .order_by_asc(team_members::Column::UserId)
        .all(db)
        .await?
        .into_iter()
        .map(|m| UserId(m.user_id))
        .collect())
}

/// Member ids of many teams at once.
pub async fn members_of(
    db: &impl ConnectionTrait,
    ids: &[TeamId],
) -> Result<HashMap<TeamId, Vec<UserId>>, StoreError> {
    let rows = team_members::Entity::find()
        .filter(team_members::Column::TeamId.is_in(ids.iter().map(|t| t.0)))
        .order_by_asc(team_members::Column::UserId)
        .all(db)
        .await?;
    let mut out: HashMap<TeamId, Vec<UserId>> = HashMap::new();
    for m in rows {
        out.entry(TeamId(m.team_id))
            .or_default()
            .push(UserId(m.user_id));
    }
    Ok(out)
}

/// Replaces the members of a team. Every user must exist.
pub async fn set_members(
    db: &impl ConnectionTrait,
    id: TeamId,
    users: &[UserId],
) -> Result<(), StoreError> {
    team_members::Entity::delete_many()
        .filter(team_members::Column::TeamId.eq(id.0))
        .exec(db)
        .await?;
    if users.is_empty() {
        return Ok(());
    }
    let now = Utc::now();
    let rows = users.iter().map(|u| team_members::ActiveModel {
        team_id: Set(id.0),
        user_id: Set(u.0),
        created_at: Set(now),
    });
    team_members::Entity::insert_many(rows).exec(db).await?;
    Ok(())
}
