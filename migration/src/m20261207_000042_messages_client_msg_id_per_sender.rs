//! Makes a `client_msg_id` unique per sender, not per conversation.

use sea_orm_migration::prelude::*;

/// Step 42: a `client_msg_id` is the sender's own key (invariant 3 is
/// about a sender's resends). Unique per conversation, a customer's `1`
/// refused an agent's `1`, and a customer could take the triage bot's
/// `bot:0`. The new index holds `(conversation_id, client_msg_id,
/// sender_kind, sender_id)`, with the bot's missing `sender_id` as 0 so
/// that its keys stay unique too (NULLs never collide in a unique index).
/// The id comes second: the resend lookup finds the row by it alone.
#[derive(DeriveMigrationName)]
pub struct Migration;

const OLD: &str = "uq_messages_conversation_id_client_msg_id";
const NEW: &str = "uq_messages_conversation_id_client_msg_id_sender";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // sea-query's index builder takes columns, not the COALESCE
        // expression; this statement reads the same on SQLite and
        // PostgreSQL.
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "CREATE UNIQUE INDEX {NEW} ON messages \
                 (conversation_id, client_msg_id, sender_kind, COALESCE(sender_id, 0))"
            ))
            .await?;
        manager
            .drop_index(Index::drop().name(OLD).table(Messages::Table).to_owned())
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(OLD)
                    .table(Messages::Table)
                    .col(Messages::ConversationId)
                    .col(Messages::ClientMsgId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(Index::drop().name(NEW).table(Messages::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    ConversationId,
    ClientMsgId,
}
