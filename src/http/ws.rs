//! WebSocket upgrades: authenticate first (a refused upgrade is a plain 401
//! problem), then hand the socket to its session actor.

use actix::{Actor, AsyncContext};
use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::Deserialize;

use super::extract::Staff;
use super::users::UserView;
use super::{ApiError, AppState};
use crate::actors::Party;
use crate::actors::agent_session::AgentSession;
use crate::actors::customer_session::CustomerSession;
use crate::domain::access::StaffScope;
use crate::store;

/// Query of the customer socket.
#[derive(Debug, Deserialize)]
pub struct CustomerQuery {
    /// The visitor token from `POST /api/v1/widget/sessions`.
    pub token: Option<String>,
}

/// The staff socket: `?access_token=JWT` or `Authorization: Bearer JWT`.
#[get("/ws/v1/agent")]
pub async fn agent_socket(
    state: web::Data<AppState>,
    staff: Staff,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let record = store::users::record(&state.db, staff.id).await?;
    let teams = record.teams.iter().map(|(id, _)| *id).collect();
    let me = serde_json::to_value(UserView::from_record(record)?)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let (response, session, stream) =
        actix_ws::handle(&req, body).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let stream = stream.max_frame_size(state.settings.realtime.max_frame_bytes);
    let settings = state.settings.realtime.clone();
    let scope = StaffScope {
        user: staff.id,
        role: staff.role,
        teams,
    };
    let (bus, db, node) = (state.bus.clone(), state.db.clone(), state.node_id.clone());
    let name = staff.user.name.clone();
    let family = staff.session.clone();
    AgentSession::create(move |ctx| {
        ctx.add_stream(stream);
        AgentSession::new(
            session,
            &settings,
            node,
            bus,
            db,
            scope,
            name,
            me,
            family,
            ctx.address(),
        )
    });
    Ok(response)
}

/// The customer socket: `?token=VISITOR_TOKEN`.
#[get("/ws/v1/customer")]
pub async fn customer_socket(
    state: web::Data<AppState>,
    query: web::Query<CustomerQuery>,
    req: HttpRequest,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let token = query
        .token
        .as_deref()
        .ok_or_else(|| ApiError::Unauthorized("missing visitor token".into()))?;
    let claims = state.keys.verify_visitor(token)?;
    let visitor_id = claims.visitor_id()?;
    let visitor = store::conversations::visitor(&state.db, visitor_id)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("unknown visitor".into()))?;
    let (response, session, stream) =
        actix_ws::handle(&req, body).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let stream = stream.max_frame_size(state.settings.realtime.max_frame_bytes);
    let settings = state.settings.realtime.clone();
    let party = Party::Customer {
        visitor: visitor_id,
        conversation: claims.conversation_id(),
        name: visitor.name,
    };
    let (bus, node) = (state.bus.clone(), state.node_id.clone());
    let conversation = claims.conversation_id();
    CustomerSession::create(move |ctx| {
        ctx.add_stream(stream);
        CustomerSession::new(
            session,
            &settings,
            node,
            bus,
            party,
            conversation,
            ctx.address(),
        )
    });
    Ok(response)
}
