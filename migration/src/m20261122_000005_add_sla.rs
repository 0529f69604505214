//! Adds SLA targets to teams and the `sla_breaches` record.

use sea_orm_migration::{prelude::*, schema::*};

/// Step 5: per-team first-response and resolution targets, and one row per
/// breach (a conversation breaches each target at most once).
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement.
        manager
            .alter_table(
                Table::alter()
                    .table(Teams::Table)
                    .add_column(integer_null(Teams::SlaFirstResponseS))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Teams::Table)
                    .add_column(integer_null(Teams::SlaResolutionS))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SlaBreaches::Table)
                    .col(big_pk_auto(SlaBreaches::Id))
                    .col(big_integer(SlaBreaches::ConversationId))
                    .col(big_integer_null(SlaBreaches::TeamId))
                    .col(text(SlaBreaches::Kind).check(
                        Expr::col(SlaBreaches::Kind).is_in(["first_response", "resolution"]),
                    ))
                    .col(integer(SlaBreaches::TargetS))
                    .col(timestamp_with_time_zone(SlaBreaches::DueAt))
                    .col(timestamp_with_time_zone(SlaBreaches::BreachedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_sla_breaches_conversation_id")
                            .from(SlaBreaches::Table, SlaBreaches::ConversationId)
                            .to(Conversations::Table, Conversations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_sla_breaches_team_id")
                            .from(SlaBreaches::Table, SlaBreaches::TeamId)
                            .to(Teams::Table, Teams::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_sla_breaches_conversation_id_kind")
                    .table(SlaBreaches::Table)
                    .col(SlaBreaches::ConversationId)
                    .col(SlaBreaches::Kind)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_sla_breaches_team_id_breached_at")
                    .table(SlaBreaches::Table)
                    .col(SlaBreaches::TeamId)
                    .col(SlaBreaches::BreachedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SlaBreaches::Table).to_owned())
            .await?;
        for col in [Teams::SlaResolutionS, Teams::SlaFirstResponseS] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Teams::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Teams {
    Table,
    Id,
    SlaFirstResponseS,
    SlaResolutionS,
}

#[derive(DeriveIden)]
enum Conversations {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum SlaBreaches {
    Table,
    Id,
    ConversationId,
    TeamId,
    Kind,
    TargetS,
    DueAt,
    BreachedAt,
}
