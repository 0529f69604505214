//! Creates `macros`, `routing_rules`, `widget_settings`, `business_hours` and `audit_log`.

use sea_orm_migration::{prelude::*, schema::*};

/// Schema v1, step 4: admin-managed configuration and the audit log.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Macros::Table)
                    .col(big_pk_auto(Macros::Id))
                    .col(big_integer_null(Macros::OwnerId))
                    .col(text(Macros::Title))
                    .col(text(Macros::Content))
                    .col(timestamp_with_time_zone(Macros::CreatedAt))
                    .col(timestamp_with_time_zone(Macros::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_macros_owner_id")
                            .from(Macros::Table, Macros::OwnerId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_macros_owner_id")
                    .table(Macros::Table)
                    .col(Macros::OwnerId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(RoutingRules::Table)
                    .col(big_pk_auto(RoutingRules::Id))
                    .col(text(RoutingRules::Name))
                    .col(integer(RoutingRules::Position))
                    .col(json_binary(RoutingRules::Conditions))
                    .col(big_integer_null(RoutingRules::TeamId))
                    .col(json_binary(RoutingRules::RequiredSkills))
                    .col(integer(RoutingRules::Priority).default(0))
                    .col(boolean(RoutingRules::Active).default(true))
                    .col(timestamp_with_time_zone(RoutingRules::CreatedAt))
                    .col(timestamp_with_time_zone(RoutingRules::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_routing_rules_team_id")
                            .from(RoutingRules::Table, RoutingRules::TeamId)
                            .to(Teams::Table, Teams::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_routing_rules_position")
                    .table(RoutingRules::Table)
                    .col(RoutingRules::Position)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(WidgetSettings::Table)
                    .col(big_pk_auto(WidgetSettings::Id))
                    .col(text(WidgetSettings::Title))
                    .col(text(WidgetSettings::WelcomeMessage))
                    .col(text(WidgetSettings::PrimaryColor))
                    .col(text_null(WidgetSettings::LogoUrl))
                    .col(text(WidgetSettings::Position).default("right").check((
                        "ck_widget_settings_position",
                        Expr::col(WidgetSettings::Position).is_in(["left", "right"]),
                    )))
                    .col(json_binary(WidgetSettings::PreChatFields))
                    .col(text(WidgetSettings::OfflineMessage))
                    .col(timestamp_with_time_zone(WidgetSettings::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(BusinessHours::Table)
                    .col(big_pk_auto(BusinessHours::Id))
                    .col(big_integer_uniq(BusinessHours::TeamId))
                    .col(text(BusinessHours::Timezone))
                    .col(json_binary(BusinessHours::Schedule))
                    .col(json_binary(BusinessHours::Holidays))
                    .col(timestamp_with_time_zone(BusinessHours::CreatedAt))
                    .col(timestamp_with_time_zone(BusinessHours::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_business_hours_team_id")
                            .from(BusinessHours::Table, BusinessHours::TeamId)
                            .to(Teams::Table, Teams::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .col(big_pk_auto(AuditLog::Id))
                    .col(big_integer_null(AuditLog::ActorId))
                    .col(text(AuditLog::Action))
                    .col(text(AuditLog::TargetType))
                    .col(big_integer_null(AuditLog::TargetId))
                    .col(json_binary(AuditLog::Details))
                    .col(text_null(AuditLog::Ip))
                    .col(timestamp_with_time_zone(AuditLog::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_audit_log_actor_id")
                            .from(AuditLog::Table, AuditLog::ActorId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_audit_log_created_at")
                    .table(AuditLog::Table)
                    .col(AuditLog::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_audit_log_target_type_target_id")
                    .table(AuditLog::Table)
                    .col(AuditLog::TargetType)
                    .col(AuditLog::TargetId)
                    .to_owned(),
            )
            .await?;

        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AuditLog::Table.into_iden(),
            BusinessHours::Table.into_iden(),
            WidgetSettings::Table.into_iden(),
            RoutingRules::Table.into_iden(),
            Macros::Table.into_iden(),
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
enum Macros {
    Table,
    Id,
    OwnerId,
    Title,
    Content,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum RoutingRules {
    Table,
    Id,
    Name,
    Position,
    Conditions,
    TeamId,
    RequiredSkills,
    Priority,
    Active,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WidgetSettings {
    Table,
    Id,
    Title,
    WelcomeMessage,
    PrimaryColor,
    LogoUrl,
    Position,
    PreChatFields,
    OfflineMessage,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum BusinessHours {
    Table,
    Id,
    TeamId,
    Timezone,
    Schedule,
    Holidays,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    ActorId,
    Action,
    TargetType,
    TargetId,
    Details,
    Ip,
    CreatedAt,
}
