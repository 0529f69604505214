//! SeaORM 2.0 entities of Switchboard, one module per table of schema v1.
//!
//! The tables themselves are created by the `migration` crate; these entities
//! mirror its columns exactly (see `SCHEMA.md`). Enum-like columns are plain
//! `String`s guarded by CHECK constraints in the database, JSON columns are
//! `Json` (jsonb on PostgreSQL, text on SQLite) and every timestamp is a
//! `DateTimeUtc` set by the application (no database defaults).

pub mod agent_skills;
pub mod audit_log;
pub mod business_hours;
pub mod conversation_skills;
pub mod conversation_tags;
pub mod conversations;
pub mod csat_ratings;
pub mod macros;
pub mod messages;
pub mod notes;
pub mod refresh_tokens;
pub mod routing_rules;
pub mod skills;
pub mod sla_breaches;
pub mod tags;
pub mod team_members;
pub mod teams;
pub mod triage_flows;
pub mod users;
pub mod visitors;
pub mod widget_settings;

/// Every `Entity` of the crate under a table-like name, for `use entity::prelude::*`.
pub mod prelude {
    pub use super::agent_skills::Entity as AgentSkills;
    pub use super::audit_log::Entity as AuditLog;
    pub use super::business_hours::Entity as BusinessHours;
    pub use super::conversation_skills::Entity as ConversationSkills;
    pub use super::conversation_tags::Entity as ConversationTags;
    pub use super::conversations::Entity as Conversations;
    pub use super::csat_ratings::Entity as CsatRatings;
    pub use super::macros::Entity as Macros;
    pub use super::messages::Entity as Messages;
    pub use super::notes::Entity as Notes;
    pub use super::refresh_tokens::Entity as RefreshTokens;
    pub use super::routing_rules::Entity as RoutingRules;
    pub use super::skills::Entity as Skills;
    pub use super::sla_breaches::Entity as SlaBreaches;
    pub use super::tags::Entity as Tags;
    pub use super::team_members::Entity as TeamMembers;
    pub use super::teams::Entity as Teams;
    pub use super::triage_flows::Entity as TriageFlows;
    pub use super::users::Entity as Users;
    pub use super::visitors::Entity as Visitors;
    pub use super::widget_settings::Entity as WidgetSettings;
}
