//! Creates `csat_ratings`: the customer's satisfaction rating of a closed
//! conversation.

use sea_orm_migration::{prelude::*, schema::*};

/// Widget step 20: one rating per conversation (score 1–5, optional
/// comment), with the agent who held it, for reports per agent.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CsatRatings::Table)
                    .col(big_pk_auto(CsatRatings::Id))
                    .col(big_integer(CsatRatings::ConversationId))
                    .col(big_integer(CsatRatings::VisitorId))
                    .col(big_integer_null(CsatRatings::AgentId))
                    .col(integer(CsatRatings::Score).check((
                        "ck_csat_ratings_score",
                        Expr::col(CsatRatings::Score).between(1, 5),
                    )))
                    .col(text_null(CsatRatings::Comment))
                    .col(timestamp_with_time_zone(CsatRatings::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_csat_ratings_conversation_id")
                            .from(CsatRatings::Table, CsatRatings::ConversationId)
                            .to(Conversations::Table, Conversations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_csat_ratings_visitor_id")
                            .from(CsatRatings::Table, CsatRatings::VisitorId)
                            .to(Visitors::Table, Visitors::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_csat_ratings_agent_id")
                            .from(CsatRatings::Table, CsatRatings::AgentId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        // Unique: "rate once" is enforced by the database, so two
        // simultaneous ratings cannot both land.
        manager
            .create_index(
                Index::create()
                    .name("uq_csat_ratings_conversation_id")
                    .table(CsatRatings::Table)
                    .col(CsatRatings::ConversationId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_csat_ratings_agent_id_created_at")
                    .table(CsatRatings::Table)
                    .col(CsatRatings::AgentId)
                    .col(CsatRatings::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CsatRatings::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Conversations {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Visitors {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum CsatRatings {
    Table,
    Id,
    ConversationId,
    VisitorId,
    AgentId,
    Score,
    Comment,
    CreatedAt,
}
