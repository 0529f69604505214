//! Adds `idx_conversations_assignee_id_id`: an agent's inbox, newest first.

use sea_orm_migration::prelude::*;

/// Step 8: the inbox lists an agent's conversations by id, newest first,
/// in pages; with this index that is a range scan of the page instead of
/// a sort of every conversation the agent ever had (loadgen: 63 ms at
/// 100,000 conversations without it).
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("idx_conversations_assignee_id_id")
                    .table(Conversations::Table)
                    .col(Conversations::AssigneeId)
                    .col(Conversations::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_conversations_assignee_id_id")
                    .table(Conversations::Table)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Conversations {
    Table,
    Id,
    AssigneeId,
}
