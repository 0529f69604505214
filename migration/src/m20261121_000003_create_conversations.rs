//! Creates `visitors`, `conversations`, `conversation_skills`, `messages`, `notes`, `tags` and `conversation_tags`.

use sea_orm_migration::{prelude::*, schema::*};

/// Schema v1, step 3: visitors, conversations and everything hanging off a conversation.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Visitors::Table)
                    .col(big_pk_auto(Visitors::Id))
                    .col(text_null(Visitors::Name))
                    .col(text_null(Visitors::Email))
                    .col(text_null(Visitors::UserAgent))
                    .col(json_binary(Visitors::Attributes))
                    .col(timestamp_with_time_zone(Visitors::CreatedAt))
                    .col(timestamp_with_time_zone(Visitors::LastSeenAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Conversations::Table)
                    .col(big_pk_auto(Conversations::Id))
                    .col(big_integer(Conversations::VisitorId))
                    .col(big_integer_null(Conversations::TeamId))
                    .col(big_integer_null(Conversations::AssigneeId))
                    .col(
                        text(Conversations::State).check((
                            "ck_conversations_state",
                            Expr::col(Conversations::State)
                                .is_in(["bot", "queued", "assigned", "closed"]),
                        )),
                    )
                    .col(integer(Conversations::Priority).default(0))
                    .col(text_null(Conversations::IssueType))
                    .col(text_null(Conversations::Language))
                    .col(text(Conversations::Channel).default("widget").check((
                        "ck_conversations_channel",
                        Expr::col(Conversations::Channel).is_in(["widget", "whatsapp", "api"]),
                    )))
                    .col(json_binary(Conversations::Attributes))
                    .col(boolean(Conversations::Offline).default(false))
                    .col(big_integer(Conversations::Version).default(0))
                    .col(big_integer(Conversations::LastSeq).default(0))
                    .col(big_integer(Conversations::CustomerLastReadSeq).default(0))
                    .col(big_integer(Conversations::AgentLastReadSeq).default(0))
                    .col(integer(Conversations::CustomerUnread).default(0))
                    .col(integer(Conversations::AgentUnread).default(0))
                    .col(timestamp_with_time_zone_null(Conversations::WaitingSince))
                    .col(timestamp_with_time_zone_null(
                        Conversations::FirstResponseAt,
                    ))
                    .col(timestamp_with_time_zone_null(Conversations::ClosedAt))
                    .col(text_null(Conversations::ClosedReason))
                    .col(timestamp_with_time_zone(Conversations::CreatedAt))
                    .col(timestamp_with_time_zone(Conversations::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_conversations_visitor_id")
                            .from(Conversations::Table, Conversations::VisitorId)
                            .to(Visitors::Table, Visitors::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_conversations_team_id")
                            .from(Conversations::Table, Conversations::TeamId)
                            .to(Teams::Table, Teams::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_conversations_assignee_id")
                            .from(Conversations::Table, Conversations::AssigneeId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_conversations_assignee_id_state")
                    .table(Conversations::Table)
                    .col(Conversations::AssigneeId)
                    .col(Conversations::State)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_conversations_team_id_state_priority_waiting_since")
                    .table(Conversations::Table)
                    .col(Conversations::TeamId)
                    .col(Conversations::State)
                    .col(Conversations::Priority)
                    .col(Conversations::WaitingSince)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_conversations_visitor_id")
                    .table(Conversations::Table)
                    .col(Conversations::VisitorId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_conversations_state_updated_at")
                    .table(Conversations::Table)
                    .col(Conversations::State)
                    .col(Conversations::UpdatedAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ConversationSkills::Table)
                    .col(big_integer(ConversationSkills::ConversationId))
                    .col(big_integer(ConversationSkills::SkillId))
                    .col(integer(ConversationSkills::MinLevel).check((
                        "ck_conversation_skills_min_level",
                        Expr::col(ConversationSkills::MinLevel).between(1, 5),
                    )))
                    .primary_key(
                        Index::create()
                            .col(ConversationSkills::ConversationId)
                            .col(ConversationSkills::SkillId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_conversation_skills_conversation_id")
                            .from(
                                ConversationSkills::Table,
                                ConversationSkills::ConversationId,
                            )
                            .to(Conversations::Table, Conversations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_conversation_skills_skill_id")
                            .from(ConversationSkills::Table, ConversationSkills::SkillId)
                            .to(Skills::Table, Skills::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Messages::Table)
                    .col(big_pk_auto(Messages::Id))
                    .col(big_integer(Messages::ConversationId))
                    .col(big_integer(Messages::Seq))
                    .col(text_null(Messages::ClientMsgId))
                    .col(
                        text(Messages::SenderKind).check((
                            "ck_messages_sender_kind",
                            Expr::col(Messages::SenderKind)
                                .is_in(["customer", "agent", "bot", "system"]),
                        )),
                    )
                    .col(big_integer_null(Messages::SenderId))
                    .col(text_null(Messages::SenderName))
                    .col(text(Messages::Text))
                    .col(json_binary(Messages::Attachments))
                    .col(timestamp_with_time_zone(Messages::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_messages_conversation_id")
                            .from(Messages::Table, Messages::ConversationId)
                            .to(Conversations::Table, Conversations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_messages_conversation_id_seq")
                    .table(Messages::Table)
                    .col(Messages::ConversationId)
                    .col(Messages::Seq)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_messages_conversation_id_client_msg_id")
                    .table(Messages::Table)
                    .col(Messages::ConversationId)
                    .col(Messages::ClientMsgId)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Notes::Table)
                    .col(big_pk_auto(Notes::Id))
                    .col(big_integer(Notes::ConversationId))
                    .col(big_integer(Notes::AuthorId))
                    .col(text(Notes::Text))
                    .col(timestamp_with_time_zone(Notes::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_notes_conversation_id")
                            .from(Notes::Table, Notes::ConversationId)
                            .to(Conversations::Table, Conversations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_notes_author_id")
                            .from(Notes::Table, Notes::AuthorId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_notes_conversation_id")
                    .table(Notes::Table)
                    .col(Notes::ConversationId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Tags::Table)
                    .col(big_pk_auto(Tags::Id))
                    .col(text_uniq(Tags::Name))
                    .col(text_null(Tags::Color))
                    .col(timestamp_with_time_zone(Tags::CreatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ConversationTags::Table)
                    .col(big_integer(ConversationTags::ConversationId))
                    .col(big_integer(ConversationTags::TagId))
                    .col(timestamp_with_time_zone(ConversationTags::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(ConversationTags::ConversationId)
                            .col(ConversationTags::TagId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_conversation_tags_conversation_id")
                            .from(ConversationTags::Table, ConversationTags::ConversationId)
                            .to(Conversations::Table, Conversations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_conversation_tags_tag_id")
                            .from(ConversationTags::Table, ConversationTags::TagId)
                            .to(Tags::Table, Tags::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_conversation_tags_tag_id")
                    .table(ConversationTags::Table)
                    .col(ConversationTags::TagId)
                    .to_owned(),
            )
            .await?;

        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ConversationTags::Table.into_iden(),
            Tags::Table.into_iden(),
            Notes::Table.into_iden(),
            Messages::Table.into_iden(),
            ConversationSkills::Table.into_iden(),
            Conversations::Table.into_iden(),
            Visitors::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
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
}

#[derive(DeriveIden)]
enum Skills {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Visitors {
    Table,
    Id,
    Name,
    Email,
    UserAgent,
    Attributes,
    CreatedAt,
    LastSeenAt,
}

#[derive(DeriveIden)]
enum Conversations {
    Table,
    Id,
    VisitorId,
    TeamId,
    AssigneeId,
    State,
    Priority,
    IssueType,
    Language,
    Channel,
    Attributes,
    Offline,
    Version,
    LastSeq,
    CustomerLastReadSeq,
    AgentLastReadSeq,
    CustomerUnread,
    AgentUnread,
    WaitingSince,
    FirstResponseAt,
    ClosedAt,
    ClosedReason,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ConversationSkills {
    Table,
    ConversationId,
    SkillId,
    MinLevel,
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
enum Notes {
    Table,
    Id,
    ConversationId,
    AuthorId,
    Text,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Tags {
    Table,
    Id,
    Name,
    Color,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ConversationTags {
    Table,
    ConversationId,
    TagId,
    CreatedAt,
}
