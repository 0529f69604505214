//! The OpenAPI 3.1 document of every route, generated from the handlers'
//! annotations so it cannot drift from the code.

use actix_web::{HttpResponse, get};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    auth, business_hours, conversations, csat, errors, health, inbox, macros, me, reports,
    routing_rules, skills, tags, teams, transcripts, triage, users, visitor, widget,
    widget_settings,
};

/// The document's root.
#[derive(OpenApi)]
#[openapi(
    info(title = "Switchboard API", version = "1", description = "REST API of Switchboard, a realtime customer-support chat engine. Errors are RFC 9457 problem+json."),
    paths(
        health::healthz, health::readyz,
        auth::login, auth::refresh_session, auth::logout,
        me::get_me, me::update_me, me::change_password,
        users::create_user, users::list_users, users::get_user, users::update_user,
        users::deactivate_user, users::reset_password, users::set_user_teams, users::set_user_skills,
        teams::create_team, teams::list_teams, teams::get_team, teams::update_team,
        teams::delete_team, teams::set_members,
        skills::create_skill, skills::list_skills, skills::delete_skill,
        widget::init, widget::create_session, widget::leave_message,
        visitor::get_widget_conversation, csat::rate, transcripts::visitor_transcript,
        transcripts::staff_transcript,
        widget_settings::get_settings, widget_settings::put_settings,
        business_hours::get_hours, business_hours::put_hours, business_hours::delete_hours,
        triage::get_triage, triage::put_triage, triage::delete_triage,
        reports::list_sla_breaches,
        conversations::list_conversations, conversations::get_conversation,
        conversations::list_messages, conversations::accept, conversations::assign,
        conversations::transfer, conversations::close, conversations::reopen,
        conversations::list_notes, conversations::add_note,
        routing_rules::list_rules, routing_rules::create_rule, routing_rules::get_rule,
        routing_rules::update_rule, routing_rules::delete_rule,
        tags::list_tags, tags::create_tag, tags::update_tag, tags::delete_tag,
        tags::set_conversation_tags, tags::add_conversation_tags, tags::remove_conversation_tag,
        macros::list_macros, macros::create_macro, macros::get_macro, macros::update_macro,
        macros::delete_macro,
        inbox::get_visitor, inbox::conversation_previews, inbox::list_agents,
        document,
    ),
    components(schemas(errors::Problem, errors::FieldError, crate::domain::ErrorCode)),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "log in, refresh, log out"),
        (name = "me", description = "the caller's own account"),
        (name = "users", description = "staff accounts (admin)"),
        (name = "teams", description = "teams and membership"),
        (name = "skills", description = "the skill catalogue"),
        (name = "widget", description = "the embeddable widget's entry (no auth)"),
        (name = "conversations", description = "inbox, history and state changes"),
        (name = "routing", description = "routing rules (admin)"),
        (name = "reports", description = "SLA breaches (supervisors, admins)"),
        (name = "tags", description = "the tag catalogue and tags on conversations"),
        (name = "macros", description = "canned responses, personal and global"),
        (name = "operations", description = "health and metadata"),
    )
)]
pub struct ApiDoc;

/// Declares the `bearer` security scheme the routes refer to.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        // The widget's routes take the visitor token of `POST /widget/sessions`.
        components.add_security_scheme(
            "visitor",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("visitor token from POST /api/v1/widget/sessions"))
                    .build(),
            ),
        );
    }
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "operations",
    responses((status = 200, description = "the OpenAPI document")))]
#[get("/openapi.json")]
pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
