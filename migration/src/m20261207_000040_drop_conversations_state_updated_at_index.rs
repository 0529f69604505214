//! Drops `idx_conversations_state_updated_at`, which no query reads.

use sea_orm_migration::prelude::*;

/// Step 40: every message moves its conversation's `updated_at`, so while
/// that column was indexed every message also rewrote an index entry: on
/// SQLite a B-tree delete and insert in the writer's transaction, on
/// PostgreSQL an update that could never be HOT (each left a dead row and
/// new entries in every index of `conversations`). No query orders or
/// filters by it: lists go by id, queues by priority and waiting time.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_conversations_state_updated_at")
                    .table(Conversations::Table)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("idx_conversations_state_updated_at")
                    .table(Conversations::Table)
                    .col(Conversations::State)
                    .col(Conversations::UpdatedAt)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Conversations {
    Table,
    State,
    UpdatedAt,
}
