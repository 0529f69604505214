//! The widget visitor as a REST caller: the [`Visitor`] extractor (the
//! visitor token from `POST /widget/sessions` as `Authorization: Bearer`),
//! and `GET /widget/conversation`, what a widget needs after a page load
//! that the socket's `resume` does not give: the state, read marks, the
//! agent and the rating.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, Utc};
use entity::{conversations, visitors};
use serde::Serialize;
use utoipa::ToSchema;

use super::errors::Problem;
use super::{ApiError, AppState};
use crate::domain::conversation::ConversationState;
use crate::domain::protocol::CsatView;
use crate::domain::{ConversationId, UserId, VisitorId};
use crate::store;

/// Mounts the routes of this file.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(get_widget_conversation);
}

/// A widget visitor authenticated by its token, with its one conversation.
#[derive(Debug, Clone)]
pub struct Visitor {
    /// The visitor id.
    pub id: VisitorId,
    /// The visitor row.
    pub visitor: visitors::Model,
    /// The conversation the token is bound to (the only one it may touch).
    pub conversation: conversations::Model,
}

/// The token of `Authorization: Bearer …`. Header only: unlike the socket,
/// REST has no reason to put a long-lived token in a URL (and its logs).
fn header_token(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

impl FromRequest for Visitor {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = header_token(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::Internal("app state missing".into()))?;
            let token =
                token.ok_or_else(|| ApiError::Unauthorized("missing visitor token".into()))?;
            let claims = state.keys.verify_visitor(&token)?;
            let id = claims.visitor_id()?;
            let visitor = store::conversations::visitor(&state.db, id)
                .await?
                .ok_or_else(|| ApiError::Unauthorized("unknown visitor".into()))?;
            let conversation = store::conversations::find(&state.db, claims.conversation_id())
                .await?
                .ok_or_else(|| ApiError::NotFound("no such conversation".into()))?;
            if conversation.visitor_id != visitor.id {
                // Our own signature says otherwise: treat it as a bad token.
                return Err(ApiError::Unauthorized("invalid or expired token".into()));
            }
            Ok(Visitor {
                id,
                visitor,
                conversation,
            })
        })
    }
}

/// The agent holding the conversation, as the visitor may see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentBrief {
    /// User id.
    pub id: i64,
    /// Display name.
    pub name: String,
}

/// The visitor's conversation as its widget needs it after a reload.
#[derive(Debug, Serialize, ToSchema)]
pub struct WidgetConversation {
    /// The conversation.
    pub conversation_id: i64,
    /// The visitor.
    pub visitor_id: i64,
    /// `bot`, `queued`, `assigned` or `closed`.
    pub state: ConversationState,
    /// Why it was closed, while closed.
    pub closed_reason: Option<String>,
    /// Started by leaving a message.
    pub offline: bool,
    /// Highest committed seq.
    pub last_seq: i64,
    /// The visitor's own read mark.
    pub customer_read_seq: i64,
    /// The staff side's read mark: the visitor's messages up to here were read.
    pub agent_read_seq: i64,
    /// Staff, bot and system messages the visitor has not marked read.
    pub unread: i32,
    /// The agent holding it (also after the close), if any.
    pub agent: Option<AgentBrief>,
    /// The visitor's rating, once given.
    pub csat: Option<CsatView>,
    /// When it began.
    pub created_at: DateTime<Utc>,
}

/// The caller's conversation: state, read marks, agent and rating. History
/// comes over the socket (`resume`).
#[utoipa::path(get, path = "/api/v1/widget/conversation", tag = "widget",
    security(("visitor" = [])),
    responses((status = 200, body = WidgetConversation), (status = 401, body = Problem),
        (status = 404, body = Problem)))]
#[get("/widget/conversation")]
pub async fn get_widget_conversation(
    state: web::Data<AppState>,
    visitor: Visitor,
) -> Result<HttpResponse, ApiError> {
    let c = visitor.conversation;
    let agent = match c.assignee_id {
        Some(a) => store::users::find(&state.db, UserId(a))
            .await?
            .map(|u| AgentBrief {
                id: u.id,
                name: u.name,
            }),
        None => None,
    };
    let csat = store::csat::find(&state.db, ConversationId(c.id))
        .await?
        .as_ref()
        .map(store::csat::view);
    Ok(HttpResponse::Ok().json(WidgetConversation {
        conversation_id: c.id,
        visitor_id: visitor.id.0,
        state: store::conversations::state_of(&c)?,
        closed_reason: c.closed_reason,
        offline: c.offline,
        last_seq: c.last_seq,
        customer_read_seq: c.customer_last_read_seq,
        agent_read_seq: c.agent_last_read_seq,
        unread: c.customer_unread,
        agent,
        csat,
        created_at: c.created_at,
    }))
}
