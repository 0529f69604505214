//! Indexes `visitors.email`, so a visitor's earlier conversations can be
//! found by the e-mail it gave (every widget session is a new visitor).

use sea_orm_migration::prelude::*;

/// Step 30: `idx_visitors_email`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("idx_visitors_email")
                    .table(Visitors::Table)
                    .col(Visitors::Email)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_visitors_email")
                    .table(Visitors::Table)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Visitors {
    Table,
    Email,
}
