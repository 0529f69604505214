//! Creates `triage_flows`: a team's scripted triage bot.

use sea_orm_migration::{prelude::*, schema::*};

/// Step 6: at most one triage flow per team, stored as its validated JSON
/// (the shape lives in `src/domain/triage.rs`), deleted with the team.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TriageFlows::Table)
                    .col(big_pk_auto(TriageFlows::Id))
                    .col(big_integer_uniq(TriageFlows::TeamId))
                    .col(boolean(TriageFlows::Enabled).default(true))
                    .col(json_binary(TriageFlows::Flow))
                    .col(timestamp_with_time_zone(TriageFlows::CreatedAt))
                    .col(timestamp_with_time_zone(TriageFlows::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_triage_flows_team_id")
                            .from(TriageFlows::Table, TriageFlows::TeamId)
                            .to(Teams::Table, Teams::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TriageFlows::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Teams {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum TriageFlows {
    Table,
    Id,
    TeamId,
    Enabled,
    Flow,
    CreatedAt,
    UpdatedAt,
}
