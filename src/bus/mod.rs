//! Addressing. Code above this layer names actors by id (`conversation:42`,
//! `team:3`, `agent:7`) and never holds a way to reach them that it did not
//! get from here. Today every id resolves in-process through the Router; the
//! multi-node issue adds a Redis transport behind the same API.

use std::time::Duration;

use actix::dev::ToEnvelope;
use actix::{Actor, Addr, Handler, MailboxError, Message};

use crate::actors::conversation::Conversation;
use crate::actors::router::{AgentEvent, ResolveConversation, ResolveTeam, Router};
use crate::actors::team_queue::TeamQueue;
use crate::actors::{ActorError, Deliver};
use crate::domain::{ConversationId, ErrorCode, TeamId, UserId};

/// How long a request to another actor may take before the caller gives up.
/// Every `send` has a bound, so no actor can wait forever on another.
pub const ASK_TIMEOUT: Duration = Duration::from_secs(10);

/// Why an actor could not be reached.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusError {
    /// The id names nothing (e.g. no such conversation).
    #[error("not found")]
    NotFound,
    /// The actor stopped or did not answer in time.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl From<MailboxError> for BusError {
    fn from(e: MailboxError) -> Self {
        BusError::Unavailable(e.to_string())
    }
}

impl From<BusError> for ActorError {
    fn from(e: BusError) -> Self {
        match e {
            BusError::NotFound => ActorError::new(ErrorCode::NotFound, "no such conversation"),
            BusError::Unavailable(m) => {
                tracing::warn!(cause = %m, "actor unavailable");
                ActorError::new(ErrorCode::Internal, "temporarily unavailable; retry")
            }
        }
    }
}

/// The way to reach any actor by id. Cheap to clone.
#[derive(Clone)]
pub struct Bus {
    router: Addr<Router>,
}

/// A resolved reference to one actor. Holding it is a cache: when its
/// actor has stopped, asking fails with `Unavailable` and the holder
/// resolves again.
pub struct ActorRef<A: Actor> {
    addr: Addr<A>,
}

impl<A: Actor> Clone for ActorRef<A> {
    fn clone(&self) -> Self {
        ActorRef {
            addr: self.addr.clone(),
        }
    }
}

impl<A: Actor> ActorRef<A> {
    /// Enqueues `msg` now (so several asks keep their order) and returns
    /// the answer's future, bounded by [`ASK_TIMEOUT`].
    pub fn ask<M>(&self, msg: M) -> impl Future<Output = Result<M::Result, BusError>> + use<A, M>
    where
        M: Message + Send + 'static,
        M::Result: Send,
        A: Handler<M>,
        A::Context: ToEnvelope<A, M>,
    {
        let request = self.addr.send(msg).timeout(ASK_TIMEOUT);
        async move { request.await.map_err(BusError::from) }
    }

    /// Sends without waiting for an answer.
    pub fn tell<M>(&self, msg: M)
    where
        M: Message + Send + 'static,
        M::Result: Send,
        A: Handler<M>,
        A::Context: ToEnvelope<A, M>,
    {
        self.addr.do_send(msg);
    }

    /// Whether the actor still runs.
    pub fn is_alive(&self) -> bool {
        self.addr.connected()
    }
}

/// A conversation actor.
pub type ConversationRef = ActorRef<Conversation>;
/// A team queue actor.
pub type TeamRef = ActorRef<TeamQueue>;

impl Bus {
    /// A bus over a local Router.
    pub fn local(router: Addr<Router>) -> Self {
        Bus { router }
    }

    /// Finds (activating if needed) the actor of `conversation:<id>`.
    pub async fn conversation(&self, id: ConversationId) -> Result<ConversationRef, BusError> {
        let addr = self
            .router
            .send(ResolveConversation { id })
            .timeout(ASK_TIMEOUT)
            .await??;
        Ok(ActorRef { addr })
    }

    /// Finds (activating if needed) the actor of `team:<id>`.
    pub async fn team(&self, id: TeamId) -> Result<TeamRef, BusError> {
        let addr = self
            .router
            .send(ResolveTeam { id })
            .timeout(ASK_TIMEOUT)
            .await??;
        Ok(ActorRef { addr })
    }

    /// Delivers a frame to every socket of `agent:<id>` (fire and forget).
    pub fn to_agent(&self, agent: UserId, frame: Deliver) {
        self.router.do_send(AgentEvent::Deliver { agent, frame });
    }

    /// Tells the Router about an agent socket coming or going, or presence.
    pub fn agent_event(&self, event: AgentEvent) {
        self.router.do_send(event);
    }
}
