//! What the staff dashboard reads beyond the conversation routes: a
//! visitor's profile with its earlier conversations, the last message of
//! many conversations at once (inbox previews), and the staff directory
//! with presence and load (the transfer menu).

use actix_web::{HttpResponse, get, web};
use chrono::{DateTime, Utc};
use entity::{conversations, messages};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::conversations::scope;
use super::errors::Problem;
use super::extract::Staff;
use super::{ApiError, AppState};
use crate::domain::conversation::ConversationState;
use crate::domain::protocol::Sender;
use crate::domain::{Role, TeamId, VisitorId};
use crate::store;

/// Longest preview text; the rest is cut (the full text is in the history).
pub const PREVIEW_CHARS: usize = 200;
/// Most conversations one preview request may name.
pub const MAX_PREVIEW_IDS: usize = 200;

/// Mounts the routes of this file.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(get_visitor)
        .service(conversation_previews)
        .service(list_agents);
}

/// The start of a conversation's last message.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessagePreview {
    /// Its seq (equals the conversation's `last_seq`).
    pub seq: i64,
    /// Who sent it.
    pub sender: Sender,
    /// The first 200 characters of its text.
    pub text: String,
    /// Whether `text` was cut.
    pub truncated: bool,
    /// When it was committed.
    pub created_at: DateTime<Utc>,
}

fn preview(m: &messages::Model) -> MessagePreview {
    let view = store::messages::view(m);
    let truncated = view.text.chars().count() > PREVIEW_CHARS;
    MessagePreview {
        seq: view.seq,
        sender: view.sender,
        text: view.text.chars().take(PREVIEW_CHARS).collect(),
        truncated,
        created_at: view.created_at,
    }
}

/// One conversation in a visitor's history.
#[derive(Debug, Serialize, ToSchema)]
pub struct VisitorConversation {
    /// Conversation id.
    pub id: i64,
    /// Its visitor: this one, or another who gave the same e-mail.
    pub visitor_id: i64,
    /// `bot`, `queued`, `assigned` or `closed`.
    pub state: ConversationState,
    /// Its team.
    pub team_id: Option<i64>,
    /// Its agent.
    pub assignee_id: Option<i64>,
    /// From the pre-chat form.
    pub issue_type: Option<String>,
    /// Why it was closed.
    pub closed_reason: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// Its last message, `null` before the first.
    pub last_message: Option<MessagePreview>,
}

/// A visitor as staff see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct VisitorProfile {
    /// Visitor id.
    pub id: i64,
    /// From the pre-chat form.
    pub name: Option<String>,
    /// From the pre-chat form.
    pub email: Option<String>,
    /// The browser's `User-Agent` at first contact.
    pub user_agent: Option<String>,
    /// Free-form facts about the visitor.
    #[schema(value_type = Object)]
    pub attributes: serde_json::Value,
    /// First contact.
    pub created_at: DateTime<Utc>,
    /// Last seen.
    pub last_seen_at: DateTime<Utc>,
    /// The conversations of this visitor, and of visitors who gave the same
    /// e-mail, that the caller may read; newest first.
    pub conversations: Vec<VisitorConversation>,
    /// How many more such conversations exist that the caller may not read.
    pub other_conversations: usize,
}

/// A visitor and its conversations; 404 unless the caller may read at
/// least one of them.
#[utoipa::path(get, path = "/api/v1/visitors/{id}", tag = "conversations",
    params(("id" = i64, Path, description = "visitor id")), security(("bearer" = [])),
    responses((status = 200, body = VisitorProfile), (status = 401, body = Problem),
        (status = 404, body = Problem)))]
#[get("/visitors/{id}")]
pub async fn get_visitor(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let not_found = || ApiError::NotFound("no such visitor".into());
    let id = VisitorId(path.into_inner());
    let scope = scope(&state, &staff).await?;
    let visitor = store::conversations::visitor(&state.db, id)
        .await?
        .ok_or_else(not_found)?;
    let rows =
        store::inbox::conversations_of_visitor(&state.db, id, visitor.email.as_deref()).await?;
    let (rows, hidden) = store::inbox::visible_to(&scope, rows)?;
    // Only someone who may read one of the visitor's own conversations
    // learns about the visitor at all.
    if !rows.iter().any(|c| c.visitor_id == id.0) {
        return Err(not_found());
    }
    let mut last = store::inbox::last_messages(&state.db, &rows).await?;
    let conversations = rows
        .into_iter()
        .map(|c| {
            Ok(VisitorConversation {
                state: store::conversations::state_of(&c)?,
                last_message: last.remove(&c.id).as_ref().map(preview),
                id: c.id,
                visitor_id: c.visitor_id,
                team_id: c.team_id,
                assignee_id: c.assignee_id,
                issue_type: c.issue_type,
                closed_reason: c.closed_reason,
                created_at: c.created_at,
                updated_at: c.updated_at,
            })
        })
        .collect::<Result<Vec<_>, store::StoreError>>()?;
    Ok(HttpResponse::Ok().json(VisitorProfile {
        id: visitor.id,
        name: visitor.name,
        email: visitor.email,
        user_agent: visitor.user_agent,
        attributes: visitor.attributes,
        created_at: visitor.created_at,
        last_seen_at: visitor.last_seen_at,
        conversations,
        other_conversations: hidden,
    }))
}

/// Query of `GET /conversation-previews`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PreviewQuery {
    /// Comma-separated conversation ids, 1–200 of them.
    pub ids: String,
}

/// One conversation's preview.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationPreview {
    /// The conversation.
    pub conversation_id: i64,
    /// Its last message.
    pub last_message: MessagePreview,
}

/// Previews, in the order asked.
#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewList {
    /// Only conversations the caller may read that have a message.
    pub items: Vec<ConversationPreview>,
}

fn parse_ids(raw: &str) -> Result<Vec<i64>, ApiError> {
    let bad = || ApiError::field("ids", "must be 1 to 200 comma-separated conversation ids");
    let ids = raw
        .split(',')
        .map(|s| s.trim().parse::<i64>().ok().filter(|n| *n > 0))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(bad)?;
    if ids.is_empty() || ids.len() > MAX_PREVIEW_IDS {
        return Err(bad());
    }
    Ok(ids)
}

/// The last message of each named conversation the caller may read
/// (others are left out, as if they did not exist).
#[utoipa::path(get, path = "/api/v1/conversation-previews", tag = "conversations",
    params(PreviewQuery), security(("bearer" = [])),
    responses((status = 200, body = PreviewList), (status = 401, body = Problem),
        (status = 422, body = Problem)))]
#[get("/conversation-previews")]
pub async fn conversation_previews(
    state: web::Data<AppState>,
    staff: Staff,
    query: web::Query<PreviewQuery>,
) -> Result<HttpResponse, ApiError> {
    let ids = parse_ids(&query.ids)?;
    let scope = scope(&state, &staff).await?;
    let rows = conversations::Entity::find()
        .filter(conversations::Column::Id.is_in(ids.clone()))
        .all(&state.db)
        .await?;
    let (rows, _) = store::inbox::visible_to(&scope, rows)?;
    let mut last = store::inbox::last_messages(&state.db, &rows).await?;
    let mut seen = std::collections::HashSet::new();
    let items = ids
        .into_iter()
        .filter(|id| seen.insert(*id))
        .filter_map(|id| {
            last.remove(&id).map(|m| ConversationPreview {
                conversation_id: id,
                last_message: preview(&m),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(PreviewList { items }))
}

/// Query of `GET /agents`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AgentQuery {
    /// Only members of this team.
    pub team_id: Option<i64>,
}

/// A staff member as the transfer menu shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DirectoryAgent {
    /// User id.
    pub id: i64,
    /// Display name.
    pub name: String,
    /// `admin`, `supervisor` or `agent`.
    pub role: Role,
    /// `online`, `away` or `offline`.
    pub status: String,
    /// Conversations assigned now.
    pub load: i64,
    /// Most it takes at once.
    pub capacity: i32,
    /// Its teams.
    pub team_ids: Vec<i64>,
}

/// Active staff, by name.
#[derive(Debug, Serialize, ToSchema)]
pub struct DirectoryList {
    /// The staff.
    pub items: Vec<DirectoryAgent>,
}

/// Every active staff member with presence and load: whom a conversation
/// can be handed to. Any staff role may read it (no e-mail addresses).
#[utoipa::path(get, path = "/api/v1/agents", tag = "conversations", params(AgentQuery),
    security(("bearer" = [])),
    responses((status = 200, body = DirectoryList), (status = 401, body = Problem),
        (status = 422, body = Problem)))]
#[get("/agents")]
pub async fn list_agents(
    state: web::Data<AppState>,
    _staff: Staff,
    query: web::Query<AgentQuery>,
) -> Result<HttpResponse, ApiError> {
    let entries = store::inbox::directory(&state.db, query.team_id.map(TeamId)).await?;
    let items = entries
        .into_iter()
        .map(|e| {
            Ok(DirectoryAgent {
                role: store::users::role_of(&e.user)?,
                id: e.user.id,
                name: e.user.name,
                status: e.user.status,
                load: e.load,
                capacity: e.user.capacity,
                team_ids: e.teams.into_iter().map(|t| t.0).collect(),
            })
        })
        .collect::<Result<Vec<_>, store::StoreError>>()?;
    Ok(HttpResponse::Ok().json(DirectoryList { items }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn preview_ids_are_a_bounded_list_of_positive_integers() {
        assert_eq!(parse_ids("3, 1,2").unwrap(), vec![3, 1, 2]);
        for bad in ["", "1,,2", "a", "0", "-4", "1;2"] {
            assert!(parse_ids(bad).is_err(), "{bad:?}");
        }
        let many: Vec<String> = (1..=201).map(|n| n.to_string()).collect();
        assert!(parse_ids(&many.join(",")).is_err());
        assert!(parse_ids(&many[..200].join(",")).is_ok());
    }

    #[test]
    fn a_preview_cuts_long_text_on_character_boundaries() {
        let m = messages::Model {
            id: 1,
            conversation_id: 2,
            seq: 3,
            client_msg_id: None,
            sender_kind: "customer".into(),
            sender_id: Some(4),
            sender_name: None,
            text: "é".repeat(PREVIEW_CHARS + 1),
            attachments: serde_json::json!([]),
            created_at: Utc::now(),
        };
        let p = preview(&m);
        assert!(p.truncated);
        assert_eq!(p.text.chars().count(), PREVIEW_CHARS);
    }
}
