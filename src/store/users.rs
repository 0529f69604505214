//! Staff users: accounts, roles, capacity, presence, and the read model that
//! joins their teams and skills.

use std::collections::{BTreeMap, HashMap};

use chrono::Utc;
use entity::{agent_skills, skills, team_members, teams, users};
use sea_orm::ActiveValue::{Set, Unchanged};
use sea_orm::sea_query::Query;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait,
};

use super::StoreError;
use crate::domain::{AgentStatus, Capacity, DisplayName, Email, Role, TeamId, UserId};

/// A user to create; the password is already hashed.
pub struct NewUser {
    /// Login and contact address.
    pub email: Email,
    /// Shown to customers and colleagues.
    pub name: DisplayName,
    /// argon2id PHC string.
    pub password_hash: String,
    /// What the user may do.
    pub role: Role,
    /// Concurrent conversations.
    pub capacity: Capacity,
}

/// Fields to change on a user; `None` leaves a field as it is.
#[derive(Default)]
pub struct UserChanges {
    /// New login address.
    pub email: Option<Email>,
    /// New display name.
    pub name: Option<DisplayName>,
    /// New role.
    pub role: Option<Role>,
    /// New capacity.
    pub capacity: Option<Capacity>,
    /// Activate or deactivate.
    pub active: Option<bool>,
    /// New presence.
    pub status: Option<AgentStatus>,
    /// New password hash.
    pub password_hash: Option<String>,
}

/// Which users to list.
#[derive(Default)]
pub struct UserFilter {
    /// Only this role.
    pub role: Option<Role>,
    /// Only active or only inactive users.
    pub active: Option<bool>,
    /// Only members of this team.
    pub team: Option<TeamId>,
    /// Only members of any of these teams (a supervisor's view).
    pub within_teams: Option<Vec<TeamId>>,
    /// Keyset cursor: ids greater than this.
    pub after_id: Option<i64>,
    /// Page size.
    pub limit: u64,
}

/// A user with its teams and skills, as the API shows it.
#[derive(Debug, Clone)]
pub struct UserRecord {
    /// The row.
    pub user: users::Model,
    /// Teams the user belongs to, by id.
    pub teams: Vec<(TeamId, String)>,
    /// Skill name → level.
    pub skills: BTreeMap<String, u8>,
}

impl UserRecord {
    /// The stored role, parsed.
    pub fn role(&self) -> Result<Role, StoreError> {
        role_of(&self.user)
    }
}

/// The stored role of a row, parsed.
pub fn role_of(user: &users::Model) -> Result<Role, StoreError> {
    Role::parse(&user.role).ok_or_else(|| StoreError::Corrupt(format!("role {:?}", user.role)))
}

/// Inserts a user.
pub async fn insert(db: &impl ConnectionTrait, new: &NewUser) -> Result<users::Model, StoreError> {
    let now = Utc::now();
    Ok(users::ActiveModel {
        email: Set(new.email.as_str().to_owned()),
        name: Set(new.name.as_str().to_owned()),
        password_hash: Set(new.password_hash.clone()),
        role: Set(new.role.as_str().to_owned()),
        active: Set(true),
        capacity: Set(i32::from(new.capacity.get())),
        status: Set(AgentStatus::Offline.as_str().to_owned()),
        last_login_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

/// Finds a user by id.
pub async fn find(
    db: &impl ConnectionTrait,
    id: UserId,
) -> Result<Option<users::Model>, StoreError> {
    Ok(users::Entity::find_by_id(id.0).one(db).await?)
}

/// Finds a user by normalised e-mail.
pub async fn find_by_email(
    db: &impl ConnectionTrait,
    email: &Email,
) -> Result<Option<users::Model>, StoreError> {
    Ok(users::Entity::find()
        .filter(users::Column::Email.eq(email.as_str()))
        .one(db)
        .await?)
}

/// How many users exist (bootstrap creates the first admin on zero).
pub async fn count(db: &impl ConnectionTrait) -> Result<u64, StoreError> {
    Ok(users::Entity::find().count(db).await?)
}

/// How many active admins exist, to refuse removing the last one. On
/// PostgreSQL their rows stay locked until the transaction ends: two admins
/// removing each other at once would otherwise each count two and leave
/// none. The second waits, then counts without the first (a row that no
/// longer matches after the wait is left out). SQLite's transactions are
/// serial already.
pub async fn count_active_admins(db: &impl ConnectionTrait) -> Result<u64, StoreError> {
    let admins = users::Entity::find()
        .filter(users::Column::Role.eq(Role::Admin.as_str()))
        .filter(users::Column::Active.eq(true));
    if db.get_database_backend() == sea_orm::DbBackend::Postgres {
        let locked: Vec<i64> = admins
            .select_only()
            .column(users::Column::Id)
            .lock_exclusive()
            .into_tuple()
            .all(db)
            .await?;
        return Ok(locked.len() as u64);
    }
    Ok(admins.count(db).await?)
}

/// Lists users by ascending id, one page.
pub async fn list(
    db: &impl ConnectionTrait,
    filter: &UserFilter,
) -> Result<Vec<users::Model>, StoreError> {
    let mut q = users::Entity::find().order_by_asc(users::Column::Id);
    if let Some(role) = filter.role {
        q = q.filter(users::Column::Role.eq(role.as_str()));
    }
    if let Some(active) = filter.active {
        q = q.filter(users::Column::Active.eq(active));
    }
    if let Some(after) = filter.after_id {
        q = q.filter(users::Column::Id.gt(after));
    }
    let mut team_ids: Option<Vec<i64>> = filter
        .within_teams
        .as_ref()
        .map(|ts| ts.iter().map(|t| t.0).collect());
    if let Some(team) = filter.team {
        team_ids = Some(match team_ids {
            Some(allowed) if !allowed.contains(&team.0) => Vec::new(),
            _ => vec![team.0],
        });
    }
    if let Some(team_ids) = team_ids {
        let members = team_members::Entity::find()
            .select_only()
            .column(team_members::Column::UserId)
            .filter(team_members::Column::TeamId.is_in(team_ids))
            .into_query();
        q = q.filter(users::Column::Id.in_subquery(members));
    }
    Ok(q.limit(filter.limit).all(db).await?)
}

/// Applies `changes` to user `id` and returns the new row.
pub async fn update(
    db: &impl ConnectionTrait,
    id: UserId,
    changes: UserChanges,
) -> Result<users::Model, StoreError> {
    let mut am = users::ActiveModel {
        id: Unchanged(id.0),
        updated_at: Set(Utc::now()),
        ..Default::default()
    };
    if let Some(email) = changes.email {
        am.email = Set(email.as_str().to_owned());
    }
    if let Some(name) = changes.name {
        am.name = Set(name.as_str().to_owned());
    }
    if let Some(role) = changes.role {
        am.role = Set(role.as_str().to_owned());
    }
    if let Some(capacity) = changes.capacity {
        am.capacity = Set(i32::from(capacity.get()));
    }
    if let Some(active) = changes.active {
        am.active = Set(active);
        if !active {
            am.status = Set(AgentStatus::Offline.as_str().to_owned());
        }
    }
    if let Some(status) = changes.status {
        am.status = Set(status.as_str().to_owned());
    }
    if let Some(hash) = changes.password_hash {
        am.password_hash = Set(hash);
    }
    Ok(am.update(db).await?)
}

/// Notes a successful login.
pub async fn record_login(db: &impl ConnectionTrait, id: UserId) -> Result<(), StoreError> {
    users::ActiveModel {
        id: Unchanged(id.0),
        last_login_at: Set(Some(Utc::now())),
        ..Default::default()
    }
    .update(db)
    .await?;
    Ok(())
}

/// Replaces the team memberships of a user. Every team must exist
/// (`MissingReference` otherwise); run it in a transaction with the rest.
pub async fn set_teams(
    db: &impl ConnectionTrait,
    id: UserId,
    team_ids: &[TeamId],
) -> Result<(), StoreError> {
    team_members::Entity::delete_many()
        .filter(team_members::Column::UserId.eq(id.0))
        .exec(db)
        .await?;
    if team_ids.is_empty() {
        return Ok(());
    }
    let now = Utc::now();
    let rows = team_ids.iter().map(|t| team_members::ActiveModel {
        team_id: Set(t.0),
        user_id: Set(id.0),
        created_at: Set(now),
    });
    team_members::Entity::insert_many(rows).exec(db).await?;
    Ok(())
}

/// Replaces the skills of a user with `(skill id, level)` pairs.
pub async fn set_skills(
    db: &impl ConnectionTrait,
    id: UserId,
    levels: &[(i64, u8)],
) -> Result<(), StoreError> {
    agent_skills::Entity::delete_many()
        .filter(agent_skills::Column::UserId.eq(id.0))
        .exec(db)
        .await?;
    if levels.is_empty() {
        return Ok(());
    }
    let rows = levels
        .iter()
        .map(|(skill, level)| agent_skills::ActiveModel {
            user_id: Set(id.0),
            skill_id: Set(*skill),
            level: Set(i32::from(*level)),
        });
    agent_skills::Entity::insert_many(rows).exec(db).await?;
    Ok(())
}

/// Joins teams and skills onto user rows with two queries, whatever the page size.
pub async fn with_details(
    db: &impl ConnectionTrait,
    rows: Vec<users::Model>,
) -> Result<Vec<UserRecord>, StoreError> {
    let ids: Vec<i64> = rows.iter().map(|u| u.id).collect();
    let mut teams_by_user: HashMap<i64, Vec<(TeamId, String)>> = HashMap::new();
    let memberships = team_members::Entity::find()
        .filter(team_members::Column::UserId.is_in(ids.clone()))
        .find_also_related(teams::Entity)
        .order_by_asc(team_members::Column::TeamId)
        .all(db)
        .await?;
    for (m, team) in memberships {
        if let Some(team) = team {
            teams_by_user
                .entry(m.user_id)
                .or_default()
                .push((TeamId(team.id), team.name));
        }
    }
    let mut skills_by_user = skills_of(db, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|user| UserRecord {
            teams: teams_by_user.remove(&user.id).unwrap_or_default(),
            skills: skills_by_user.remove(&user.id).unwrap_or_default(),
            user,
        })
        .collect())
}

/// The skill levels of each of the users `ids` (users without skills are
/// absent), in one read.
pub async fn skills_of(
    db: &impl ConnectionTrait,
    ids: &[i64],
) -> Result<HashMap<i64, BTreeMap<String, u8>>, StoreError> {
    let mut skills_by_user: HashMap<i64, BTreeMap<String, u8>> = HashMap::new();
    let levels = agent_skills::Entity::find()
        .filter(agent_skills::Column::UserId.is_in(ids.iter().copied()))
        .find_also_related(skills::Entity)
        .all(db)
        .await?;
    for (level, skill) in levels {
        if let Some(skill) = skill {
            skills_by_user
                .entry(level.user_id)
                .or_default()
                .insert(skill.name, u8::try_from(level.level).unwrap_or(0));
        }
    }
    Ok(skills_by_user)
}

/// The active members of `team` (only those among `only`, when given), in
/// id order: what a team's queue routes to. One read; their skills are
/// [`skills_of`].
pub async fn active_members(
    db: &impl ConnectionTrait,
    team: TeamId,
    only: Option<&[UserId]>,
) -> Result<Vec<users::Model>, StoreError> {
    let mut members = Query::select()
        .column(team_members::Column::UserId)
        .from(team_members::Entity)
        .and_where(team_members::Column::TeamId.eq(team.0))
        .to_owned();
    if let Some(only) = only {
        members.and_where(team_members::Column::UserId.is_in(only.iter().map(|u| u.0)));
    }
    Ok(users::Entity::find()
        .filter(users::Column::Id.in_subquery(members))
        .filter(users::Column::Active.eq(true))
        .order_by_asc(users::Column::Id)
        .all(db)
        .await?)
}

/// One user with teams and skills.
pub async fn record(db: &impl ConnectionTrait, id: UserId) -> Result<UserRecord, StoreError> {
    let user = find(db, id).await?.ok_or(StoreError::NotFound)?;
    with_details(db, vec![user])
        .await?
        .pop()
        .ok_or(StoreError::NotFound)
}

/// Active users whose stored status is not `offline`. After a restart these
/// are the ones whose sockets, if any, died with the old process.
pub async fn present(db: &impl ConnectionTrait) -> Result<Vec<UserId>, StoreError> {
    let ids: Vec<i64> = users::Entity::find()
        .select_only()
        .column(users::Column::Id)
        .filter(users::Column::Active.eq(true))
        .filter(users::Column::Status.ne(AgentStatus::Offline.as_str()))
        .order_by_asc(users::Column::Id)
        .into_tuple()
        .all(db)
        .await?;
    Ok(ids.into_iter().map(UserId).collect())
}

/// The teams of each of `agents` (a pair per membership), in one read.
pub async fn team_ids_of(
    db: &impl ConnectionTrait,
    agents: &[UserId],
) -> Result<Vec<(UserId, TeamId)>, StoreError> {
    if agents.is_empty() {
        return Ok(Vec::new());
    }
    Ok(team_members::Entity::find()
        .filter(team_members::Column::UserId.is_in(agents.iter().map(|a| a.0)))
        .all(db)
        .await?
        .into_iter()
        .map(|m| (UserId(m.user_id), TeamId(m.team_id)))
        .collect())
}

/// Ids of the teams a user belongs to.
pub async fn team_ids(db: &impl ConnectionTrait, id: UserId) -> Result<Vec<TeamId>, StoreError> {
    Ok(team_ids_of(db, &[id])
        .await?
        .into_iter()
        .map(|(_, t)| t)
        .collect())
}
