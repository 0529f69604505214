//! The widget's REST entries (no authentication): `init` (branding and
//! whether anyone is there), `sessions` (the pre-chat form starts a live
//! conversation) and `offline-messages` (leave a message when nobody is).

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::errors::{Checks, Problem};
use super::widget_settings::WidgetSettingsView;
use super::{ApiError, AppState};
use crate::actors::Deliver;
use crate::actors::conversation::Created;
use crate::actors::team_queue::{Enqueue, Reservation, Reserve, Settle, Settled};
use crate::bus::TeamRef;
use crate::domain::conversation::ConversationState;
use crate::domain::protocol::{ConversationView, MAX_TEXT_CHARS, PartyKind, Sender, ServerFrame};
use crate::domain::routing::{Facts, Otherwise, QueuedConversation, Route, has_room};
use crate::domain::{AgentStatus, ConversationId, DisplayName, Email, TeamId, UserId, VisitorId};
use crate::store;

/// Most custom pre-chat fields.
const MAX_CUSTOM_FIELDS: usize = 20;
/// Longest custom field value.
const MAX_FIELD_CHARS: usize = 1000;
/// Rough handling time per waiting conversation, for the expected wait.
const EXPECTED_HANDLE_S: i64 = 120;
/// Longest stored `User-Agent` (the agent's visitor panel parses it).
const MAX_USER_AGENT_CHARS: usize = 512;
/// Longest `page_url`.
const MAX_PAGE_URL_CHARS: usize = 1000;

/// Mounts the routes of this file.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(init)
        .service(create_session)
        .service(leave_message);
}

/// The pre-chat form.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWidgetSession {
    /// The visitor's name.
    pub name: Option<String>,
    /// The visitor's e-mail.
    pub email: Option<String>,
    /// What it is about; picks the team.
    pub issue_type: Option<String>,
    /// Preferred language, e.g. `es` or `pt-BR`.
    pub language: Option<String>,
    /// Site-defined fields: up to 20, values up to 1000 characters.
    #[schema(value_type = Option<Object>)]
    pub custom_fields: Option<BTreeMap<String, Value>>,
    /// The page the visitor started from: http(s), at most 1000 characters.
    pub page_url: Option<String>,
}

/// Body of `POST /widget/init`: what the page knows before the form.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InitRequest {
    /// If the page already knows it (picks the team).
    pub issue_type: Option<String>,
    /// The visitor's language.
    pub language: Option<String>,
    /// Site-defined fields.
    #[schema(value_type = Option<Object>)]
    pub custom_fields: Option<BTreeMap<String, Value>>,
}

/// Body of `POST /widget/offline-messages`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfflineMessage {
    /// The visitor's name.
    pub name: Option<String>,
    /// Where the answer goes (required).
    pub email: String,
    /// The message, 1–4000 characters.
    pub text: String,
    /// What it is about.
    pub issue_type: Option<String>,
    /// Preferred language.
    pub language: Option<String>,
    /// Site-defined fields.
    #[schema(value_type = Option<Object>)]
    pub custom_fields: Option<BTreeMap<String, Value>>,
    /// The page the visitor wrote from: http(s), at most 1000 characters.
    pub page_url: Option<String>,
}

/// The new conversation and the visitor's token.
#[derive(Debug, Serialize, ToSchema)]
pub struct WidgetSession {
    /// For `/ws/v1/customer?token=…`; keep it to come back later.
    pub visitor_token: String,
    /// The visitor.
    pub visitor_id: i64,
    /// The conversation.
    pub conversation_id: i64,
    /// The conversation as created.
    pub conversation: ConversationView,
}

/// The answer to a left message.
#[derive(Debug, Serialize, ToSchema)]
pub struct OfflineReceipt {
    /// For checking back later over the socket.
    pub visitor_token: String,
    /// The conversation holding the message.
    pub conversation_id: i64,
    /// What to show the visitor.
    pub confirmation: String,
}

/// Whether someone can answer now.
#[derive(Debug, Serialize, ToSchema)]
pub struct Availability {
    /// The team a conversation would join.
    pub team_id: Option<i64>,
    /// Inside the team's business hours (no hours set: always).
    pub open: bool,
    /// Team agents online now.
    pub agents_online: i64,
    /// `open` and someone online: offer live chat, else "leave a message".
    pub available: bool,
    /// When the team opens next, if closed now.
    pub next_open: Option<DateTime<Utc>>,
}

/// Answer of `POST /widget/init`.
#[derive(Debug, Serialize, ToSchema)]
pub struct InitResponse {
    /// Branding and texts.
    pub settings: WidgetSettingsView,
    /// Whether to offer live chat or "leave a message".
    pub availability: Availability,
    /// Rough expected wait in seconds when available (0: someone is free now).
    pub expected_wait_s: Option<i64>,
}

/// The validated pre-chat facts.
struct PreChat {
    name: Option<String>,
    email: Option<String>,
    issue_type: Option<String>,
    language: Option<String>,
    custom: Value,
    page_url: Option<String>,
}

/// A page address worth showing an agent: `http(s)://host…`, at most 1000
/// characters, no spaces, control characters or markup; blank is none.
fn page_url(checks: &mut Checks, raw: &Option<String>) -> Option<String> {
    let v = raw.as_deref().map(str::trim).filter(|s| !s.is_empty())?;
    let lower = v.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"));
    let host_ok = rest.is_some_and(|r| {
        r.split(['/', '?', '#'])
            .next()
            .is_some_and(|h| !h.is_empty() && !h.starts_with(':') && !h.starts_with('@'))
    });
    let chars_ok = !v
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"' | '\\'));
    if !host_ok || !chars_ok || v.chars().count() > MAX_PAGE_URL_CHARS {
        checks.fail(
            "page_url",
            format!("must be an http(s) URL of at most {MAX_PAGE_URL_CHARS} characters"),
        );
        return None;
    }
    Some(v.to_owned())
}

fn short_text(
    checks: &mut Checks,
    field: &str,
    raw: &Option<String>,
    max: usize,
) -> Option<String> {
    let v = raw.as_deref().map(str::trim).filter(|s| !s.is_empty())?;
    if v.chars().count() > max || v.chars().any(char::is_control) {
        checks.fail(field, format!("must be at most {max} printable characters"));
        return None;
    }
    Some(v.to_owned())
}

/// Validates the pre-chat fields into `checks`.
fn pre_chat(
    checks: &mut Checks,
    name: &Option<String>,
    email: &Option<String>,
    issue_type: &Option<String>,
    language: &Option<String>,
    custom: Option<BTreeMap<String, Value>>,
) -> PreChat {
    let name = match name {
        Some(n) if !n.trim().is_empty() => checks
            .check("name", DisplayName::parse(n))
            .map(|n| n.as_str().to_owned()),
        _ => None,
    };
    let email = match email {
        Some(e) if !e.trim().is_empty() => checks
            .check("email", Email::parse(e))
            .map(|e| e.to_string()),
        _ => None,
    };
    let issue_type = short_text(checks, "issue_type", issue_type, 64);
    let language = short_text(checks, "language", language, 16);
    if language
        .as_deref()
        .is_some_and(|l| !l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
    {
        checks.fail("language", "must be a language tag such as es or pt-BR");
    }
    let custom = custom.unwrap_or_default();
    if custom.len() > MAX_CUSTOM_FIELDS {
        checks.fail(
            "custom_fields",
            format!("at most {MAX_CUSTOM_FIELDS} fields"),
        );
    }
    for (k, v) in &custom {
        let ok_key = !k.is_empty() && k.chars().count() <= 64;
        let ok_value = match v {
            Value::String(s) => s.chars().count() <= MAX_FIELD_CHARS,
            Value::Number(_) | Value::Bool(_) | Value::Null => true,
            _ => false,
        };
        if !ok_key || !ok_value {
            checks.fail(
                &format!("custom_fields.{k}"),
                "keys up to 64 characters; values text (up to 1000), number or boolean",
            );
        }
    }
    PreChat {
        name,
        email,
        issue_type,
        language,
        custom: serde_json::to_value(custom).unwrap_or_default(),
        page_url: None,
    }
}

/// The first matching routing rule decides team, skills and priority;
/// without one, the team named like the issue type (or the default).
async fn route(state: &AppState, facts: &PreChat) -> Result<Route, ApiError> {
    Ok(store::routing_rules::route(
        &state.db,
        &Facts {
            issue_type: facts.issue_type.as_deref(),
            language: facts.language.as_deref(),
            channel: "widget",
            custom_fields: facts.custom.as_object(),
        },
        Otherwise::NewConversation {
            default_team: &state.settings.realtime.default_team,
        },
    )
    .await?)
}

fn limit(state: &AppState, req: &HttpRequest) -> Result<(), ApiError> {
    if let Some(addr) = req.peer_addr() {
        state
            .login_limiter
            .check_widget(addr.ip())
            .map_err(ApiError::RateLimited)?;
    }
    Ok(())
}

/// Creates visitor and conversation (and, for an offline message, its
/// first message) in one transaction, then tells the team's queue. A live
/// chat whose team's queue has a free agent for it now is written already
/// assigned to that agent (reserved first, [`Reserve`]): one commit on the
/// way from the customer's arrival to an agent instead of two.
async fn start(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    facts: PreChat,
    first_message: Option<String>,
) -> Result<Started, ApiError> {
    let routed = route(state, &facts).await?;
    let user_agent = req
        .headers()
        .get(actix_web::http::header::USER_AGENT)
        // Lossy, not `to_str`: some browsers and bots send non-ASCII bytes.
        .map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .chars()
                .take(MAX_USER_AGENT_CHARS)
                .collect()
        });
    let visitor_name = facts.name.clone();
    // A live chat in a team with a triage flow talks to the bot first; a
    // left message goes straight to the queue.
    let triage = match routed.team {
        Some(team) if first_message.is_none() => {
            store::triage::active(&state.db, team).await?.is_some()
        }
        _ => false,
    };
    let reserved = match routed.team {
        Some(team) if !triage && first_message.is_none() => reserve(state, team, &routed).await,
        _ => None,
    };
    let new = store::conversations::NewConversation {
        name: facts.name,
        email: facts.email,
        user_agent,
        page_url: facts.page_url,
        issue_type: facts.issue_type,
        language: facts.language,
        attributes: facts.custom,
        team: routed.team,
        state: if triage {
            ConversationState::Bot
        } else {
            ConversationState::Queued
        },
        priority: routed.priority,
        offline: first_message.is_some(),
        assign_to: reserved.as_ref().map(|(_, r)| r.agent),
    };
    // The rest runs to its end even if the request is dropped (the client
    // went away): a committed conversation gets its actor and its queue
    // hears of it, and a reservation is always settled.
    let state = state.clone();
    actix_rt::spawn(async move {
        let created = create(&state, new, &routed, triage, visitor_name, first_message).await;
        let (visitor, conversation) = match created {
            Ok(rows) => rows,
            Err(e) => {
                if let Some((queue, reservation)) = reserved {
                    queue.tell(Settle {
                        reservation,
                        outcome: Settled::Abandoned,
                    });
                }
                return Err(e);
            }
        };
        let view = announce(&state, &visitor, &conversation, &routed, triage, reserved).await?;
        Ok((visitor, conversation, view))
    })
    .await
    .map_err(|e| ApiError::Internal(format!("the conversation's start stopped: {e}")))?
}

/// What [`start`] made: the visitor, the conversation and its view.
type Started = (
    entity::visitors::Model,
    entity::conversations::Model,
    ConversationView,
);

/// Asks `team`'s queue for an agent for a conversation about to be created
/// there, on one node (in a cluster a new conversation's actor starts from
/// the store, which does not announce an assignment made at creation).
/// `None` when nobody is free for it, or the queue could not be asked: it
/// then waits in the queue as usual.
async fn reserve(state: &AppState, team: TeamId, routed: &Route) -> Option<(TeamRef, Reservation)> {
    if state.bus.clustered() {
        return None;
    }
    let queue = state.bus.team(team).await.ok()?;
    let asked = queue.ask(Reserve {
        priority: routed.priority,
        required: routed.required.clone(),
    });
    match asked.await {
        Ok(reservation) => reservation.map(|r| (queue, r)),
        Err(e) => {
            tracing::warn!(team_id = %team, error = %e, "could not ask the queue for an agent; the conversation waits");
            None
        }
    }
}

/// Writes visitor and conversation: through the group commit in the common
/// case, else through the pool.
async fn create(
    state: &AppState,
    new: store::conversations::NewConversation,
    routed: &Route,
    triage: bool,
    visitor_name: Option<String>,
    first_message: Option<String>,
) -> Result<(entity::visitors::Model, entity::conversations::Model), ApiError> {
    match first_message {
        // The common case, a live chat into a queue without skills to
        // record, joins the group commit: on SQLite one hand-over to the
        // writer thread instead of four statements through the pool, on
        // the way from the customer's arrival to an agent.
        None if !triage && routed.required.is_empty() => Ok(state.committer.create(new).await?),
        first_message => create_through_pool(state, new, routed, visitor_name, first_message).await,
    }
}

/// Starts the actor of a committed conversation and tells its team's queue
/// (settling the reservation made for it); returns its view.
async fn announce(
    state: &AppState,
    visitor: &entity::visitors::Model,
    conversation: &entity::conversations::Model,
    routed: &Route,
    triage: bool,
    reserved: Option<(TeamRef, Reservation)>,
) -> Result<ConversationView, ApiError> {
    let id = ConversationId(conversation.id);
    // The view needs no reads: nothing has tagged or rated it yet. (Each
    // read is a round trip on the path from a customer's arrival to an
    // agent.) Its failure is only reported at the end: the committed
    // conversation still gets its actor and its queue (and a reservation
    // made for it is settled).
    let view = store::conversations::new_view(conversation.clone(), visitor);
    // Open conversations keep a live actor (idle and SLA timers run in
    // it, as for those the Router activates at start). With triage, that
    // also starts the bot: its welcome is written before the customer
    // even connects, and it hands over to the queue when it is done.
    if triage {
        state.bus.conversation(id).await?;
        return Ok(view?);
    }
    // An assignment made at creation reaches the agent first of all: the
    // actor's start (which announces the rest of it) is two thread hops
    // further.
    let assignee = conversation
        .assignee_id
        .filter(|_| conversation.state == ConversationState::Assigned.as_str());
    let agent_told = match (&view, assignee) {
        (Ok(view), Some(agent)) => {
            state.bus.to_agent(
                UserId(agent),
                Deliver::frame(&ServerFrame::ConversationAssigned {
                    conversation: view.clone(),
                }),
            );
            true
        }
        _ => false,
    };
    // Its actor starts from what was just written, not a read back, and
    // (on one node) without waiting for the start: both are on the way
    // from the customer to an agent.
    let started = state
        .bus
        .start_created(Created {
            row: conversation.clone(),
            required: routed.required.clone(),
            visitor: visitor.clone(),
            agent_told,
        })
        .await;
    let queued = QueuedConversation {
        id,
        priority: conversation.priority,
        waiting_since: conversation
            .waiting_since
            .unwrap_or(conversation.created_at),
        required: routed.required.clone(),
    };
    match reserved {
        Some((queue, reservation)) => queue.tell(Settle {
            reservation,
            outcome: if assignee.is_some() {
                Settled::Assigned(id)
            } else {
                Settled::Queued(queued)
            },
        }),
        None => {
            if let Some(team) = routed.team {
                state.bus.team(team).await?.tell(Enqueue {
                    conversation: queued,
                });
            }
        }
    }
    started?;
    Ok(view?)
}

/// Creates visitor and conversation with what the group commit does not
/// write (required skills, an offline message's first message, or a start
/// with the triage bot), in one transaction through the pool.
async fn create_through_pool(
    state: &AppState,
    new: store::conversations::NewConversation,
    routed: &Route,
    visitor_name: Option<String>,
    first_message: Option<String>,
) -> Result<(entity::visitors::Model, entity::conversations::Model), ApiError> {
    let txn = store::begin(&state.db).await?;
    let (visitor, conversation) = store::conversations::create_with_visitor(&txn, &new).await?;
    let id = ConversationId(conversation.id);
    // A new conversation has no skills to replace: only write some.
    if !routed.required.is_empty() {
        store::conversations::require_skills(&txn, id, &routed.required).await?;
    }
    let with_message = first_message.is_some();
    if let Some(text) = first_message {
        // A brand-new conversation has no actor yet, so writing its first
        // message here cannot race the single writer; the actor loads it.
        store::messages::append(
            &txn,
            id,
            store::conversations::Fence::default(),
            &[store::messages::NewMessage {
                seq: 1,
                client_msg_id: None,
                sender: Sender {
                    kind: PartyKind::Customer,
                    id: Some(visitor.id),
                    name: visitor_name,
                },
                text,
            }],
        )
        .await?;
    }
    // Only the message changed the row since its insert returned it.
    let conversation = if with_message {
        store::conversations::find(&txn, id)
            .await?
            .ok_or_else(|| ApiError::Internal("new conversation vanished".into()))?
    } else {
        conversation
    };
    txn.commit().await?;
    Ok((visitor, conversation))
}

/// Branding, and whether live chat or "leave a message" should be offered.
#[utoipa::path(post, path = "/api/v1/widget/init", tag = "widget", request_body = InitRequest,
    responses((status = 200, body = InitResponse), (status = 422, body = Problem)))]
#[post("/widget/init")]
pub async fn init(
    state: web::Data<AppState>,
    body: web::Json<InitRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let mut checks = Checks::default();
    let facts = pre_chat(
        &mut checks,
        &None,
        &None,
        &body.issue_type,
        &body.language,
        body.custom_fields,
    );
    checks.finish()?;
    let routed = route(&state, &facts).await?;
    let now = Utc::now();
    let (mut open, mut next_open, mut online, mut free, mut waiting) =
        (true, None, 0i64, false, 0i64);
    if let Some(team) = routed.team {
        if let Some(row) = store::business_hours::find(&state.db, team).await? {
            let hours = store::business_hours::parse(&row)?;
            open = hours.is_open(now);
            if !open {
                next_open = hours.next_open(now);
            }
        }
        let online_members: Vec<_> = store::users::active_members(&state.db, team, None)
            .await?
            .into_iter()
            .filter(|u| u.status == AgentStatus::Online.as_str())
            .collect();
        let ids: Vec<UserId> = online_members.iter().map(|u| UserId(u.id)).collect();
        let loads = store::conversations::loads_of(&state.db, &ids).await?;
        online = i64::try_from(online_members.len()).unwrap_or(i64::MAX);
        free = online_members.iter().any(|u| {
            let load = loads.get(&UserId(u.id)).copied().unwrap_or(0);
            // These members are the online ones.
            has_room(
                AgentStatus::Online,
                u64::try_from(load).unwrap_or(u64::MAX),
                u64::try_from(u.capacity).unwrap_or(0),
            )
        });
        waiting = i64::try_from(store::conversations::count_queued_in_team(&state.db, team).await?)
            .unwrap_or(i64::MAX);
    }
    let available = open && online > 0;
    let expected_wait_s = available.then(|| {
        if free && waiting == 0 {
            0
        } else {
            (waiting + 1) * EXPECTED_HANDLE_S / online.max(1)
        }
    });
    let settings = WidgetSettingsView::from(store::widget_settings::get(&state.db).await?);
    Ok(HttpResponse::Ok().json(InitResponse {
        settings,
        availability: Availability {
            team_id: routed.team.map(|t| t.0),
            open,
            agents_online: online,
            available,
            next_open,
        },
        expected_wait_s,
    }))
}

/// Start a conversation from the widget's pre-chat form.
#[utoipa::path(post, path = "/api/v1/widget/sessions", tag = "widget",
    request_body = CreateWidgetSession,
    responses((status = 201, body = WidgetSession), (status = 422, body = Problem),
        (status = 429, body = Problem)))]
#[post("/widget/sessions")]
pub async fn create_session(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<CreateWidgetSession>,
) -> Result<HttpResponse, ApiError> {
    limit(&state, &req)?;
    let body = body.into_inner();
    let mut checks = Checks::default();
    let mut facts = pre_chat(
        &mut checks,
        &body.name,
        &body.email,
        &body.issue_type,
        &body.language,
        body.custom_fields,
    );
    facts.page_url = page_url(&mut checks, &body.page_url);
    checks.finish()?;
    let (visitor, conversation, view) = start(&state, &req, facts, None).await?;
    let token = state
        .keys
        .issue_visitor(VisitorId(visitor.id), ConversationId(conversation.id))?;
    tracing::info!(
        conversation_id = conversation.id,
        visitor_id = visitor.id,
        "widget conversation started"
    );
    Ok(HttpResponse::Created().json(WidgetSession {
        visitor_token: token,
        visitor_id: visitor.id,
        conversation_id: conversation.id,
        conversation: view,
    }))
}

/// Leave a message when nobody is available: it becomes a queued
/// conversation marked offline, answered later.
#[utoipa::path(post, path = "/api/v1/widget/offline-messages", tag = "widget",
    request_body = OfflineMessage,
    responses((status = 201, body = OfflineReceipt), (status = 422, body = Problem),
        (status = 429, body = Problem)))]
#[post("/widget/offline-messages")]
pub async fn leave_message(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<OfflineMessage>,
) -> Result<HttpResponse, ApiError> {
    limit(&state, &req)?;
    let body = body.into_inner();
    let mut checks = Checks::default();
    if body.email.trim().is_empty() {
        checks.fail("email", "is required, so we can answer");
    }
    let text = body.text.trim().to_owned();
    if text.is_empty() || text.chars().count() > MAX_TEXT_CHARS {
        checks.fail("text", format!("must be 1 to {MAX_TEXT_CHARS} characters"));
    }
    let mut facts = pre_chat(
        &mut checks,
        &body.name,
        &Some(body.email),
        &body.issue_type,
        &body.language,
        body.custom_fields,
    );
    facts.page_url = page_url(&mut checks, &body.page_url);
    checks.finish()?;
    let (visitor, conversation, _) = start(&state, &req, facts, Some(text)).await?;
    let token = state
        .keys
        .issue_visitor(VisitorId(visitor.id), ConversationId(conversation.id))?;
    tracing::info!(conversation_id = conversation.id, "offline message left");
    Ok(HttpResponse::Created().json(OfflineReceipt {
        visitor_token: token,
        conversation_id: conversation.id,
        confirmation: format!(
            "Thanks! We got your message and will reply to {} as soon as we can.",
            visitor.email.unwrap_or_default()
        ),
    }))
}
