//! Conversations over REST: the inbox (only what the caller may see),
//! one conversation, its history, and the state changes — which go through
//! the Conversation actor exactly like their socket events.

use actix_web::{HttpResponse, get, post, web};
use entity::conversations;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::errors::Problem;
use super::extract::Staff;
use super::pagination::{self, Page};
use super::{ApiError, AppState};
use crate::actors::conversation::{Accept, AddNote, Assign, Close, Conversation, Reopen, Transfer};
use crate::actors::{ActorError, Party};
use crate::domain::access::{StaffScope, staff_may_access};
use crate::domain::conversation::ConversationState;
use crate::domain::inbox::{SearchText, TagName};
use crate::domain::protocol::{
    ConversationView, MAX_NOTE_CHARS, MAX_TEXT_CHARS, MessageView, NoteView, PartyKind, Sender,
    reason_problem,
};
use crate::domain::{ConversationId, TeamId, UserId};
use crate::store;
use crate::store::conversations::ConversationFilter;

/// Mounts the routes of this file.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list_conversations)
        .service(get_conversation)
        .service(list_messages)
        .service(accept)
        .service(assign)
        .service(transfer)
        .service(close)
        .service(reopen)
        .service(list_notes)
        .service(add_note);
}

/// Body of `POST /conversations/{id}/notes`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    /// 1–4000 characters, never shown to the customer.
    pub text: String,
}

/// The internal notes of a conversation.
#[derive(Debug, Serialize, ToSchema)]
pub struct NoteList {
    /// Oldest first.
    pub items: Vec<NoteView>,
}

/// Internal notes of a conversation (staff only, never the customer).
#[utoipa::path(get, path = "/api/v1/conversations/{id}/notes", tag = "conversations",
    params(("id" = i64, Path, description = "conversation id")), security(("bearer" = [])),
    responses((status = 200, body = NoteList), (status = 401, body = Problem),
        (status = 404, body = Problem)))]
#[get("/conversations/{id}/notes")]
pub async fn list_notes(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let scope = scope(&state, &staff).await?;
    let row = visible(&state, &scope, path.into_inner()).await?;
    let items = store::notes::list(&state.db, ConversationId(row.id))
        .await?
        .into_iter()
        .map(|(n, name)| NoteView {
            id: n.id,
            conversation_id: n.conversation_id,
            author: Sender {
                kind: PartyKind::Agent,
                id: Some(n.author_id),
                name,
            },
            text: n.text,
            created_at: n.created_at,
        })
        .collect();
    Ok(HttpResponse::Ok().json(NoteList { items }))
}

/// Add an internal note; staff following the conversation get `note.created`.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/notes", tag = "conversations",
    request_body = NoteBody,
    params(("id" = i64, Path, description = "conversation id")), security(("bearer" = [])),
    responses((status = 201, body = NoteView), (status = 401, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
#[post("/conversations/{id}/notes")]
pub async fn add_note(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<i64>,
    body: web::Json<NoteBody>,
) -> Result<HttpResponse, ApiError> {
    let text = body.into_inner().text;
    let n = text.chars().count();
    if text.trim().is_empty() || n > MAX_TEXT_CHARS {
        return Err(ApiError::field(
            "text",
            format!("must be 1 to {MAX_TEXT_CHARS} characters"),
        ));
    }
    let scope = scope(&state, &staff).await?;
    let row = visible(&state, &scope, path.into_inner()).await?;
    let conv = state.bus.conversation(ConversationId(row.id)).await?;
    let note = conv
        .ask(AddNote {
            by: party(&staff, scope),
            text,
        })
        .await??;
    Ok(HttpResponse::Created().json(note))
}

/// Query of `GET /conversations`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListConversations {
    /// `bot`, `queued`, `assigned` or `closed`.
    pub state: Option<ConversationState>,
    /// Only this team.
    pub team_id: Option<i64>,
    /// Only this agent's; `me` for the caller.
    pub assignee_id: Option<String>,
    /// Alias of `assignee_id`.
    pub assignee: Option<String>,
    /// Only conversations with this tag (by name).
    pub tag: Option<String>,
    /// `true`: only those with customer messages no staff member has read;
    /// `false`: only those without.
    pub unread: Option<bool>,
    /// Visitor name or e-mail contains this (case-insensitive), or the
    /// conversation id is this number.
    pub q: Option<String>,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Page size, 1–200 (default 50).
    pub limit: Option<u64>,
}

/// Query of `GET /conversations/{id}/messages`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListMessages {
    /// Messages after this seq, ascending (catching up).
    pub after_seq: Option<i64>,
    /// Messages before this seq, the newest first page (scrolling back).
    pub before_seq: Option<i64>,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// Page size, 1–200 (default 50).
    pub limit: Option<u64>,
}

/// One page of history.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessagePage {
    /// Ascending by seq.
    pub items: Vec<MessageView>,
    /// Pass as `cursor` to continue in the same direction; `null` at the end.
    pub next_cursor: Option<String>,
}

/// Body of `POST /conversations/{id}/assign`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    /// The agent.
    pub agent_id: i64,
}

/// Body of `POST /conversations/{id}/transfer`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferBody {
    /// To this agent…
    pub agent_id: Option<i64>,
    /// …or to this team's queue.
    pub team_id: Option<i64>,
    /// An internal note for the receiving side.
    pub note: Option<String>,
}

/// Body of `POST /conversations/{id}/close`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseBody {
    /// Why, e.g. `resolved`.
    pub reason: Option<String>,
}

/// The caller's access scope, with its current team memberships.
pub(crate) async fn scope(state: &AppState, staff: &Staff) -> Result<StaffScope, ApiError> {
    Ok(StaffScope {
        user: staff.id,
        role: staff.role,
        teams: store::users::team_ids(&state.db, staff.id).await?,
    })
}

/// The row, if the caller may see it or it belongs to one of the caller's
/// teams (a teammate who lost an accept race learns it was taken: 409).
async fn visible_or_teammate(
    state: &AppState,
    scope: &StaffScope,
    id: i64,
) -> Result<conversations::Model, ApiError> {
    let not_found = || ApiError::NotFound("no such conversation".into());
    let row = store::conversations::find(&state.db, ConversationId(id))
        .await?
        .ok_or_else(not_found)?;
    let conv = store::conversations::scope_of(&row)?;
    let teammate = row
        .team_id
        .is_some_and(|t| scope.teams.contains(&TeamId(t)));
    if teammate || staff_may_access(scope, &conv) {
        Ok(row)
    } else {
        Err(not_found())
    }
}

/// The row, if the caller may see it; otherwise 404 (it may not know it exists).
pub(crate) async fn visible(
    state: &AppState,
    scope: &StaffScope,
    id: i64,
) -> Result<conversations::Model, ApiError> {
    let not_found = || ApiError::NotFound("no such conversation".into());
    let row = store::conversations::find(&state.db, ConversationId(id))
        .await?
        .ok_or_else(not_found)?;
    let conv = store::conversations::scope_of(&row)?;
    if staff_may_access(scope, &conv) {
        Ok(row)
    } else {
        Err(not_found())
    }
}

/// The caller as a party of a conversation.
pub(crate) fn party(staff: &Staff, scope: StaffScope) -> Party {
    Party::Staff {
        scope,
        name: staff.user.name.clone(),
    }
}

/// Runs a state change through the conversation's actor as `staff`, after
/// the visibility check (404 for what the caller may not know exists), and
/// answers with the changed conversation.
async fn change<M>(
    state: &AppState,
    staff: &Staff,
    id: i64,
    teammates_too: bool,
    make: impl FnOnce(Party) -> M,
) -> Result<HttpResponse, ApiError>
where
    M: crate::bus::calls::Call + actix::Message<Result = Result<ConversationView, ActorError>>,
    Conversation: actix::Handler<M>,
    <Conversation as actix::Actor>::Context: actix::dev::ToEnvelope<Conversation, M>,
{
    let scope = scope(state, staff).await?;
    let row = if teammates_too {
        visible_or_teammate(state, &scope, id).await?
    } else {
        visible(state, &scope, id).await?
    };
    let conv = state.bus.conversation(ConversationId(row.id)).await?;
    let view = conv.ask(make(party(staff, scope))).await??;
    Ok(HttpResponse::Ok().json(view))
}

/// The inbox: conversations the caller may see, newest first.
#[utoipa::path(get, path = "/api/v1/conversations", tag = "conversations",
    params(ListConversations), security(("bearer" = [])),
    responses((status = 200, body = Page<ConversationView>), (status = 401, body = Problem),
        (status = 422, body = Problem)))]
#[get("/conversations")]
pub async fn list_conversations(
    state: web::Data<AppState>,
    staff: Staff,
    query: web::Query<ListConversations>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let limit = pagination::limit(q.limit)?;
    let before_id = q.cursor.as_deref().map(pagination::decode).transpose()?;
    let assignee = match q.assignee_id.as_deref().or(q.assignee.as_deref()) {
        None => None,
        Some("me") => Some(staff.id),
        Some(n) => Some(UserId(n.parse().map_err(|_| {
            ApiError::field("assignee_id", "must be a user id or `me`")
        })?)),
    };
    let tag = q
        .tag
        .as_deref()
        .map(|t| TagName::parse(t).map_err(|e| ApiError::field("tag", e.0)))
        .transpose()?;
    let search = match q.q.as_deref() {
        Some(text) => SearchText::parse(text).map_err(|e| ApiError::field("q", e.0))?,
        None => None,
    };
    let scope = scope(&state, &staff).await?;
    let rows = store::conversations::list_for(
        &state.db,
        &scope,
        &ConversationFilter {
            state: q.state,
            team: q.team_id.map(TeamId),
            assignee,
            tag,
            unread: q.unread,
            search,
            before_id,
            limit: limit + 1,
        },
    )
    .await?;
    let page = pagination::page(rows, limit, |r| r.id, |r| r);
    let items = store::conversations::views(&state.db, page.items).await?;
    Ok(HttpResponse::Ok().json(Page {
        items,
        next_cursor: page.next_cursor,
    }))
}

/// One conversation.
#[utoipa::path(get, path = "/api/v1/conversations/{id}", tag = "conversations",
    params(("id" = i64, Path, description = "conversation id")), security(("bearer" = [])),
    responses((status = 200, body = ConversationView), (status = 401, body = Problem),
        (status = 404, body = Problem)))]
#[get("/conversations/{id}")]
pub async fn get_conversation(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let scope = scope(&state, &staff).await?;
    let row = visible(&state, &scope, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(store::conversations::view(&state.db, row).await?))
}

/// History: `after_seq` pages forward, `before_seq` pages back; ascending.
#[utoipa::path(get, path = "/api/v1/conversations/{id}/messages", tag = "conversations",
    params(("id" = i64, Path, description = "conversation id"), ListMessages),
    security(("bearer" = [])),
    responses((status = 200, body = MessagePage), (status = 401, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
#[get("/conversations/{id}/messages")]
pub async fn list_messages(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<i64>,
    query: web::Query<ListMessages>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let limit = pagination::limit(q.limit)?;
    let scope = scope(&state, &staff).await?;
    let row = visible(&state, &scope, path.into_inner()).await?;
    let id = ConversationId(row.id);
    // A cursor is "a<seq>" (forward) or "b<seq>" (backward).
    let (forward, seq) = match (&q.cursor, q.after_seq, q.before_seq) {
        (Some(c), None, None) => decode_seq_cursor(c)?,
        (None, Some(a), None) if a >= 0 => (true, a),
        (None, None, Some(b)) if b >= 1 => (false, b),
        (None, None, None) => (false, row.last_seq + 1),
        _ => {
            return Err(ApiError::field(
                "after_seq",
                "give one of after_seq (≥ 0), before_seq (≥ 1) or cursor",
            ));
        }
    };
    let rows = if forward {
        store::messages::after(&state.db, id, seq, limit + 1).await?
    } else {
        store::messages::before(&state.db, id, seq, limit + 1).await?
    };
    let more = rows.len() as u64 > limit;
    let mut rows = rows;
    let next_cursor = if forward {
        rows.truncate(limit as usize);
        more.then(|| rows.last().map(|m| encode_seq_cursor(true, m.seq)))
            .flatten()
    } else {
        if more {
            rows.remove(0);
        }
        more.then(|| rows.first().map(|m| encode_seq_cursor(false, m.seq)))
            .flatten()
    };
    Ok(HttpResponse::Ok().json(MessagePage {
        items: rows.iter().map(store::messages::view).collect(),
        next_cursor,
    }))
}

fn encode_seq_cursor(forward: bool, seq: i64) -> String {
    format!("{}{seq}", if forward { "a" } else { "b" })
}

fn decode_seq_cursor(c: &str) -> Result<(bool, i64), ApiError> {
    let bad = || ApiError::field("cursor", "is not a cursor this server issued");
    let (dir, n) = c.split_at_checked(1).ok_or_else(bad)?;
    let n: i64 = n.parse().map_err(|_| bad())?;
    match dir {
        "a" => Ok((true, n)),
        "b" => Ok((false, n)),
        _ => Err(bad()),
    }
}

/// Take a queued conversation.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/accept", tag = "conversations",
    params(("id" = i64, Path, description = "conversation id")), security(("bearer" = [])),
    responses((status = 200, body = ConversationView), (status = 401, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)))]
#[post("/conversations/{id}/accept")]
pub async fn accept(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    change(&state, &staff, path.into_inner(), true, |party| Accept {
        party,
        joining: None,
    })
    .await
}

/// Give a conversation to an agent (supervisors of its team, admins).
#[utoipa::path(post, path = "/api/v1/conversations/{id}/assign", tag = "conversations",
    request_body = AssignBody,
    params(("id" = i64, Path, description = "conversation id")), security(("bearer" = [])),
    responses((status = 200, body = ConversationView), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[post("/conversations/{id}/assign")]
pub async fn assign(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<i64>,
    body: web::Json<AssignBody>,
) -> Result<HttpResponse, ApiError> {
    let agent = UserId(body.agent_id);
    change(&state, &staff, path.into_inner(), false, |by| Assign {
        by,
        agent,
    })
    .await
}

/// Hand a conversation to another agent or team, with a note.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/transfer", tag = "conversations",
    request_body = TransferBody,
    params(("id" = i64, Path, description = "conversation id")), security(("bearer" = [])),
    responses((status = 200, body = ConversationView), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
#[post("/conversations/{id}/transfer")]
pub async fn transfer(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<i64>,
    body: web::Json<TransferBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    if body.agent_id.is_some() == body.team_id.is_some() {
        return Err(ApiError::field(
            "agent_id",
            "give exactly one of agent_id and team_id",
        ));
    }
    if body
        .note
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_NOTE_CHARS)
    {
        return Err(ApiError::field(
            "note",
            format!("at most {MAX_NOTE_CHARS} characters"),
        ));
    }
    change(&state, &staff, path.into_inner(), false, |by| Transfer {
        by,
        agent: body.agent_id.map(UserId),
        team: body.team_id.map(TeamId),
        note: body.note,
    })
    .await
}

/// End a conversation.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/close", tag = "conversations",
    request_body = CloseBody,
    params(("id" = i64, Path, description = "conversation id")), security(("bearer" = [])),
    responses((status = 200, body = ConversationView), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[post("/conversations/{id}/close")]
pub async fn close(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<i64>,
    body: web::Json<CloseBody>,
) -> Result<HttpResponse, ApiError> {
    let reason = body
        .into_inner()
        .reason
        .unwrap_or_else(|| "resolved".to_owned());
    if let Some(problem) = reason_problem(&reason) {
        return Err(ApiError::field("reason", problem));
    }
    change(&state, &staff, path.into_inner(), false, |by| Close {
        by,
        reason,
    })
    .await
}

/// Reopen a closed conversation: back to its team's queue.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/reopen", tag = "conversations",
    params(("id" = i64, Path, description = "conversation id")), security(("bearer" = [])),
    responses((status = 200, body = ConversationView), (status = 401, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)))]
#[post("/conversations/{id}/reopen")]
pub async fn reopen(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    change(&state, &staff, path.into_inner(), false, |by| Reopen { by }).await
}
