//! Rebuilds `messages` on SQLite with its `sender_kind` check spelled as
//! equalities instead of `IN (…)`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::DbBackend;

/// Step 41: SQLite evaluates `x IN (four constants)` by building a
/// temporary B-tree of the list, once per statement run: every message
/// insert opened and closed one (a pager, a page cache, four inserts) for
/// its check constraint, ~4 % of the server's CPU at 20,000 messages/s
/// (docs/benchmarks.md §4p). Four equalities accept and refuse exactly the
/// same values, with no B-tree. SQLite cannot change a check in place, so
/// the table is rebuilt: created anew, rows copied with their ids, the
/// `AUTOINCREMENT` counter carried over (ids of deleted rows are never
/// reused), the old table dropped and the indexes made again. Nothing
/// references `messages`, so the drop cascades nowhere. PostgreSQL tests
/// `IN` lists without such a cost and keeps its table as it is.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    // All or nothing: on SQLite a migration runs outside a transaction
    // unless it asks for one.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let kind = || Expr::col(Messages::SenderKind);
        let equalities = kind()
            .eq("customer")
            .or(kind().eq("agent"))
            .or(kind().eq("bot"))
            .or(kind().eq("system"));
        rebuild(manager, equalities).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let listed = Expr::col(Messages::SenderKind).is_in(["customer", "agent", "bot", "system"]);
        rebuild(manager, listed).await
    }
}

/// Rebuilds `messages` on SQLite (only) with `check` as its `sender_kind`
/// constraint, every row, id and the id counter kept.
async fn rebuild(manager: &SchemaManager<'_>, check: SimpleExpr) -> Result<(), DbErr> {
    if manager.get_database_backend() != DbBackend::Sqlite {
        return Ok(());
    }
    manager
        .create_table(
            Table::create()
                .table(Rebuilt::Table)
                .col(big_pk_auto(Messages::Id))
                .col(big_integer(Messages::ConversationId))
                .col(big_integer(Messages::Seq))
                .col(text_null(Messages::ClientMsgId))
                .col(text(Messages::SenderKind).check(("ck_messages_sender_kind", check)))
                .col(big_integer_null(Messages::SenderId))
                .col(text_null(Messages::SenderName))
                .col(text(Messages::Text))
                .col(json_binary(Messages::Attachments))
                .col(timestamp_with_time_zone(Messages::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_messages_conversation_id")
                        .from(Rebuilt::Table, Messages::ConversationId)
                        .to(Conversations::Table, Conversations::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
    let db = manager.get_connection();
    let columns = "id, conversation_id, seq, client_msg_id, sender_kind, sender_id, \
                   sender_name, text, attachments, created_at";
    db.execute_unprepared(&format!(
        "INSERT INTO messages_rebuilt ({columns}) SELECT {columns} FROM messages ORDER BY id"
    ))
    .await?;
    // The copy set the new table's counter to its highest id; the old
    // one's may be higher still (its last rows deleted).
    db.execute_unprepared("DELETE FROM sqlite_sequence WHERE name = 'messages_rebuilt'")
        .await?;
    db.execute_unprepared(
        "INSERT INTO sqlite_sequence (name, seq) \
         SELECT 'messages_rebuilt', seq FROM sqlite_sequence WHERE name = 'messages'",
    )
    .await?;
    manager
        .drop_table(Table::drop().table(Messages::Table).to_owned())
        .await?;
    manager
        .rename_table(
            Table::rename()
                .table(Rebuilt::Table, Messages::Table)
                .to_owned(),
        )
        .await?;
    // The indexes went with the old table; the same ones again.
    for (name, second) in [
        ("uq_messages_conversation_id_seq", Messages::Seq),
        (
            "uq_messages_conversation_id_client_msg_id",
            Messages::ClientMsgId,
        ),
    ] {
        manager
            .create_index(
                Index::create()
                    .name(name)
                    .table(Messages::Table)
                    .col(Messages::ConversationId)
                    .col(second)
                    .unique()
                    .to_owned(),
            )
            .await?;
    }
    Ok(())
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    Id,
    ConversationId,
    Seq,
    ClientMsgId,
    SenderKind,
    SenderId,
    SenderName,
    Text,
    Attachments,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Rebuilt {
    #[sea_orm(iden = "messages_rebuilt")]
    Table,
}

#[derive(DeriveIden)]
enum Conversations {
    Table,
    Id,
}
