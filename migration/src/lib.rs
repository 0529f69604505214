//! SeaORM migrations of Switchboard (the tables are described in
//! `docs/architecture.md` and the entity crate).
//!
//! Migrations are append-only once landed: never edit one that has shipped,
//! add a new file instead. Every migration creates its tables with their
//! foreign keys inside `CREATE TABLE` (SQLite cannot add them later) and has a
//! `down` that drops its tables in reverse dependency order.

pub use sea_orm_migration::prelude::*;

mod m20261121_000001_create_users;
mod m20261121_000002_create_teams_and_skills;
mod m20261121_000003_create_conversations;
mod m20261121_000004_create_admin_config;
mod m20261122_000005_add_sla;
mod m20261201_000006_create_triage_flows;
mod m20261201_000007_add_owner_token;
mod m20261201_000008_index_conversations_assignee_id_id;
mod m20261201_000020_create_csat_ratings;
mod m20261201_000021_add_visitor_page_url;
mod m20261201_000030_visitor_email_index;
mod m20261207_000040_drop_conversations_state_updated_at_index;
mod m20261207_000041_messages_sender_kind_check_without_in;
mod m20261207_000042_messages_client_msg_id_per_sender;

/// The ordered list of Switchboard migrations; run it with `Migrator::up(&db, None)`.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261121_000001_create_users::Migration),
            Box::new(m20261121_000002_create_teams_and_skills::Migration),
            Box::new(m20261121_000003_create_conversations::Migration),
            Box::new(m20261121_000004_create_admin_config::Migration),
            Box::new(m20261122_000005_add_sla::Migration),
            Box::new(m20261201_000006_create_triage_flows::Migration),
            Box::new(m20261201_000007_add_owner_token::Migration),
            Box::new(m20261201_000008_index_conversations_assignee_id_id::Migration),
            Box::new(m20261201_000020_create_csat_ratings::Migration),
            Box::new(m20261201_000021_add_visitor_page_url::Migration),
            Box::new(m20261201_000030_visitor_email_index::Migration),
            Box::new(m20261207_000040_drop_conversations_state_updated_at_index::Migration),
            Box::new(m20261207_000041_messages_sender_kind_check_without_in::Migration),
            Box::new(m20261207_000042_messages_client_msg_id_per_sender::Migration),
        ]
    }
}
