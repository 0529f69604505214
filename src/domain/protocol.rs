//! Protocol v1 on the wire (see `docs/protocol.md`): the frames a client may
//! send, parsed and validated in one place, and the frames the server sends.
//! Parsing is pure so it can be tested without sockets.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::conversation::ConversationState;
use super::nul;
use super::{AgentStatus, ConversationId, ErrorCode, TeamId, UserId};

mod message_json;
pub use message_json::MessageJson;

/// Longest message text, in characters.
pub const MAX_TEXT_CHARS: usize = 4000;
/// Longest `client_msg_id`.
pub const MAX_CLIENT_MSG_ID: usize = 64;
/// Longest `ref` echoed back.
pub const MAX_REF: usize = 128;
/// Longest close reason.
pub const MAX_REASON: usize = 200;

/// Why a close reason is refused, if it is: longer than [`MAX_REASON`],
/// blank, or holding a control character. A line break in a reason would
/// let whoever closes write lines that read as messages in the
/// conversation's transcript.
pub fn reason_problem(reason: &str) -> Option<&'static str> {
    if reason.chars().count() > MAX_REASON {
        Some("reason must be at most 200 characters")
    } else if reason.trim().is_empty() {
        Some("reason must not be blank")
    } else if reason.chars().any(char::is_control) {
        Some("reason must not hold control characters (line breaks included)")
    } else {
        None
    }
}
/// Longest transfer note.
pub const MAX_NOTE_CHARS: usize = 2000;

/// One parsed client frame: the optional `ref` and what it asks.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientFrame {
    /// Echoed in the direct answer.
    pub reference: Option<String>,
    /// The request.
    pub event: ClientEvent,
}

/// Everything a client may ask. `conversation_id` is optional where a
/// customer's socket already names its conversation.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// Post a message.
    MessageSend {
        /// Target (agents must give it).
        conversation_id: Option<ConversationId>,
        /// The client's idempotency key.
        client_msg_id: String,
        /// 1–4000 characters, stored as sent.
        text: String,
    },
    /// Typing started or stopped.
    Typing {
        /// Target.
        conversation_id: Option<ConversationId>,
        /// Started (`true`) or stopped.
        is_typing: bool,
    },
    /// Everything up to `up_to_seq` has been read.
    Read {
        /// Target.
        conversation_id: Option<ConversationId>,
        /// Highest seq read.
        up_to_seq: i64,
    },
    /// Send what came after `after_seq`, and keep sending (subscribe).
    Resume {
        /// Target.
        conversation_id: Option<ConversationId>,
        /// Last seq the client has; 0 for everything.
        after_seq: i64,
    },
    /// Take a queued conversation.
    Accept {
        /// Target.
        conversation_id: ConversationId,
    },
    /// Give a conversation to an agent (supervisors, admins).
    Assign {
        /// Target.
        conversation_id: ConversationId,
        /// The agent.
        agent_id: UserId,
    },
    /// Hand a conversation to another agent or team, with a note.
    Transfer {
        /// Target.
        conversation_id: ConversationId,
        /// Either an agent…
        agent_id: Option<UserId>,
        /// …or a team.
        team_id: Option<TeamId>,
        /// Shown to the receiving side only.
        note: Option<String>,
    },
    /// End a conversation.
    Close {
        /// Target.
        conversation_id: Option<ConversationId>,
        /// Why, e.g. `resolved`.
        reason: Option<String>,
    },
    /// Change presence.
    PresenceSet {
        /// The new status.
        status: AgentStatus,
    },
    /// Watch a team's queue.
    QueueWatch {
        /// The team.
        team_id: TeamId,
    },
    /// Keep-alive; answered with `pong`.
    Ping,
}

/// A frame that could not be accepted; becomes an `error` frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError {
    /// The `ref` of the bad frame, when it could be read.
    pub reference: Option<String>,
    /// What kind of problem.
    pub code: ErrorCode,
    /// For a person.
    pub message: String,
}

impl FrameError {
    fn bad(reference: &Option<String>, message: impl Into<String>) -> Self {
        FrameError {
            reference: reference.clone(),
            code: ErrorCode::BadRequest,
            message: message.into(),
        }
    }
}

/// The wire shape of client frames, `ref` removed.
#[derive(Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
enum Wire {
    #[serde(rename = "message.send")]
    MessageSend {
        conversation_id: Option<i64>,
        client_msg_id: String,
        text: String,
    },
    #[serde(rename = "typing")]
    Typing {
        conversation_id: Option<i64>,
        is_typing: bool,
    },
    #[serde(rename = "read")]
    Read {
        conversation_id: Option<i64>,
        up_to_seq: i64,
    },
    #[serde(rename = "resume")]
    Resume {
        conversation_id: Option<i64>,
        after_seq: i64,
    },
    #[serde(rename = "conversation.accept")]
    Accept { conversation_id: i64 },
    #[serde(rename = "conversation.assign")]
    Assign { conversation_id: i64, agent_id: i64 },
    #[serde(rename = "conversation.transfer")]
    Transfer {
        conversation_id: i64,
        agent_id: Option<i64>,
        team_id: Option<i64>,
        note: Option<String>,
    },
    #[serde(rename = "conversation.close")]
    Close {
        conversation_id: Option<i64>,
        reason: Option<String>,
    },
    #[serde(rename = "presence.set")]
    PresenceSet { status: AgentStatus },
    #[serde(rename = "queue.watch")]
    QueueWatch { team_id: i64 },
    #[serde(rename = "ping")]
    Ping {},
}

/// Every client frame type, for the "unknown type" answer.
pub const CLIENT_TYPES: &[&str] = &[
    "message.send",
    "typing",
    "read",
    "resume",
    "conversation.accept",
    "conversation.assign",
    "conversation.transfer",
    "conversation.close",
    "presence.set",
    "queue.watch",
    "ping",
];

/// Parses and validates one text frame.
pub fn parse_client_frame(text: &str) -> Result<ClientFrame, FrameError> {
    match parse_plain_send(text) {
        Some(parsed) => parsed,
        None => parse_any_frame(text),
    }
}

/// A `message.send` frame as clients send it: each field once, in any
/// order, `type` without escapes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlainSend<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    #[serde(rename = "ref")]
    reference: Option<String>,
    conversation_id: Option<i64>,
    client_msg_id: String,
    text: String,
}

/// The path of nearly every frame, `message.send`, read straight into its
/// fields instead of through a `Value` and a tagged enum (each a copy of
/// every key and string). `None` — anything unusual, a NUL escape, a
/// duplicate key, an overlong `ref`, another type — leaves the frame to
/// [`parse_any_frame`], so both give the same answer for every input.
fn parse_plain_send(text: &str) -> Option<Result<ClientFrame, FrameError>> {
    if nul::may_hold_nul(text.as_bytes()) {
        return None;
    }
    let f: PlainSend<'_> = serde_json::from_str(text).ok()?;
    if f.kind != "message.send" || f.reference.as_deref().is_some_and(|r| !ref_fits(r)) {
        return None;
    }
    let wire = Wire::MessageSend {
        conversation_id: f.conversation_id,
        client_msg_id: f.client_msg_id,
        text: f.text,
    };
    Some(checked(f.reference, wire))
}

/// Whether a `ref` is short enough to be echoed back.
fn ref_fits(reference: &str) -> bool {
    reference.chars().count() <= MAX_REF
}

/// The frame `wire` asks for once validated, or why not; with its `ref`
/// either way.
fn checked(reference: Option<String>, wire: Wire) -> Result<ClientFrame, FrameError> {
    match validate(wire) {
        Ok(event) => Ok(ClientFrame { reference, event }),
        Err((code, message)) => Err(FrameError {
            reference,
            code,
            message,
        }),
    }
}

/// Parses any frame, each of its faults named.
fn parse_any_frame(text: &str) -> Result<ClientFrame, FrameError> {
    let none = None;
    let value: Value = serde_json::from_str(text)
        .map_err(|e| FrameError::bad(&none, format!("malformed JSON: {e}")))?;
    let Value::Object(mut map) = value else {
        return Err(FrameError::bad(&none, "a frame must be a JSON object"));
    };
    let reference = match map.remove("ref") {
        None | Some(Value::Null) => None,
        Some(Value::String(r)) if ref_fits(&r) => Some(r),
        Some(Value::String(_)) => {
            return Err(FrameError::bad(
                &none,
                format!("ref must be at most {MAX_REF} characters"),
            ));
        }
        Some(_) => return Err(FrameError::bad(&none, "ref must be a string")),
    };
    let kind = match map.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(_) => return Err(FrameError::bad(&reference, "type must be a string")),
        None => return Err(FrameError::bad(&reference, "missing field `type`")),
    };
    if !CLIENT_TYPES.contains(&kind.as_str()) {
        return Err(FrameError::bad(
            &reference,
            format!("unknown type `{kind}`"),
        ));
    }
    // Every string of every frame, not only a message's text: a close
    // reason or a transfer note reaches the database too (see `nul`).
    if nul::may_hold_nul(text.as_bytes()) && map.values().any(nul::holds_nul) {
        return Err(FrameError::bad(
            &reference,
            format!("{kind}: text must not contain NUL characters (\\u0000)"),
        ));
    }
    let wire: Wire = serde_json::from_value(Value::Object(map))
        .map_err(|e| FrameError::bad(&reference, format!("{kind}: {e}")))?;
    checked(reference, wire)
}

fn positive_id(field: &str, id: i64) -> Result<i64, (ErrorCode, String)> {
    if id > 0 {
        Ok(id)
    } else {
        Err((
            ErrorCode::BadRequest,
            format!("{field} must be a positive id"),
        ))
    }
}

fn opt_conv(id: Option<i64>) -> Result<Option<ConversationId>, (ErrorCode, String)> {
    id.map(|i| positive_id("conversation_id", i).map(ConversationId))
        .transpose()
}

fn validate(wire: Wire) -> Result<ClientEvent, (ErrorCode, String)> {
    let bad = |m: &str| (ErrorCode::BadRequest, m.to_owned());
    Ok(match wire {
        Wire::MessageSend {
            conversation_id,
            client_msg_id,
            text,
        } => {
            let n = client_msg_id.chars().count();
            if n == 0 || n > MAX_CLIENT_MSG_ID {
                return Err(bad("client_msg_id must be 1 to 64 characters"));
            }
            if text.trim().is_empty() {
                return Err(bad("text must not be empty"));
            }
            if text.chars().count() > MAX_TEXT_CHARS {
                return Err((
                    ErrorCode::TooLarge,
                    format!("text must be at most {MAX_TEXT_CHARS} characters"),
                ));
            }
            ClientEvent::MessageSend {
                conversation_id: opt_conv(conversation_id)?,
                client_msg_id,
                text,
            }
        }
        Wire::Typing {
            conversation_id,
            is_typing,
        } => ClientEvent::Typing {
            conversation_id: opt_conv(conversation_id)?,
            is_typing,
        },
        Wire::Read {
            conversation_id,
            up_to_seq,
        } => {
            if up_to_seq < 0 {
                return Err(bad("up_to_seq must not be negative"));
            }
            ClientEvent::Read {
                conversation_id: opt_conv(conversation_id)?,
                up_to_seq,
            }
        }
        Wire::Resume {
            conversation_id,
            after_seq,
        } => {
            if after_seq < 0 {
                return Err(bad("after_seq must not be negative"));
            }
            ClientEvent::Resume {
                conversation_id: opt_conv(conversation_id)?,
                after_seq,
            }
        }
        Wire::Accept { conversation_id } => ClientEvent::Accept {
            conversation_id: ConversationId(positive_id("conversation_id", conversation_id)?),
        },
        Wire::Assign {
            conversation_id,
            agent_id,
        } => ClientEvent::Assign {
            conversation_id: ConversationId(positive_id("conversation_id", conversation_id)?),
            agent_id: UserId(positive_id("agent_id", agent_id)?),
        },
        Wire::Transfer {
            conversation_id,
            agent_id,
            team_id,
            note,
        } => {
            if agent_id.is_some() == team_id.is_some() {
                return Err(bad("give exactly one of agent_id and team_id"));
            }
            if note
                .as_ref()
                .is_some_and(|n| n.chars().count() > MAX_NOTE_CHARS)
            {
                return Err((ErrorCode::TooLarge, "note is too long".to_owned()));
            }
            ClientEvent::Transfer {
                conversation_id: ConversationId(positive_id("conversation_id", conversation_id)?),
                agent_id: agent_id
                    .map(|a| positive_id("agent_id", a).map(UserId))
                    .transpose()?,
                team_id: team_id
                    .map(|t| positive_id("team_id", t).map(TeamId))
                    .transpose()?,
                note,
            }
        }
        Wire::Close {
            conversation_id,
            reason,
        } => {
            if let Some(problem) = reason.as_deref().and_then(reason_problem) {
                return Err(bad(problem));
            }
            ClientEvent::Close {
                conversation_id: opt_conv(conversation_id)?,
                reason,
            }
        }
        Wire::PresenceSet { status } => ClientEvent::PresenceSet { status },
        Wire::QueueWatch { team_id } => ClientEvent::QueueWatch {
            team_id: TeamId(positive_id("team_id", team_id)?),
        },
        Wire::Ping {} => ClientEvent::Ping,
    })
}

/// Who sent a message or did something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PartyKind {
    /// The visitor.
    Customer,
    /// A staff member.
    Agent,
    /// The triage bot.
    Bot,
    /// The system itself.
    System,
}

impl PartyKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            PartyKind::Customer => "customer",
            PartyKind::Agent => "agent",
            PartyKind::Bot => "bot",
            PartyKind::System => "system",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "customer" => Some(PartyKind::Customer),
            "agent" => Some(PartyKind::Agent),
            "bot" => Some(PartyKind::Bot),
            "system" => Some(PartyKind::System),
            _ => None,
        }
    }
}

/// The author of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Sender {
    /// Customer, agent, bot or system.
    pub kind: PartyKind,
    /// Visitor id or user id.
    pub id: Option<i64>,
    /// Display name at the time of sending.
    pub name: Option<String>,
}

/// A message as every client sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MessageView {
    /// Message id.
    pub id: i64,
    /// Its conversation.
    pub conversation_id: i64,
    /// 1, 2, 3, … within the conversation, no gaps.
    pub seq: i64,
    /// The sender's idempotency key.
    pub client_msg_id: Option<String>,
    /// Who sent it.
    pub sender: Sender,
    /// The text, exactly as sent (never HTML to the server).
    pub text: String,
    /// Reserved for files.
    #[schema(value_type = Vec<Object>)]
    pub attachments: Vec<Value>,
    /// When it was committed.
    pub created_at: DateTime<Utc>,
}

/// The visitor of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VisitorView {
    /// Visitor id.
    pub id: i64,
    /// From the pre-chat form.
    pub name: Option<String>,
    /// From the pre-chat form.
    pub email: Option<String>,
    /// The browser's `User-Agent` when the conversation began (≤ 512
    /// characters), for the agent's visitor panel.
    pub user_agent: Option<String>,
    /// The page the visitor started from, if the widget sent it.
    pub page_url: Option<String>,
}

/// The customer's rating of a closed conversation (given once).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CsatView {
    /// 1 (bad) to 5 (great).
    pub score: i32,
    /// What the customer wrote, if anything.
    pub comment: Option<String>,
    /// When it was given.
    pub created_at: DateTime<Utc>,
}

/// Unread messages per side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Unread {
    /// Messages from staff the customer has not read.
    pub customer: i32,
    /// Messages from the customer no agent has read.
    pub agent: i32,
}

/// A conversation as every client sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConversationView {
    /// Conversation id.
    pub id: i64,
    /// `bot`, `queued`, `assigned` or `closed`.
    pub state: ConversationState,
    /// Its team.
    pub team_id: Option<i64>,
    /// Its agent.
    pub assignee_id: Option<i64>,
    /// The customer.
    pub visitor: VisitorView,
    /// From the pre-chat form.
    pub issue_type: Option<String>,
    /// From the pre-chat form.
    pub language: Option<String>,
    /// Higher is served first.
    pub priority: i32,
    /// Labels.
    pub tags: Vec<String>,
    /// Pre-chat custom fields.
    #[schema(value_type = Object)]
    pub attributes: Value,
    /// Unread counts per side.
    pub unread: Unread,
    /// Highest seq so far.
    pub last_seq: i64,
    /// Why it was closed.
    pub closed_reason: Option<String>,
    /// Left as a message while nobody was available.
    pub offline: bool,
    /// The customer's rating, once given (only after the close).
    pub csat: Option<CsatView>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// An internal note: staff only, never sent to the customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NoteView {
    /// Note id.
    pub id: i64,
    /// Its conversation.
    pub conversation_id: i64,
    /// Who wrote it.
    pub author: Sender,
    /// The text as written.
    pub text: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// Who did something, in receipts and typing events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Actor {
    /// Customer or agent.
    pub kind: PartyKind,
    /// Visitor or user id.
    pub id: i64,
    /// Display name (typing only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A conversation waiting in a queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Waiting {
    /// The conversation.
    pub conversation_id: i64,
    /// Since when.
    pub waiting_since: DateTime<Utc>,
    /// Higher first.
    pub priority: i32,
    /// Required skills.
    pub skills: Vec<String>,
    /// `warning` (about to miss an SLA target) or `breached`; absent when fine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sla: Option<String>,
}

/// An agent of a team, as supervisors see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentLoad {
    /// User id.
    pub id: i64,
    /// Display name.
    pub name: String,
    /// Presence.
    pub status: AgentStatus,
    /// Open conversations assigned now.
    pub load: i64,
    /// Most it takes at once.
    pub capacity: i32,
}

/// Everything the server sends.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum ServerFrame {
    /// First frame on every socket.
    #[serde(rename = "hello")]
    Hello {
        /// This socket's id.
        session_id: String,
        /// The node serving it.
        node_id: String,
        /// The server pings this often; be silent 3× as long and you are dropped.
        heartbeat_ms: u64,
        /// The user, or `{visitor_id, conversation_id}` for a customer.
        me: Value,
    },
    /// A committed message.
    #[serde(rename = "message.new")]
    MessageNew {
        /// The message.
        message: MessageView,
    },
    /// The sender's message is committed.
    #[serde(rename = "message.ack")]
    MessageAck {
        /// The `ref` of the send.
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        /// The client's id.
        client_msg_id: String,
        /// The stored message.
        message: MessageView,
    },
    /// Delivered or read up to a seq.
    #[serde(rename = "receipt")]
    Receipt {
        /// The conversation.
        conversation_id: i64,
        /// `delivered` or `read`.
        kind: ReceiptKind,
        /// Highest seq covered.
        up_to_seq: i64,
        /// Who received or read.
        by: Actor,
    },
    /// Someone is typing.
    #[serde(rename = "typing")]
    Typing {
        /// The conversation.
        conversation_id: i64,
        /// Who.
        by: Actor,
        /// Started or stopped.
        is_typing: bool,
    },
    /// A conversation was given to you (or a watched agent).
    #[serde(rename = "conversation.assigned")]
    ConversationAssigned {
        /// The conversation.
        conversation: ConversationView,
    },
    /// A conversation changed.
    #[serde(rename = "conversation.updated")]
    ConversationUpdated {
        /// The conversation.
        conversation: ConversationView,
    },
    /// The full state of a queue, first answer to `queue.watch`.
    #[serde(rename = "queue.snapshot")]
    QueueSnapshot {
        /// The team.
        team_id: i64,
        /// Waiting conversations, in serving order.
        waiting: Vec<Waiting>,
        /// The team's agents.
        agents: Vec<AgentLoad>,
    },
    /// The queue changed; the same shape as the snapshot.
    #[serde(rename = "queue.update")]
    QueueUpdate {
        /// The team.
        team_id: i64,
        /// Waiting conversations, in serving order.
        waiting: Vec<Waiting>,
        /// The team's agents.
        agents: Vec<AgentLoad>,
    },
    /// An agent's presence or load changed.
    #[serde(rename = "presence")]
    Presence {
        /// The agent.
        agent_id: i64,
        /// New status.
        status: AgentStatus,
        /// Open conversations.
        load: i64,
        /// Capacity.
        capacity: i32,
    },
    /// An internal note was added (staff sockets only).
    #[serde(rename = "note.created")]
    NoteCreated {
        /// The note.
        note: NoteView,
    },
    /// Something supervisors should see now, e.g. an SLA about to be or
    /// already missed (`kind`: `sla.warning`, `sla.breach`).
    #[serde(rename = "notification")]
    Notification {
        /// What happened.
        kind: String,
        /// The conversation.
        conversation_id: i64,
        /// Its team.
        team_id: Option<i64>,
        /// Which target.
        sla: crate::domain::sla::SlaKind,
        /// When it is (was) due.
        due_at: DateTime<Utc>,
    },
    /// End of a `resume` catch-up.
    #[serde(rename = "resume.done")]
    ResumeDone {
        /// The `ref` of the resume.
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        /// The conversation.
        conversation_id: i64,
        /// Highest seq now.
        last_seq: i64,
    },
    /// A request succeeded.
    #[serde(rename = "ok")]
    Ok {
        /// The `ref` of the request.
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
    },
    /// Answer to `ping`.
    #[serde(rename = "pong")]
    Pong {
        /// The `ref` of the ping.
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
    },
    /// A request failed.
    #[serde(rename = "error")]
    Error {
        /// The `ref` of the request, if it could be read.
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        /// Machine-readable.
        code: ErrorCode,
        /// For a person.
        message: String,
    },
}

/// Kinds of receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReceiptKind {
    /// Reached the other side's device.
    Delivered,
    /// Seen by the other side.
    Read,
}

impl ServerFrame {
    /// The frame as JSON text.
    pub fn to_json(&self) -> String {
        encode_frame(self)
    }

    /// An `error` frame.
    pub fn error(reference: Option<String>, code: ErrorCode, message: impl Into<String>) -> Self {
        ServerFrame::Error {
            reference,
            code,
            message: message.into(),
        }
    }
}

/// A server frame as JSON text. Frames always serialise; the fallback
/// only guards against a future mistake.
fn encode_frame(frame: &impl Serialize) -> String {
    serde_json::to_string(frame).unwrap_or_else(|e| {
        format!(r#"{{"type":"error","code":"internal","message":"encoding failed: {e}"}}"#)
    })
}

impl From<FrameError> for ServerFrame {
    fn from(e: FrameError) -> Self {
        ServerFrame::error(e.reference, e.code, e.message)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_send_frame_parses_with_its_ref() {
        let f = parse_client_frame(
            r#"{"type":"message.send","ref":"r1","conversation_id":4,"client_msg_id":"c-1","text":"<b>hi</b>"}"#,
        )
        .unwrap();
        assert_eq!(f.reference.as_deref(), Some("r1"));
        assert_eq!(
            f.event,
            ClientEvent::MessageSend {
                conversation_id: Some(ConversationId(4)),
                client_msg_id: "c-1".into(),
                text: "<b>hi</b>".into()
            }
        );
    }

    #[test]
    fn bad_frames_get_the_right_code_and_keep_their_ref() {
        let cases = [
            ("{", None, ErrorCode::BadRequest),
            ("[1,2]", None, ErrorCode::BadRequest),
            (r#"{"ref":"a"}"#, Some("a"), ErrorCode::BadRequest),
            (
                r#"{"ref":"b","type":"nope"}"#,
                Some("b"),
                ErrorCode::BadRequest,
            ),
            (
                r#"{"ref":"c","type":"message.send","client_msg_id":"x"}"#,
                Some("c"),
                ErrorCode::BadRequest,
            ),
            (
                r#"{"ref":"d","type":"message.send","client_msg_id":"","text":"hi"}"#,
                Some("d"),
                ErrorCode::BadRequest,
            ),
            (
                r#"{"ref":"e","type":"message.send","client_msg_id":"x","text":"   "}"#,
                Some("e"),
                ErrorCode::BadRequest,
            ),
            (
                r#"{"ref":"f","type":"typing","is_typing":"yes"}"#,
                Some("f"),
                ErrorCode::BadRequest,
            ),
            (
                r#"{"ref":"g","type":"ping","extra":1}"#,
                Some("g"),
                ErrorCode::BadRequest,
            ),
            (
                r#"{"ref":"h","type":"conversation.accept","conversation_id":-3}"#,
                Some("h"),
                ErrorCode::BadRequest,
            ),
            (
                r#"{"ref":"i","type":"presence.set","status":"busy"}"#,
                Some("i"),
                ErrorCode::BadRequest,
            ),
            (
                r#"{"ref":"j","type":"conversation.transfer","conversation_id":1}"#,
                Some("j"),
                ErrorCode::BadRequest,
            ),
        ];
        for (text, reference, code) in cases {
            let e = parse_client_frame(text).unwrap_err();
            assert_eq!(e.reference.as_deref(), reference, "{text}");
            assert_eq!(e.code, code, "{text}");
            assert!(!e.message.is_empty());
        }
    }

    #[test]
    fn a_nul_in_any_string_of_a_frame_is_a_bad_request() {
        for frame in [
            r#"{"type":"message.send","client_msg_id":"x","text":"a\u0000b","ref":"r"}"#,
            r#"{"type":"message.send","client_msg_id":"x\u0000","text":"ab","ref":"r"}"#,
            r#"{"type":"conversation.close","conversation_id":1,"reason":"\u0000","ref":"r"}"#,
            r#"{"type":"conversation.transfer","conversation_id":1,"team_id":2,"note":"a\u0000","ref":"r"}"#,
        ] {
            let e = parse_client_frame(frame).unwrap_err();
            assert_eq!(
                (e.code, e.reference.as_deref()),
                (ErrorCode::BadRequest, Some("r")),
                "{frame}"
            );
        }
        let fine = r#"{"type":"message.send","client_msg_id":"x","text":"line\nnext\ttab"}"#;
        assert!(parse_client_frame(fine).is_ok());
        let escaped = r#"{"type":"message.send","client_msg_id":"x","text":"a\\u0000b"}"#;
        assert!(
            parse_client_frame(escaped).is_ok(),
            "a backslash, then u0000"
        );
    }

    #[test]
    fn text_over_the_limit_is_too_large_and_at_the_limit_is_fine() {
        let ok = format!(
            r#"{{"type":"message.send","client_msg_id":"x","text":"{}"}}"#,
            "é".repeat(MAX_TEXT_CHARS)
        );
        assert!(parse_client_frame(&ok).is_ok());
        let long = format!(
            r#"{{"type":"message.send","client_msg_id":"x","text":"{}"}}"#,
            "é".repeat(MAX_TEXT_CHARS + 1)
        );
        assert_eq!(
            parse_client_frame(&long).unwrap_err().code,
            ErrorCode::TooLarge
        );
    }

    #[test]
    fn server_frames_have_the_documented_shape() {
        let f = ServerFrame::Ok {
            reference: Some("r".into()),
        };
        assert_eq!(f.to_json(), r#"{"type":"ok","ref":"r"}"#);
        let e = ServerFrame::error(None, ErrorCode::Forbidden, "no");
        assert_eq!(
            e.to_json(),
            r#"{"type":"error","code":"forbidden","message":"no"}"#
        );
    }

    const SEND_KEYS: &[&str] = &[
        r#""type""#,
        r#""ref""#,
        r#""conversation_id""#,
        r#""client_msg_id""#,
        r#""text""#,
        r#""is_typing""#,
        r#""t\u0065xt""#,
    ];

    const SEND_VALUES: usize = 16;

    /// The `i`th of a pool of JSON values for [`SEND_KEYS`].
    fn send_value(i: usize) -> String {
        match i {
            0 => r#""message.send""#.into(),
            1 => r#""message.s\u0065nd""#.into(),
            2 => r#""typing""#.into(),
            3 => "null".into(),
            4 => "7".into(),
            5 => "-3".into(),
            6 => "1.5".into(),
            7 => "99999999999999999999".into(),
            8 => "true".into(),
            9 => r#""abc""#.into(),
            10 => r#""x\u0000y""#.into(),
            11 => format!(r#""{}""#, "r".repeat(MAX_REF + 1)),
            12 => format!(r#""{}""#, "w ".repeat(MAX_TEXT_CHARS / 2 + 1)),
            13 => r#""   ""#.into(),
            14 => format!(r#""{}""#, "i".repeat(MAX_CLIENT_MSG_ID + 1)),
            _ => "{}".into(),
        }
    }

    /// One field of a send frame: mostly as a client sends it, else
    /// missing or any value of [`send_value`]'s pool.
    fn send_field(key: &'static str, plain: &'static str) -> impl Strategy<Value = Option<String>> {
        prop_oneof![
            1 => Just(None),
            3 => Just(Some(format!("{key}:{plain}"))),
            2 => (0..SEND_VALUES).prop_map(move |v| Some(format!("{key}:{}", send_value(v)))),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// The shortcut for plain `message.send` frames answers exactly as
        /// the full parser does, for frames near and far from plain ones:
        /// fields missing, repeated, extra or out of order, values of the
        /// wrong kind, escapes, NULs, overlong refs and texts.
        #[test]
        fn the_send_shortcut_answers_as_the_full_parser(
            parts in (
                send_field(r#""type""#, r#""message.send""#),
                send_field(r#""ref""#, r#""r""#),
                send_field(r#""conversation_id""#, "4"),
                send_field(r#""client_msg_id""#, r#""c1""#),
                send_field(r#""text""#, r#""hi""#),
                proptest::collection::vec((0..SEND_KEYS.len(), 0..SEND_VALUES), 0..2),
            ).prop_flat_map(|(a, b, c, d, e, extra)| {
                let mut parts: Vec<String> = [a, b, c, d, e].into_iter().flatten().collect();
                parts.extend(extra.into_iter().map(|(k, v)| format!("{}:{}", SEND_KEYS[k], send_value(v))));
                Just(parts).prop_shuffle()
            }),
        ) {
            let frame = format!("{{{}}}", parts.join(","));
            prop_assert_eq!(parse_client_frame(&frame), parse_any_frame(&frame), "{}", frame);
        }
    }

    proptest! {
        /// No input makes the parser panic, and every refusal has a message.
        #[test]
        fn the_parser_never_panics(s in ".{0,300}") {
            if let Err(e) = parse_client_frame(&s) {
                prop_assert!(!e.message.is_empty());
            }
        }

        /// Any JSON object with a known type either parses or is refused as bad_request/too_large.
        #[test]
        fn known_types_with_random_fields_are_answered(
            t in proptest::sample::select(CLIENT_TYPES),
            n in proptest::option::of(any::<i64>()),
            b in any::<bool>(),
            s in ".{0,20}",
        ) {
            let frame = serde_json::json!({"type": t, "conversation_id": n, "is_typing": b, "text": s});
            match parse_client_frame(&frame.to_string()) {
                Ok(_) => {}
                Err(e) => prop_assert!(matches!(e.code, ErrorCode::BadRequest | ErrorCode::TooLarge)),
            }
        }
    }
}
