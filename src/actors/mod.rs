//! The live system: one actor per conversation, per team queue and per
//! socket, started and found through the [`router::Router`]. Actors own
//! state and ordering; they never block on I/O (database calls are futures
//! attached to the actor). See `docs/architecture.md`.

pub mod agent_session;
pub mod committer;
pub mod conversation;
pub mod customer_session;
pub mod router;
pub mod socket;
pub mod team_queue;
pub mod waiting;

use actix::Message;
use bytestring::ByteString;

use crate::domain::access::StaffScope;
use crate::domain::protocol::{Actor as WireActor, PartyKind, ServerFrame};
use crate::domain::{ConversationId, ErrorCode, VisitorId};

/// Identifies one socket for the life of the process.
pub type SessionId = u64;

/// A frame already serialised once, shared by every recipient (cloning a
/// `ByteString` only bumps a reference count).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Deliver(pub ByteString);

impl Deliver {
    /// Serialises a frame.
    pub fn frame(frame: &ServerFrame) -> Self {
        Deliver(ByteString::from(frame.to_json()))
    }
}

/// Orders for a socket (from the Router or the bus), and the frames it
/// asked for (`Requested`); live frames come as `Deliver`.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub enum Control {
    /// End the socket at once (user deactivated, logged out, password
    /// changed); the reason goes in the close frame.
    Kick(String),
    /// End the socket because what it follows moved to another node (or
    /// that node stopped): closed with 1012 so the client reconnects and
    /// resumes.
    Reconnect(String),
    /// Start following a conversation (it was just given to this user),
    /// catching up on what was committed after `after_seq` (its last seq
    /// when it was given) in case the socket joins only after more came.
    Follow {
        /// The conversation.
        conversation: ConversationId,
        /// Its last committed seq when it was given.
        after_seq: i64,
    },
    /// A frame the socket asked for (its `resume`'s history), sent past the
    /// mailbox's bound and queued past the outbound buffer's count: the
    /// request bounds it (`bus::LocalSession::hand_requested`). Any socket
    /// takes it, customer or staff.
    Requested(bytestring::ByteString),
}

/// Who is asking: a customer bound to its conversation, or a staff member.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum Party {
    /// A widget visitor.
    Customer {
        /// The visitor.
        visitor: VisitorId,
        /// The only conversation it may touch.
        conversation: ConversationId,
        /// Its display name.
        name: Option<String>,
    },
    /// A staff member.
    Staff {
        /// Id, role and teams.
        scope: StaffScope,
        /// Display name.
        name: String,
    },
}

impl Party {
    /// Customer or agent side.
    pub fn kind(&self) -> PartyKind {
        match self {
            Party::Customer { .. } => PartyKind::Customer,
            Party::Staff { .. } => PartyKind::Agent,
        }
    }

    /// Visitor or user id.
    pub fn id(&self) -> i64 {
        match self {
            Party::Customer { visitor, .. } => visitor.0,
            Party::Staff { scope, .. } => scope.user.0,
        }
    }

    /// Display name.
    pub fn name(&self) -> Option<String> {
        match self {
            Party::Customer { name, .. } => name.clone(),
            Party::Staff { name, .. } => Some(name.clone()),
        }
    }

    /// As it appears in receipts and typing events.
    pub fn wire(&self, with_name: bool) -> WireActor {
        WireActor {
            kind: self.kind(),
            id: self.id(),
            name: if with_name { self.name() } else { None },
        }
    }
}

/// A refused or failed request to an actor, as the client will see it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[error("{code:?}: {message}")]
pub struct ActorError {
    /// The wire code.
    pub code: ErrorCode,
    /// For a person.
    pub message: String,
}

impl ActorError {
    /// Builds an error.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ActorError {
            code,
            message: message.into(),
        }
    }

    /// `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    /// `internal`, logging the cause.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "actor request failed");
        Self::new(ErrorCode::Internal, "something went wrong on our side")
    }

    /// The `error` frame for this failure.
    pub fn frame(&self, reference: Option<String>) -> ServerFrame {
        ServerFrame::error(reference, self.code, self.message.clone())
    }
}

impl From<crate::store::StoreError> for ActorError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::NotFound => {
                ActorError::new(ErrorCode::NotFound, "no such conversation")
            }
            other => ActorError::internal(other),
        }
    }
}
