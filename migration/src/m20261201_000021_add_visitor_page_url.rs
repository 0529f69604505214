//! Adds `visitors.page_url`: the page the visitor started from.

use sea_orm_migration::{prelude::*, schema::*};

/// Widget step 21: the agent's visitor panel shows where the visitor was.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Visitors::Table)
                    .add_column(text_null(Visitors::PageUrl))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Visitors::Table)
                    .drop_column(Visitors::PageUrl)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Visitors {
    Table,
    PageUrl,
}
