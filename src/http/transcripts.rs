//! Transcripts: `GET /widget/transcript` for the visitor (its own
//! conversation) and `GET /conversations/{id}/transcript` for staff with
//! read access. Plain text or a standalone, fully escaped HTML page.
//! Messages only: internal notes live elsewhere and never appear.

use actix_web::http::header::{self, ContentDisposition, DispositionParam, DispositionType};
use actix_web::{HttpResponse, get, web};
use entity::conversations;
use serde::Deserialize;
use utoipa::IntoParams;

use super::errors::Problem;
use super::extract::Staff;
use super::visitor::Visitor;
use super::{ApiError, AppState};
use crate::domain::ConversationId;
use crate::domain::access::{StaffScope, staff_may_access};
use crate::domain::conversation::ConversationState;
use crate::domain::transcript::{self, TranscriptFormat, TranscriptHeader};
use crate::store;

/// Messages read per query while building a transcript.
const PAGE: u64 = 500;

/// Mounts the routes of this file.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(visitor_transcript).service(staff_transcript);
}

/// Query of both transcript routes.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TranscriptQuery {
    /// `text` (default) or `html`.
    pub format: Option<TranscriptFormat>,
}

/// The whole conversation as a download.
async fn respond(
    state: &AppState,
    row: conversations::Model,
    format: TranscriptFormat,
) -> Result<HttpResponse, ApiError> {
    let id = ConversationId(row.id);
    let mut messages = Vec::new();
    loop {
        let after = messages
            .last()
            .map_or(0, |m: &crate::domain::protocol::MessageView| m.seq);
        let page = store::messages::after(&state.db, id, after, PAGE).await?;
        let full = page.len() as u64 == PAGE;
        messages.extend(page.iter().map(store::messages::view));
        if !full {
            break;
        }
    }
    let closed = (store::conversations::state_of(&row)? == ConversationState::Closed)
        .then(|| (row.closed_at, row.closed_reason.clone()));
    let header = TranscriptHeader {
        title: store::widget_settings::get(&state.db).await?.title,
        conversation_id: row.id,
        started_at: row.created_at,
        closed,
    };
    let body = transcript::render(format, &header, &messages);
    Ok(HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header(ContentDisposition {
            disposition: DispositionType::Attachment,
            parameters: vec![DispositionParam::Filename(format!(
                "conversation-{}.{}",
                row.id,
                format.extension()
            ))],
        })
        // A transcript holds personal data: never in a shared cache.
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("x-content-type-options", "nosniff"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'",
        ))
        .body(body))
}

/// The visitor's own conversation as a download.
#[utoipa::path(get, path = "/api/v1/widget/transcript", tag = "widget",
    params(TranscriptQuery), security(("visitor" = [])),
    responses((status = 200, description = "the transcript (text/plain or text/html)", content_type = "text/plain"),
        (status = 401, body = Problem), (status = 422, body = Problem)))]
#[get("/widget/transcript")]
pub async fn visitor_transcript(
    state: web::Data<AppState>,
    visitor: Visitor,
    query: web::Query<TranscriptQuery>,
) -> Result<HttpResponse, ApiError> {
    let format = query.into_inner().format.unwrap_or(TranscriptFormat::Text);
    respond(&state, visitor.conversation, format).await
}

/// A conversation as a download, for staff who may read it (404 otherwise).
#[utoipa::path(get, path = "/api/v1/conversations/{id}/transcript", tag = "conversations",
    params(("id" = i64, Path, description = "conversation id"), TranscriptQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "the transcript (text/plain or text/html)", content_type = "text/plain"),
        (status = 401, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[get("/conversations/{id}/transcript")]
pub async fn staff_transcript(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<i64>,
    query: web::Query<TranscriptQuery>,
) -> Result<HttpResponse, ApiError> {
    let format = query.into_inner().format.unwrap_or(TranscriptFormat::Text);
    let not_found = || ApiError::NotFound("no such conversation".into());
    let row = store::conversations::find(&state.db, ConversationId(path.into_inner()))
        .await?
        .ok_or_else(not_found)?;
    let scope = StaffScope {
        user: staff.id,
        role: staff.role,
        teams: store::users::team_ids(&state.db, staff.id).await?,
    };
    if !staff_may_access(&scope, &store::conversations::scope_of(&row)?) {
        return Err(not_found());
    }
    respond(&state, row, format).await
}
