//! Creates `teams`, `team_members`, `skills` and `agent_skills`.

use sea_orm_migration::{prelude::*, schema::*};

/// Schema v1, step 2: teams, their members, skills and agent skill levels.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Teams::Table)
                    .col(big_pk_auto(Teams::Id))
                    .col(text_uniq(Teams::Name))
                    .col(big_integer_null(Teams::FallbackTeamId))
                    .col(integer_null(Teams::OverflowAfterS))
                    .col(boolean(Teams::AutoAssign).default(true))
                    .col(timestamp_with_time_zone(Teams::CreatedAt))
                    .col(timestamp_with_time_zone(Teams::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_teams_fallback_team_id")
                            .from(Teams::Table, Teams::FallbackTeamId)
                            .to(Teams::Table, Teams::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(TeamMembers::Table)
                    .col(big_integer(TeamMembers::TeamId))
                    .col(big_integer(TeamMembers::UserId))
                    .col(timestamp_with_time_zone(TeamMembers::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(TeamMembers::TeamId)
                            .col(TeamMembers::UserId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_team_members_team_id")
                            .from(TeamMembers::Table, TeamMembers::TeamId)
                            .to(Teams::Table, Teams::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_team_members_user_id")
                            .from(TeamMembers::Table, TeamMembers::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_team_members_user_id")
                    .table(TeamMembers::Table)
                    .col(TeamMembers::UserId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Skills::Table)
                    .col(big_pk_auto(Skills::Id))
                    .col(text_uniq(Skills::Name))
                    .col(timestamp_with_time_zone(Skills::CreatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AgentSkills::Table)
                    .col(big_integer(AgentSkills::UserId))
                    .col(big_integer(AgentSkills::SkillId))
                    .col(integer(AgentSkills::Level).check((
                        "ck_agent_skills_level",
                        Expr::col(AgentSkills::Level).between(1, 5),
                    )))
                    .primary_key(
                        Index::create()
                            .col(AgentSkills::UserId)
                            .col(AgentSkills::SkillId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_agent_skills_user_id")
                            .from(AgentSkills::Table, AgentSkills::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_agent_skills_skill_id")
                            .from(AgentSkills::Table, AgentSkills::SkillId)
                            .to(Skills::Table, Skills::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_agent_skills_skill_id")
                    .table(AgentSkills::Table)
                    .col(AgentSkills::SkillId)
                    .to_owned(),
            )
            .await?;

        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AgentSkills::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Skills::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(TeamMembers::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Teams::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Teams {
    Table,
    Id,
    Name,
    FallbackTeamId,
    OverflowAfterS,
    AutoAssign,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum TeamMembers {
    Table,
    TeamId,
    UserId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Skills {
    Table,
    Id,
    Name,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AgentSkills {
    Table,
    UserId,
    SkillId,
    Level,
}
