//! Adds `conversations.owner_token`, the fencing token of multi-node hosting.

use sea_orm_migration::{prelude::*, schema::*};

/// Step 7: the node that hosts a conversation's actor takes a new token
/// from this column when it activates it, and every write of that actor is
/// conditional on it.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Conversations::Table)
                    .add_column(big_integer(Conversations::OwnerToken).default(0))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Conversations::Table)
                    .drop_column(Conversations::OwnerToken)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Conversations {
    Table,
    OwnerToken,
}
