//! Addressing. Code above this layer names actors by id (`conversation:42`,
//! `team:3`, `agent:7`) and sockets by [`SessionRef`], and never holds a way
//! to reach them that it did not get from here. On one node every id
//! resolves in-process: a running actor from the local [`registry`], one
//! that is not running through the Router, which activates it. With
//! `redis.url` set, the [`cluster`] transport finds the node that hosts an
//! actor (claiming it for this node when nobody does) and carries calls
//! and frames there; the code above does not change.
//!
//! # Layout
//! - `envelope`: the versioned, bounded wire format between nodes (pure).
//! - `calls`: which actor messages may cross nodes, by name.
//! - `cluster`: Redis: leases, directory, channels, presence.
//! - `envelope_queue`: numbers envelopes in the order the publisher sends.
//! - `inbound`: what a node does with the envelopes it receives.
//! - `registry`: this node's running actors by id (the Router writes it).

pub mod calls;
pub mod cluster;
pub mod envelope;
mod envelope_queue;
mod inbound;
pub mod registry;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix::dev::ToEnvelope;
use actix::prelude::SendError;
use actix::{Actor, Addr, Handler, MailboxError, Recipient};
use bytestring::ByteString;
use futures_util::future::Either;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use self::calls::Call;
use self::cluster::Cluster;
use self::envelope::{ActorKey, AgentBroadcast, RemoteError};
use self::registry::Registry;
use crate::actors::conversation::{Conversation, Created, Relinquish, SessionsGone};
use crate::actors::router::{AgentEvent, ResolveConversation, ResolveTeam, Router};
use crate::actors::team_queue::{TeamQueue, WatchersGone};
use crate::actors::{ActorError, Control, Deliver, SessionId};
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
    /// The actor stopped, moved, or did not answer in time.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl From<MailboxError> for BusError {
    fn from(e: MailboxError) -> Self {
        BusError::Unavailable(e.to_string())
    }
}

impl From<RemoteError> for BusError {
    fn from(e: RemoteError) -> Self {
        match e {
            RemoteError::NotFound => BusError::NotFound,
            other => BusError::Unavailable(other.to_string()),
        }
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

/// How a socket on this node is reached.
#[derive(Clone)]
pub(crate) struct LocalSession {
    frames: Recipient<Deliver>,
    control: Recipient<Control>,
}

/// The close reason of a socket this node fell behind (see
/// [`LocalSession::hand`]).
pub const FELL_BEHIND: &str = "the server fell behind this socket; reconnect and resume";

impl LocalSession {
    /// The socket whose actor takes frames at `frames` and orders at
    /// `control`.
    pub(crate) fn new(frames: Recipient<Deliver>, control: Recipient<Control>) -> Self {
        LocalSession { frames, control }
    }

    /// Hands `frame` to the socket's actor; `false` if it cannot take it.
    ///
    /// The actor moves each frame to the socket's own bounded buffer (the
    /// slow-client limit) as soon as it runs, so a full mailbox means this
    /// node is behind, not the client. The socket is then told to reconnect
    /// and resume (an order that skips the mailbox's bound and ends the
    /// socket after what it already holds): left out silently, it would
    /// have missed everything after this frame without knowing.
    pub(crate) fn hand(&self, frame: &Deliver) -> bool {
        match self.frames.try_send(frame.clone()) {
            Ok(()) => true,
            Err(SendError::Full(_)) => {
                tracing::info!("a socket's mailbox is full; asking it to reconnect");
                self.reconnect(FELL_BEHIND);
                false
            }
            Err(SendError::Closed(_)) => false,
        }
    }

    /// Tells the socket to reconnect (close 1012 with `reason`), past the
    /// mailbox's bound and after what it already holds.
    pub(crate) fn reconnect(&self, reason: &str) {
        self.control.do_send(Control::Reconnect(reason.to_owned()));
    }

    /// Hands `frame` past the mailbox's bound: for frames the socket asked
    /// for (its `resume`'s history), which that request bounds and which
    /// come a page at a time. Under the bound, a resume longer
    /// than the mailbox would be told to reconnect, and resume again, for
    /// ever. `false` if the socket is gone.
    pub(crate) fn hand_requested(&self, frame: &Deliver) -> bool {
        if !self.control.connected() {
            return false;
        }
        // One mailbox behind both recipients: it stays in order with the
        // live frames handed before and after it.
        self.control.do_send(Control::Requested(frame.0.clone()));
        true
    }

    fn hand_as(&self, frame: &Deliver, pace: Pace) -> bool {
        match pace {
            Pace::Live => self.hand(frame),
            Pace::Requested => self.hand_requested(frame),
        }
    }
}

/// How a frame meets a socket's bounds (its mailbox, its outbound buffer's
/// count).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pace {
    /// Live traffic: a socket whose mailbox is full is told to reconnect
    /// ([`LocalSession::hand`]).
    #[default]
    Live,
    /// What the socket asked for ([`LocalSession::hand_requested`]): past
    /// both counts; only a client that stopped reading refuses it.
    Requested,
}

impl Pace {
    /// Live traffic (left out of envelopes: the default).
    pub fn is_live(&self) -> bool {
        *self == Pace::Live
    }
}

/// One socket, wherever it is: on this node (reached directly) or on
/// another (reached through the cluster). Serialises as its node and id.
#[derive(Clone, Serialize, Deserialize)]
pub struct SessionRef {
    node: String,
    session: SessionId,
    #[serde(skip)]
    local: Option<LocalSession>,
}

impl std::fmt::Debug for SessionRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SessionRef({}/{})", self.node, self.session)
    }
}

impl SessionRef {
    /// The socket's id.
    pub fn id(&self) -> SessionId {
        self.session
    }
}

/// The way to reach any actor or socket by id. Cheap to clone.
#[derive(Clone)]
pub struct Bus {
    inner: Arc<Inner>,
}

struct Inner {
    node: String,
    router: Addr<Router>,
    /// The actors running here, looked up before asking the Router.
    registry: Registry,
    /// Sockets on this node, for frames arriving from other nodes.
    sessions: RwLock<HashMap<SessionId, LocalSession>>,
    cluster: Option<Arc<Cluster>>,
}

/// Where an actor is.
enum Target<A: Actor> {
    Local(Addr<A>),
    Remote(String),
}

/// A resolved reference to one actor. Holding it is a cache: when its
/// actor has stopped or moved, asking fails with `Unavailable` and the
/// holder resolves again.
pub struct ActorRef<A: Actor> {
    key: ActorKey,
    target: Target<A>,
    bus: Bus,
}

impl<A: Actor> Clone for ActorRef<A> {
    fn clone(&self) -> Self {
        ActorRef {
            key: self.key,
            target: match &self.target {
                Target::Local(a) => Target::Local(a.clone()),
                Target::Remote(n) => Target::Remote(n.clone()),
            },
            bus: self.bus.clone(),
        }
    }
}

impl<A: Actor> ActorRef<A> {
    /// Enqueues `msg` now (so several asks keep their order, locally and
    /// across nodes) and returns the answer's future, bounded by
    /// [`ASK_TIMEOUT`].
    pub fn ask<M>(&self, msg: M) -> impl Future<Output = Result<M::Result, BusError>> + use<A, M>
    where
        M: Call,
        M::Result: Serialize + DeserializeOwned + Send,
        A: Handler<M>,
        A::Context: ToEnvelope<A, M>,
    {
        match &self.target {
            Target::Local(addr) => {
                let request = addr.send(msg).timeout(ASK_TIMEOUT);
                Either::Left(async move { request.await.map_err(BusError::from) })
            }
            Target::Remote(node) => {
                let sent = self.bus.remote_call(node, self.key, msg, true);
                Either::Right(async move {
                    let Some(rx) = sent? else {
                        return Err(BusError::Unavailable("no answer channel".into()));
                    };
                    let answer = tokio::time::timeout(ASK_TIMEOUT, rx)
                        .await
                        .map_err(|_| BusError::Unavailable("remote call timed out".into()))?
                        .map_err(|_| BusError::Unavailable("remote call dropped".into()))??;
                    serde_json::from_value(answer)
                        .map_err(|e| BusError::Unavailable(format!("bad answer: {e}")))
                })
            }
        }
    }

    /// Sends without waiting for an answer.
    pub fn tell<M>(&self, msg: M)
    where
        M: Call,
        M::Result: Serialize + DeserializeOwned + Send,
        A: Handler<M>,
        A::Context: ToEnvelope<A, M>,
    {
        match &self.target {
            Target::Local(addr) => addr.do_send(msg),
            Target::Remote(node) => {
                if let Err(e) = self.bus.remote_call(node, self.key, msg, false) {
                    tracing::warn!(actor = %self.key, error = %e, "could not tell a remote actor");
                }
            }
        }
    }

    /// Whether the actor may still be reached through this reference (a
    /// remote one is assumed alive; its node's death is noticed elsewhere).
    pub fn is_alive(&self) -> bool {
        match &self.target {
            Target::Local(a) => a.connected(),
            Target::Remote(_) => true,
        }
    }

    /// The other node hosting it, if it is not here.
    pub fn remote_node(&self) -> Option<&str> {
        match &self.target {
            Target::Local(_) => None,
            Target::Remote(n) => Some(n),
        }
    }

    fn local_addr(&self) -> Option<Addr<A>> {
        match &self.target {
            Target::Local(a) => Some(a.clone()),
            Target::Remote(_) => None,
        }
    }
}

/// A conversation actor.
pub type ConversationRef = ActorRef<Conversation>;
/// A team queue actor.
pub type TeamRef = ActorRef<TeamQueue>;

impl Bus {
    /// A bus over a local Router, and a cluster transport when this node is
    /// part of one (start it with [`Bus::start_cluster`]).
    pub fn new(node: String, router: Addr<Router>, cluster: Option<Arc<Cluster>>) -> Self {
        Bus {
            inner: Arc::new(Inner {
                node,
                router,
                registry: Registry::new(),
                sessions: RwLock::new(HashMap::new()),
                cluster,
            }),
        }
    }

    /// Starts the cluster transport's tasks (no-op on one node).
    pub async fn start_cluster(&self) -> Result<(), cluster::ClusterError> {
        match &self.inner.cluster {
            Some(c) => c.start(self.clone()).await,
            None => Ok(()),
        }
    }

    /// This node's id.
    pub fn node_id(&self) -> &str {
        &self.inner.node
    }

    /// Whether this node is part of a cluster.
    pub fn clustered(&self) -> bool {
        self.inner.cluster.is_some()
    }

    /// This node's running actors. Only the Router writes it.
    pub(crate) fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// The cluster transport, if any.
    pub fn cluster(&self) -> Option<&Arc<Cluster>> {
        self.inner.cluster.as_ref()
    }

    /// Whether the bus can do its work: always on one node; in a cluster,
    /// while Redis answers and the node's lease is fresh.
    pub fn is_ready(&self) -> bool {
        self.inner.cluster.as_ref().is_none_or(|c| c.is_ready())
    }

    fn ref_to<A: Actor>(&self, key: ActorKey, target: Target<A>) -> ActorRef<A> {
        ActorRef {
            key,
            target,
            bus: self.clone(),
        }
    }

    /// Finds `conversation:<id>`: here (activating it if nobody hosts it)
    /// or on the node that hosts it.
    pub async fn conversation(&self, id: ConversationId) -> Result<ConversationRef, BusError> {
        if id.0 <= 0 {
            return Err(BusError::NotFound);
        }
        if let Some(addr) = self.inner.registry.conversations.live(id) {
            return Ok(self.ref_to(ActorKey::Conversation(id), Target::Local(addr)));
        }
        self.resolve(ActorKey::Conversation(id), |activate| ResolveConversation {
            id,
            activate,
            created: None,
        })
        .await
    }

    /// Starts the actor of a conversation its caller has just created and
    /// committed, from `created` instead of reading it back. On one node
    /// this only posts the start to the Router and returns: whoever asks
    /// for the conversation next is answered after it (the Router's
    /// mailbox is in order), so the customer's way to an agent does not
    /// wait for a round trip. In a cluster it waits until the actor runs
    /// here or is known to run elsewhere.
    pub async fn start_created(&self, created: Created) -> Result<(), BusError> {
        let id = ConversationId(created.row.id);
        // An actor already running (activated from the store meanwhile)
        // is kept by the Router, which then drops `created`.
        if self.inner.cluster.is_none() {
            // `do_send`, not `try_send`: a burst of arrivals must not be
            // refused for a full mailbox. It is lost only when the Router
            // has stopped (the node is shutting down); the committed
            // conversation then starts from the store when next asked
            // for, or at the next start.
            self.inner.router.do_send(ResolveConversation {
                id,
                activate: true,
                created: Some(created),
            });
            return Ok(());
        }
        self.resolve(ActorKey::Conversation(id), |activate| ResolveConversation {
            id,
            activate,
            created: Some(created.clone()),
        })
        .await
        .map(|_| ())
    }

    /// Finds `team:<id>` like [`Bus::conversation`].
    pub async fn team(&self, id: TeamId) -> Result<TeamRef, BusError> {
        if id.0 <= 0 {
            return Err(BusError::NotFound);
        }
        if let Some(addr) = self.inner.registry.teams.live(id) {
            return Ok(self.ref_to(ActorKey::Team(id), Target::Local(addr)));
        }
        self.resolve(ActorKey::Team(id), |activate| ResolveTeam { id, activate })
            .await
    }

    /// The one resolution path: the local actor if it runs here; in a
    /// cluster, else the node that hosts it, claiming it for this node when
    /// no live node does; then it is activated here.
    async fn resolve<A, R>(
        &self,
        key: ActorKey,
        ask: impl Fn(bool) -> R,
    ) -> Result<ActorRef<A>, BusError>
    where
        A: Actor,
        R: actix::Message<Result = Result<Option<Addr<A>>, BusError>> + Send + 'static,
        Router: Handler<R>,
    {
        let router = &self.inner.router;
        if let Some(cluster) = &self.inner.cluster {
            if let Some(addr) = router.send(ask(false)).timeout(ASK_TIMEOUT).await?? {
                return Ok(self.ref_to(key, Target::Local(addr)));
            }
            let owner = cluster.claim(key).await?;
            if owner != self.inner.node {
                return Ok(self.ref_to(key, Target::Remote(owner)));
            }
        }
        let addr = router
            .send(ask(true))
            .timeout(ASK_TIMEOUT)
            .await??
            .ok_or_else(|| BusError::Unavailable("not activated".into()))?;
        Ok(self.ref_to(key, Target::Local(addr)))
    }

    fn remote_call<M>(
        &self,
        node: &str,
        key: ActorKey,
        msg: M,
        reply: bool,
    ) -> Result<
        Option<tokio::sync::oneshot::Receiver<Result<serde_json::Value, RemoteError>>>,
        BusError,
    >
    where
        M: Call,
    {
        let Some(cluster) = &self.inner.cluster else {
            return Err(BusError::Unavailable("not part of a cluster".into()));
        };
        let payload = serde_json::to_value(&msg)
            .map_err(|e| BusError::Unavailable(format!("cannot send {}: {e}", M::NAME)))?;
        cluster.send_call(node, key, M::NAME, payload, reply)
    }

    /// A socket of this node, reachable from any node by the returned ref.
    /// Call [`Bus::forget_session`] when it closes.
    pub fn register_session(
        &self,
        session: SessionId,
        frames: Recipient<Deliver>,
        control: Recipient<Control>,
    ) -> SessionRef {
        let local = LocalSession::new(frames, control);
        if let Ok(mut s) = self.inner.sessions.write() {
            s.insert(session, local.clone());
        }
        SessionRef {
            node: self.inner.node.clone(),
            session,
            local: Some(local),
        }
    }

    /// A socket of this node closed.
    pub fn forget_session(&self, session: SessionId) {
        if let Ok(mut s) = self.inner.sessions.write() {
            s.remove(&session);
        }
        if let Some(c) = &self.inner.cluster {
            c.forget_session(session);
        }
    }

    /// A local socket follows an actor reached through `actor`: if that is
    /// on another node and the node dies, the socket is told to reconnect
    /// (its client then resumes from where it was).
    pub fn follow<A: Actor>(&self, actor: &ActorRef<A>, session: &SessionRef) {
        if let (Some(node), Some(c), Some(local)) =
            (actor.remote_node(), &self.inner.cluster, &session.local)
        {
            c.follow(node, session.session, local.control.clone());
        }
    }

    /// Runs `f` on the socket `s` if it is on this node and open; `None`
    /// otherwise. Borrowed, not cloned: a clone is two boxed actix senders
    /// (atomic counts up, then down again), for every frame to every socket.
    fn with_local_session<R>(
        &self,
        s: &SessionRef,
        f: impl FnOnce(&LocalSession) -> R,
    ) -> Option<R> {
        if let Some(l) = &s.local {
            return Some(f(l));
        }
        if s.node != self.inner.node {
            return None;
        }
        let map = self.inner.sessions.read().ok()?;
        map.get(&s.session).map(f)
    }

    /// Hands a frame to sockets, local or remote (one envelope per other
    /// node). Returns the local ones that could not take it (closed, or
    /// too slow: their mailbox is full); remote ones that are gone are
    /// reported to `source` later, as `SessionsGone` / `WatchersGone`.
    pub fn deliver<'a>(
        &self,
        frame: &Deliver,
        to: impl IntoIterator<Item = &'a SessionRef>,
        source: Option<ActorKey>,
    ) -> Vec<SessionId> {
        self.deliver_as(frame, to, source, Pace::Live)
    }

    fn deliver_as<'a>(
        &self,
        frame: &Deliver,
        to: impl IntoIterator<Item = &'a SessionRef>,
        source: Option<ActorKey>,
        pace: Pace,
    ) -> Vec<SessionId> {
        let mut gone = Vec::new();
        let mut remote: HashMap<&str, Vec<SessionId>> = HashMap::new();
        for s in to {
            match self.with_local_session(s, |l| l.hand_as(frame, pace)) {
                Some(true) => {}
                Some(false) => gone.push(s.session),
                None if s.node == self.inner.node => gone.push(s.session),
                None => remote.entry(s.node.as_str()).or_default().push(s.session),
            }
        }
        match &self.inner.cluster {
            Some(c) => {
                for (node, sessions) in remote {
                    c.send_deliver(node, sessions, &frame.0, source, pace);
                }
            }
            None => gone.extend(remote.into_values().flatten()),
        }
        gone
    }

    /// Hands a frame to one socket; `false` if it is a local socket that
    /// could not take it.
    pub fn deliver_one(&self, frame: &Deliver, to: &SessionRef, source: Option<ActorKey>) -> bool {
        self.deliver(frame, std::iter::once(to), source).is_empty()
    }

    /// Hands a frame the socket asked for (see [`Pace::Requested`]) to one
    /// socket; `false` if it is a local socket that is gone.
    pub fn deliver_requested(
        &self,
        frame: &Deliver,
        to: &SessionRef,
        source: Option<ActorKey>,
    ) -> bool {
        self.deliver_as(frame, std::iter::once(to), source, Pace::Requested)
            .is_empty()
    }

    /// Frames from another node for sockets here; returns the gone ones.
    fn deliver_here(&self, sessions: &[SessionId], frame: String, pace: Pace) -> Vec<SessionId> {
        let frame = Deliver(ByteString::from(frame));
        let map = match self.inner.sessions.read() {
            Ok(m) => m,
            Err(_) => return sessions.to_vec(),
        };
        sessions
            .iter()
            .filter(|s| map.get(s).is_none_or(|l| !l.hand_as(&frame, pace)))
            .copied()
            .collect()
    }

    /// Tells the actor `source` that these sockets are gone.
    fn sessions_gone(&self, source: ActorKey, sessions: Vec<SessionId>) {
        let bus = self.clone();
        actix_rt::spawn(async move {
            match source {
                ActorKey::Conversation(id) => {
                    if let Ok(c) = bus.conversation(id).await {
                        c.tell(SessionsGone { sessions });
                    }
                }
                ActorKey::Team(id) => {
                    if let Ok(t) = bus.team(id).await {
                        t.tell(WatchersGone { sessions });
                    }
                }
            }
        });
    }

    /// Stops a local actor whose directory entry another node now holds.
    fn relinquish_local(&self, key: ActorKey) {
        let router = self.inner.router.clone();
        actix_rt::spawn(async move {
            if let ActorKey::Conversation(id) = key
                && let Ok(Ok(Some(addr))) = router
                    .send(ResolveConversation {
                        id,
                        activate: false,
                        created: None,
                    })
                    .await
            {
                addr.do_send(Relinquish);
            }
            if let ActorKey::Team(id) = key
                && let Ok(Ok(Some(addr))) = router
                    .send(ResolveTeam {
                        id,
                        activate: false,
                    })
                    .await
            {
                addr.do_send(crate::actors::team_queue::StopQueue);
            }
        });
    }

    /// Ends the given sockets (any node) with `reason`: they reconnect.
    pub fn kick<'a>(&self, to: impl IntoIterator<Item = &'a SessionRef>, reason: &str) {
        for s in to {
            self.with_local_session(s, |l| {
                let _ = l.control.try_send(Control::Reconnect(reason.to_owned()));
            });
            // Remote sockets of an actor that moves are kicked by their own
            // node, which watches the nodes its sockets follow.
        }
    }

    /// Delivers a frame to every socket of `agent:<id>`, on every node.
    pub fn to_agent(&self, agent: UserId, frame: Deliver) {
        if let Some(c) = &self.inner.cluster {
            c.broadcast_agent(
                agent,
                AgentBroadcast::Deliver {
                    frame: frame.0.to_string(),
                },
            );
        }
        // Straight to its sockets here, not through the Router's mailbox
        // (a hop on the way from a customer's arrival to the agent).
        self.inner.registry.agents.deliver(agent, &frame);
    }

    /// Tells the Router about an agent socket coming or going, or presence;
    /// kicks and follows reach the agent's sockets on every node.
    pub fn agent_event(&self, event: AgentEvent) {
        if let Some(c) = &self.inner.cluster {
            match &event {
                AgentEvent::Kick {
                    agent,
                    family,
                    reason,
                    reconnect,
                } => c.broadcast_agent(
                    *agent,
                    AgentBroadcast::Kick {
                        family: family.clone(),
                        reason: reason.clone(),
                        reconnect: *reconnect,
                    },
                ),
                AgentEvent::Follow {
                    agent,
                    conversation,
                    after_seq,
                } => c.broadcast_agent(
                    *agent,
                    AgentBroadcast::Follow {
                        conversation: *conversation,
                        after_seq: *after_seq,
                    },
                ),
                _ => {}
            }
        }
        self.inner.router.do_send(event);
    }

    /// An agent broadcast from another node, for the sockets here.
    fn agent_here(&self, agent: UserId, event: AgentBroadcast) {
        let event = match event {
            AgentBroadcast::Deliver { frame } => AgentEvent::Deliver {
                agent,
                frame: Deliver(ByteString::from(frame)),
            },
            AgentBroadcast::Kick {
                family,
                reason,
                reconnect,
            } => AgentEvent::Kick {
                agent,
                family,
                reason,
                reconnect,
            },
            AgentBroadcast::Follow {
                conversation,
                after_seq,
            } => AgentEvent::Follow {
                agent,
                conversation,
                after_seq,
            },
        };
        self.inner.router.do_send(event);
    }
}
