//! `POST /widget/csat`: the visitor rates its conversation once, after the
//! close. Staff read the rating as `csat` on the conversation.

use actix_web::{FromRequest, HttpRequest, HttpResponse, post, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::errors::{Checks, Problem};
use super::visitor::Visitor;
use super::{ApiError, AppState};
use crate::actors::conversation::Rated;
use crate::domain::conversation::ConversationState;
use crate::domain::protocol::CsatView;
use crate::domain::{ConversationId, UserId};
use crate::store::{self, StoreError};

/// Longest CSAT comment.
pub const MAX_COMMENT_CHARS: usize = 1000;

/// Mounts the routes of this file.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(rate);
}

/// Body of `POST /widget/csat`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CsatBody {
    /// 1 (bad) to 5 (great).
    pub score: i64,
    /// Optional, at most 1000 characters; blank counts as none.
    pub comment: Option<String>,
}

/// The validated comment: trimmed, bounded, no control characters except
/// line breaks and tabs.
fn comment(checks: &mut Checks, raw: Option<&str>) -> Option<String> {
    let c = raw.map(str::trim).filter(|c| !c.is_empty())?;
    if c.chars().count() > MAX_COMMENT_CHARS {
        checks.fail("comment", format!("at most {MAX_COMMENT_CHARS} characters"));
        return None;
    }
    if c.chars()
        .any(|ch| ch.is_control() && !matches!(ch, '\n' | '\r' | '\t'))
    {
        checks.fail("comment", "must not contain control characters");
        return None;
    }
    Some(c.to_owned())
}

/// Rate the conversation once it is closed: 409 before the close or for a
/// second rating.
#[utoipa::path(post, path = "/api/v1/widget/csat", tag = "widget", request_body = CsatBody,
    security(("visitor" = [])),
    responses((status = 201, body = CsatView), (status = 401, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
#[post("/widget/csat")]
pub async fn rate(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<CsatBody>,
) -> Result<HttpResponse, ApiError> {
    // The token is checked after the body has parsed (extractors run
    // concurrently), so a malformed body is a 400/422 whoever sends it, as
    // on every other route.
    let visitor = Visitor::extract(&req).await?;
    let body = body.into_inner();
    let mut checks = Checks::default();
    if !(1..=5).contains(&body.score) {
        checks.fail("score", "must be a whole number from 1 to 5");
    }
    let comment = comment(&mut checks, body.comment.as_deref());
    checks.finish()?;
    let c = &visitor.conversation;
    if store::conversations::state_of(c)? != ConversationState::Closed {
        return Err(ApiError::Conflict(
            "a conversation can be rated once it has ended".into(),
        ));
    }
    let already = || ApiError::Conflict("this conversation was already rated".into());
    if store::csat::find(&state.db, ConversationId(c.id))
        .await?
        .is_some()
    {
        return Err(already());
    }
    let score = i32::try_from(body.score).map_err(|_| ApiError::field("score", "out of range"))?;
    let row = store::csat::insert(
        &state.db,
        store::csat::NewRating {
            conversation: ConversationId(c.id),
            visitor: visitor.id,
            agent: c.assignee_id.map(UserId),
            score,
            comment,
        },
    )
    .await
    .map_err(|e| match e {
        // Two ratings raced past the check: the unique index picked one.
        StoreError::Conflict(_) => already(),
        other => other.into(),
    })?;
    tracing::info!(conversation_id = c.id, score, "conversation rated");
    // The rating is committed whatever happens next; the followers hearing
    // of it live is a courtesy, so a failure here is logged, not answered.
    if let Err(e) = tell_followers(&state, ConversationId(c.id)).await {
        tracing::warn!(conversation_id = c.id, error = %e, "could not tell the followers about a rating");
    }
    Ok(HttpResponse::Created().json(store::csat::view(&row)))
}

/// Has the conversation's actor push the rated conversation to its
/// followers (`conversation.updated`).
async fn tell_followers(state: &AppState, id: ConversationId) -> Result<(), ApiError> {
    state.bus.conversation(id).await?.ask(Rated).await??;
    Ok(())
}
