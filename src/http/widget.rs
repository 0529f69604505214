//! The widget's REST entry: a visitor fills the pre-chat form and gets a
//! conversation and the token its socket uses.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, post, web};
use sea_orm::TransactionTrait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::errors::{Checks, Problem};
use super::{ApiError, AppState};
use crate::actors::team_queue::Enqueue;
use crate::domain::conversation::ConversationState;
use crate::domain::protocol::ConversationView;
use crate::domain::routing::{Facts, QueuedConversation, first_match};
use crate::domain::team::team_for_issue;
use crate::domain::{ConversationId, DisplayName, Email, SkillName, TeamId, VisitorId};
use crate::store;

/// Most custom pre-chat fields.
const MAX_CUSTOM_FIELDS: usize = 20;
/// Longest custom field value.
const MAX_FIELD_CHARS: usize = 1000;

/// Mounts the routes of this file.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(create_session);
}

/// The pre-chat form.
#[derive(Debug, Deserialize, ToSchema)]
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
    if let Some(addr) = req.peer_addr() {
        state
            .login_limiter
            .check_widget(addr.ip())
            .map_err(ApiError::RateLimited)?;
    }
    let body = body.into_inner();
    let mut checks = Checks::default();
    let name = match &body.name {
        Some(n) if !n.trim().is_empty() => checks
            .check("name", DisplayName::parse(n))
            .map(|n| n.as_str().to_owned()),
        _ => None,
    };
    let email = match &body.email {
        Some(e) if !e.trim().is_empty() => checks
            .check("email", Email::parse(e))
            .map(|e| e.to_string()),
        _ => None,
    };
    let issue_type = short_text(&mut checks, "issue_type", &body.issue_type, 64);
    let language = short_text(&mut checks, "language", &body.language, 16);
    if language
        .as_deref()
        .is_some_and(|l| !l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
    {
        checks.fail("language", "must be a language tag such as es or pt-BR");
    }
    let custom = body.custom_fields.unwrap_or_default();
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
    checks.finish()?;

    // The first matching routing rule decides team, skills and priority;
    // without one, the team named like the issue type (or the default).
    let rules = store::routing_rules::active(&state.db).await?;
    let custom_json = serde_json::to_value(&custom).unwrap_or_default();
    let facts = Facts {
        issue_type: issue_type.as_deref(),
        language: language.as_deref(),
        channel: "widget",
        custom_fields: custom_json.as_object(),
    };
    let decision = first_match(&rules, &facts).map(|r| r.decision.clone());
    let teams: Vec<(TeamId, String)> = store::teams::list(&state.db, None, 1000)
        .await?
        .into_iter()
        .map(|t| (TeamId(t.id), t.name))
        .collect();
    let team = decision.as_ref().and_then(|d| d.team).or_else(|| {
        team_for_issue(
            issue_type.as_deref(),
            &state.settings.realtime.default_team,
            &teams,
        )
    });
    let required = decision
        .as_ref()
        .map(|d| d.required_skills.clone())
        .unwrap_or_default();
    let priority = decision.as_ref().map_or(0, |d| d.priority);
    let user_agent = req
        .headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(500).collect());
    let txn = state.db.begin().await?;
    let (visitor, conversation) = store::conversations::create_with_visitor(
        &txn,
        store::conversations::NewConversation {
            name,
            email,
            user_agent,
            issue_type,
            language,
            attributes: custom_json,
            team,
            state: ConversationState::Queued,
            priority,
        },
    )
    .await?;
    let names: Vec<SkillName> = required
        .keys()
        .filter_map(|n| SkillName::parse(n).ok())
        .collect();
    let ids = store::skills::ensure(&txn, &names).await?;
    let levels: Vec<(i64, u8)> = ids
        .iter()
        .map(|(n, id)| (id.0, required.get(n.as_str()).copied().unwrap_or(1)))
        .collect();
    store::conversations::set_required_skills(&txn, ConversationId(conversation.id), &levels)
        .await?;
    let view = store::conversations::view(&txn, conversation.clone()).await?;
    txn.commit().await?;
    if let Some(team) = team {
        let queue = state.bus.team(team).await?;
        queue.tell(Enqueue {
            conversation: QueuedConversation {
                id: ConversationId(conversation.id),
                priority: conversation.priority,
                waiting_since: conversation
                    .waiting_since
                    .unwrap_or(conversation.created_at),
                required,
            },
        });
    }
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
