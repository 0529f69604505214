//! `users`: staff accounts (admins, supervisors, agents) that log in to the console and handle conversations.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// One staff account.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "users")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Login e-mail, unique; the app stores it lower-case.
    #[sea_orm(column_type = "Text", unique)]
    pub email: String,
    /// Display name shown to colleagues and customers.
    #[sea_orm(column_type = "Text")]
    pub name: String,
    /// Password hash (PHC string), never the password itself.
    #[sea_orm(column_type = "Text")]
    pub password_hash: String,
    /// Role: `admin`, `supervisor` or `agent` (CHECK constraint).
    #[sea_orm(column_type = "Text")]
    pub role: String,
    /// Whether the account may log in and receive conversations (default true).
    #[sea_orm(default_value = true)]
    pub active: bool,
    /// Maximum number of concurrently assigned conversations (default 3).
    #[sea_orm(default_value = 3)]
    pub capacity: i32,
    /// Presence: `online`, `away` or `offline` (default `offline`, CHECK constraint).
    #[sea_orm(column_type = "Text", default_value = "offline")]
    pub status: String,
    /// Time of the last successful login, if any.
    pub last_login_at: Option<DateTimeUtc>,
    /// Creation time (set by the app).
    pub created_at: DateTimeUtc,
    /// Last update time (set by the app).
    pub updated_at: DateTimeUtc,
    /// Refresh tokens issued to this user.
    #[sea_orm(has_many)]
    pub refresh_tokens: HasMany<super::refresh_tokens::Entity>,
    /// Team memberships of this user (junction rows).
    #[sea_orm(has_many)]
    pub team_members: HasMany<super::team_members::Entity>,
    /// Teams this user belongs to, through `team_members`.
    #[sea_orm(has_many, via = "team_members")]
    pub teams: HasMany<super::teams::Entity>,
    /// Skill levels of this user (junction rows).
    #[sea_orm(has_many)]
    pub agent_skills: HasMany<super::agent_skills::Entity>,
    /// Skills this user has, through `agent_skills`.
    #[sea_orm(has_many, via = "agent_skills")]
    pub skills: HasMany<super::skills::Entity>,
    /// Conversations currently assigned to this user.
    #[sea_orm(has_many)]
    pub conversations: HasMany<super::conversations::Entity>,
    /// Internal notes written by this user.
    #[sea_orm(has_many)]
    pub notes: HasMany<super::notes::Entity>,
    /// Personal canned responses owned by this user.
    #[sea_orm(has_many)]
    pub macros: HasMany<super::macros::Entity>,
    /// Audit entries for actions performed by this user.
    #[sea_orm(has_many)]
    pub audit_log: HasMany<super::audit_log::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
