//! The Router: one per node. It activates Conversation and TeamQueue actors
//! on first use (virtual actors: state comes from the store) and registers
//! them in the bus's local registry, where callers find them without a
//! round trip through here; it replaces one that has stopped, tracks each
//! agent's sockets, and turns an agent's last disconnect into `offline`
//! after a grace period. It never awaits I/O.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use actix_rt::ArbiterHandle;

use super::committer::Committer;
use super::conversation::{Conversation, Created, RequeueFront};
use super::team_queue::{RefreshAgent, TeamQueue};
use super::{Control, Deliver, SessionId};
use crate::bus::{Bus, BusError, LocalSession};
use crate::config::RealtimeSettings;
use crate::domain::{AgentStatus, ConversationId, TeamId, UserId};
use crate::store::{self, Db};

/// The sockets of one agent.
#[derive(Default)]
struct AgentSockets {
    /// Per socket here: its control channel and the login session it
    /// belongs to (frames go to the sockets through `bus::registry`).
    controls: HashMap<SessionId, (Recipient<Control>, String)>,
    teams: Vec<TeamId>,
    offline_timer: Option<SpawnHandle>,
    requeue_timer: Option<SpawnHandle>,
}

/// How often a node of a cluster looks for open conversations nobody
/// hosts (their node died) and takes them, so their timers keep running.
const SWEEP: Duration = Duration::from_secs(10);

/// How long a failed read of agents' teams waits before it is tried again.
const TELL_TEAMS_RETRY: Duration = Duration::from_secs(1);

/// Registry and supervisor of this node's actors.
pub struct Router {
    db: Db,
    bus: Bus,
    /// The group-commit writer every conversation of this node uses.
    committer: Committer,
    settings: Arc<RealtimeSettings>,
    agents: HashMap<UserId, AgentSockets>,
    /// Worker threads conversations are spread over (kept alive here),
    /// with `realtime.arbiters` > 0.
    arbiters: Vec<Arbiter>,
    /// The HTTP workers' threads (`realtime.arbiters` = 0): conversations
    /// run next to the sockets, so a message crosses no thread on a
    /// one-core node (each crossing was a context switch, the largest cost
    /// in the chat path's profile).
    workers: Vec<ArbiterHandle>,
    next_arbiter: usize,
    /// Agents whose teams' queues are to re-read them, and whether the read
    /// of their teams runs (see [`Router::refresh_agent_in_teams`]).
    agents_to_tell: HashSet<UserId>,
    telling_teams: bool,
}

impl Router {
    /// A router; start it on the system arbiter with `Router::create`, so
    /// the bus it hands its actors can address it.
    pub fn new(db: Db, settings: Arc<RealtimeSettings>, bus: Bus, committer: Committer) -> Self {
        let arbiters = (0..settings.arbiters).map(|_| Arbiter::new()).collect();
        Router {
            db,
            bus,
            committer,
            settings,
            agents: HashMap::new(),
            arbiters,
            workers: Vec::new(),
            next_arbiter: 0,
            agents_to_tell: HashSet::new(),
            telling_teams: false,
        }
    }

    fn activate(
        &mut self,
        id: ConversationId,
        created: Option<Created>,
        ctx: &mut Context<Self>,
    ) -> Addr<Conversation> {
        let router = ctx.address();
        let bus = self.bus.clone();
        let db = self.db.clone();
        let committer = self.committer.clone();
        let settings = self.settings.clone();
        let arbiter = self.next_thread();
        let addr = Conversation::start_in_arbiter(&arbiter, move |_| {
            Conversation::new(id, db, bus, router, settings, committer, created)
        });
        self.bus.registry().conversations.insert(id, addr.clone());
        addr
    }

    /// The thread the next conversation runs on, round robin: an HTTP
    /// worker's, or one of the Router's own arbiters.
    fn next_thread(&mut self) -> ArbiterHandle {
        let turn = self.next_arbiter;
        self.next_arbiter = self.next_arbiter.wrapping_add(1);
        // A thread that died (a panicking actor takes its thread down) is
        // dropped (a worker's) or replaced (an arbiter) before use.
        self.workers.retain(|w| w.spawn(async {}));
        if !self.workers.is_empty() {
            return self.workers[turn % self.workers.len()].clone();
        }
        if self.arbiters.is_empty() {
            // No HTTP worker has started (or all died): one thread of our own.
            self.arbiters.push(Arbiter::new());
        }
        let slot = turn % self.arbiters.len();
        if !self.arbiters[slot].spawn(async {}) {
            tracing::error!(slot, "conversation worker thread died; starting a new one");
            self.arbiters[slot] = Arbiter::new();
        }
        self.arbiters[slot].handle()
    }

    /// Tells the queues of every team of `agent` (as stored now, connected
    /// or not) to re-read it and route.
    ///
    /// Coalesced: one read of agents' teams runs at a time, for every agent
    /// asked for meanwhile (an assignment asks for its agent, so a draining
    /// backlog asked for one read per assignment). The read is a task of its
    /// own that reports back with [`TeamsTold`]: spawned into this actor's
    /// context it would be polled again on each of the Router's wakes.
    fn refresh_agent_in_teams(&mut self, ctx: &Context<Self>, agent: UserId) {
        self.agents_to_tell.insert(agent);
        self.tell_teams(ctx);
    }

    /// Starts the read of [`Self::refresh_agent_in_teams`] for the agents
    /// asked for, unless one runs or none is asked for.
    fn tell_teams(&mut self, ctx: &Context<Self>) {
        if self.telling_teams || self.agents_to_tell.is_empty() {
            return;
        }
        self.telling_teams = true;
        let agents: Vec<UserId> = self.agents_to_tell.drain().collect();
        let db = self.db.clone();
        let bus = self.bus.clone();
        let me = ctx.address();
        actix_rt::spawn(async move {
            let failed = match store::users::team_ids_of(&db, &agents).await {
                Ok(memberships) => {
                    for (agent, t) in memberships {
                        // The queue may run on another node.
                        match bus.team(t).await {
                            Ok(team) => team.tell(RefreshAgent { agent }),
                            Err(e) => {
                                tracing::warn!(team_id = %t, error = %e, "could not reach team queue")
                            }
                        }
                    }
                    Vec::new()
                }
                Err(e) => {
                    // The queues rely on this read alone to see the loads
                    // change: ask again (not at once: a store that is down
                    // would make it a busy loop).
                    tracing::warn!(agents = agents.len(), error = %e, "could not read agents' teams; retrying");
                    tokio::time::sleep(TELL_TEAMS_RETRY).await;
                    agents
                }
            };
            me.do_send(TeamsTold { failed });
        });
    }

    /// Puts every open conversation of `agent` back at the front of its queue.
    fn requeue_all(&self, agent: UserId) {
        let db = self.db.clone();
        let bus = self.bus.clone();
        actix_rt::spawn(async move {
            let ids = match store::conversations::open_assigned_to(&db, agent).await {
                Ok(ids) => ids,
                Err(e) => {
                    tracing::error!(agent_id = %agent, error = %e, "could not list conversations to requeue");
                    return;
                }
            };
            for id in ids {
                let res = match bus.conversation(id).await {
                    Ok(conv) => conv.ask(RequeueFront { agent }).await.map(|r| r.is_ok()),
                    Err(e) => Err(e),
                };
                tracing::info!(agent_id = %agent, conversation_id = %id, ok = ?res, "requeued from an absent agent");
            }
        });
    }

    /// Whether the agent has a socket on another node (never, on one node).
    fn connected_elsewhere(&self, agent: UserId) -> impl Future<Output = bool> + use<> {
        let cluster = self.bus.cluster().cloned();
        async move {
            match cluster {
                Some(c) => c.agent_elsewhere(agent).await.unwrap_or_else(|e| {
                    tracing::warn!(agent_id = %agent, error = %e, "presence unknown; treated as gone");
                    false
                }),
                None => false,
            }
        }
    }

    /// Starts the timers of an agent without sockets here: `offline` after
    /// the grace period, its conversations requeued after `requeue_after_s`;
    /// a socket connecting first cancels them. Timers already running are kept.
    fn start_absence_timers(&mut self, agent: UserId, ctx: &mut Context<Self>) {
        let entry = self.agents.entry(agent).or_default();
        if entry.controls.is_empty() && entry.requeue_timer.is_none() {
            // Still gone after the grace period: its conversations
            // go back to the front of their queues.
            let after = Duration::from_secs(self.settings.requeue_after_s);
            entry.requeue_timer = Some(ctx.run_later(after, move |act, ctx| {
                let gone = act.agents.get(&agent).is_none_or(|a| a.controls.is_empty());
                if let Some(a) = act.agents.get_mut(&agent) {
                    a.requeue_timer = None;
                }
                if gone {
                    let elsewhere = act.connected_elsewhere(agent);
                    ctx.spawn(elsewhere.into_actor(act).map(move |elsewhere, act, _| {
                        if !elsewhere {
                            act.requeue_all(agent);
                        }
                    }));
                }
            }));
        }
        let Some(entry) = self.agents.get_mut(&agent) else {
            return;
        };
        if entry.controls.is_empty() && entry.offline_timer.is_none() {
            let grace = Duration::from_secs(self.settings.presence_grace_s);
            entry.offline_timer = Some(ctx.run_later(grace, move |act, ctx| {
                let still_gone = act
                    .agents
                    .get(&agent)
                    .is_some_and(|a| a.controls.is_empty());
                if !still_gone {
                    return;
                }
                let db = act.db.clone();
                let elsewhere = act.connected_elsewhere(agent);
                ctx.spawn(
                    async move {
                        // A socket on another node keeps it online.
                        if elsewhere.await {
                            return Ok(None);
                        }
                        store::users::update(
                            &db,
                            agent,
                            store::users::UserChanges {
                                status: Some(AgentStatus::Offline),
                                ..Default::default()
                            },
                        )
                        .await
                        .map(Some)
                    }
                    .into_actor(act)
                    .map(move |res, act, ctx| {
                        if let Err(e) = res {
                            tracing::warn!(agent_id = %agent, error = %e, "could not mark agent offline");
                        }
                        act.refresh_agent_in_teams(ctx, agent);
                        if let Some(a) = act.agents.get_mut(&agent) {
                            a.offline_timer = None;
                        }
                    }),
                );
            }));
        }
    }

    /// After a start on one node: every active user stored present
    /// (`online`, `away`) is treated as if its last socket had just closed,
    /// since its sockets died with the process before; a reconnect within
    /// the grace period cancels the timers, as for any disconnect. Not in a
    /// cluster: there such a user's sockets may live on another node, and
    /// the timers kept per process would requeue from a connected agent.
    fn absent_since_start(&mut self, ctx: &mut Context<Self>) {
        let db = self.db.clone();
        ctx.spawn(async move { store::users::present(&db).await }.into_actor(self).map(
            |res, act, ctx| match res {
                Ok(agents) => {
                    for agent in agents {
                        if act.agents.get(&agent).is_none_or(|a| a.controls.is_empty()) {
                            act.start_absence_timers(agent, ctx);
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "could not list agents present before the start")
                }
            },
        ));
    }

    fn team(&mut self, id: TeamId) -> Addr<TeamQueue> {
        if let Some(addr) = self.bus.registry().teams.live(id) {
            return addr;
        }
        let resync = Duration::from_secs(self.settings.queue_resync_s);
        let addr = TeamQueue::new(id, self.db.clone(), self.bus.clone(), resync).start();
        self.bus.registry().teams.insert(id, addr.clone());
        addr
    }

    /// Open conversations get live actors (their idle and SLA timers run in
    /// them): on one node all of them at start; in a cluster, every
    /// `SWEEP`, those no live node hosts (claimed through the bus).
    fn activate_open(&mut self, ctx: &mut Context<Self>) {
        let db = self.db.clone();
        let bus = self.bus.clone();
        let clustered = bus.clustered();
        let hosted: HashSet<ConversationId> = self
            .bus
            .registry()
            .conversations
            .live_ids()
            .into_iter()
            .collect();
        ctx.spawn(
            async move {
                let ids = match store::conversations::open_ids(&db).await {
                    Ok(ids) => ids,
                    Err(e) => {
                        tracing::error!(error = %e, "could not list open conversations");
                        return;
                    }
                };
                for id in ids.into_iter().filter(|id| !hosted.contains(id)) {
                    if let Err(e) = bus.conversation(id).await {
                        tracing::debug!(conversation_id = %id, error = %e, "could not activate");
                        if clustered {
                            // Redis is away: try again at the next sweep.
                            return;
                        }
                    }
                }
            }
            .into_actor(self),
        );
    }
}

impl Actor for Router {
    type Context = Context<Self>;

    fn stopped(&mut self, _: &mut Self::Context) {
        // The worker threads (and the conversation actors on them, with their
        // database handles) end with the Router.
        for a in &self.arbiters {
            a.stop();
        }
    }

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(4096);
        // Open conversations get their actors back, so their idle timers run
        // after a restart: one query at start on a single node; a cluster
        // also sweeps for those a dead node hosted.
        self.activate_open(ctx);
        if self.bus.clustered() {
            ctx.run_interval(SWEEP, |act, ctx| act.activate_open(ctx));
        } else {
            self.absent_since_start(ctx);
        }
    }
}

/// An HTTP worker thread started; with `realtime.arbiters` = 0,
/// conversations are spread over these threads.
#[derive(Message)]
#[rtype(result = "()")]
pub struct WorkerStarted(pub ArbiterHandle);

impl Handler<WorkerStarted> for Router {
    type Result = ();

    fn handle(&mut self, msg: WorkerStarted, _: &mut Self::Context) {
        if self.settings.arbiters == 0 {
            self.workers.push(msg.0);
        }
    }
}

/// Stop the live system (graceful shutdown): every actor stops.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Shutdown;

impl Handler<Shutdown> for Router {
    type Result = ();

    fn handle(&mut self, _: Shutdown, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

/// The local actor of `conversation:<id>`; with `activate`, started here
/// if it is not running (the bus has made sure this node may host it).
#[derive(Message)]
#[rtype(result = "Result<Option<Addr<Conversation>>, BusError>")]
pub struct ResolveConversation {
    /// The conversation.
    pub id: ConversationId,
    /// Start it if it is not running here.
    pub activate: bool,
    /// What its creator knows of it, if it was just created: a start needs
    /// no reads then.
    pub created: Option<Created>,
}

impl Handler<ResolveConversation> for Router {
    type Result = Result<Option<Addr<Conversation>>, BusError>;

    fn handle(&mut self, msg: ResolveConversation, ctx: &mut Self::Context) -> Self::Result {
        if msg.id.0 <= 0 {
            return Err(BusError::NotFound);
        }
        match self.bus.registry().conversations.live(msg.id) {
            Some(addr) => Ok(Some(addr)),
            // A stopped (or crashed) actor is replaced from the store.
            _ if msg.activate => Ok(Some(self.activate(msg.id, msg.created, ctx))),
            _ => Ok(None),
        }
    }
}

/// The local queue of `team:<id>`; with `activate`, started here if needed.
#[derive(Message)]
#[rtype(result = "Result<Option<Addr<TeamQueue>>, BusError>")]
pub struct ResolveTeam {
    /// The team.
    pub id: TeamId,
    /// Start it if it is not running here.
    pub activate: bool,
}

impl Handler<ResolveTeam> for Router {
    type Result = Result<Option<Addr<TeamQueue>>, BusError>;

    fn handle(&mut self, msg: ResolveTeam, _: &mut Self::Context) -> Self::Result {
        if msg.id.0 <= 0 {
            return Err(BusError::NotFound);
        }
        match self.bus.registry().teams.live(msg.id) {
            Some(addr) => Ok(Some(addr)),
            _ if msg.activate => Ok(Some(self.team(msg.id))),
            _ => Ok(None),
        }
    }
}

/// A conversation actor stopped (passivated, or failed to load).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Passivated {
    /// Its id.
    pub id: ConversationId,
    /// Its address, so a newer actor for the same id is not forgotten.
    pub addr: Addr<Conversation>,
}

impl Handler<Passivated> for Router {
    type Result = ();

    fn handle(&mut self, msg: Passivated, ctx: &mut Self::Context) {
        if self
            .bus
            .registry()
            .conversations
            .remove_if(msg.id, &msg.addr)
        {
            // Other nodes may host it from now on.
            if let Some(cluster) = self.bus.cluster().cloned() {
                let key = crate::bus::envelope::ActorKey::Conversation(msg.id);
                ctx.spawn(async move { cluster.release(key).await }.into_actor(self));
            }
        }
    }
}

/// Things that happen to agents.
#[derive(Message)]
#[rtype(result = "()")]
pub enum AgentEvent {
    /// A socket of the agent opened.
    Connected {
        /// The agent.
        agent: UserId,
        /// The socket.
        session: SessionId,
        /// Where its frames go.
        recipient: Recipient<Deliver>,
        /// How to steer it.
        control: Recipient<Control>,
        /// The login session (refresh family) its token belongs to.
        family: String,
        /// The agent's teams (whose queues show its presence).
        teams: Vec<TeamId>,
    },
    /// End the agent's sockets: all of them, or those of one login session.
    Kick {
        /// The agent.
        agent: UserId,
        /// Only sockets of this login session (logout); `None`: all.
        family: Option<String>,
        /// Why, for the close frame.
        reason: String,
        /// The login goes on and its sockets are to reconnect at once
        /// (`Control::Reconnect`, 1012): its role or teams changed, and a
        /// socket keeps those it connected with. Otherwise the login ended
        /// (`Control::Kick`, 1008).
        reconnect: bool,
    },
    /// Make every socket of the agent follow a conversation given to it.
    Follow {
        /// The agent.
        agent: UserId,
        /// The conversation.
        conversation: ConversationId,
        /// Its last committed seq when it was given.
        after_seq: i64,
    },
    /// A socket of the agent closed.
    Disconnected {
        /// The agent.
        agent: UserId,
        /// The socket.
        session: SessionId,
    },
    /// A frame for every socket of the agent.
    Deliver {
        /// The agent.
        agent: UserId,
        /// The frame.
        frame: Deliver,
    },
    /// The agent's status or load changed; queues should show it.
    Changed {
        /// The agent.
        agent: UserId,
    },
    /// The agent set itself offline, or was deactivated: its conversations
    /// go back to the front of their queues now.
    WentOffline {
        /// The agent.
        agent: UserId,
    },
}

/// The queues of the agents read by [`Router::refresh_agent_in_teams`]
/// were told; agents asked for meanwhile get the next read.
#[derive(Message)]
#[rtype(result = "()")]
struct TeamsTold {
    /// Agents whose teams could not be read: asked for again.
    failed: Vec<UserId>,
}

impl Handler<TeamsTold> for Router {
    type Result = ();

    fn handle(&mut self, msg: TeamsTold, ctx: &mut Self::Context) {
        self.telling_teams = false;
        self.agents_to_tell.extend(msg.failed);
        self.tell_teams(ctx);
    }
}

impl Handler<AgentEvent> for Router {
    type Result = ();

    fn handle(&mut self, msg: AgentEvent, ctx: &mut Self::Context) {
        match msg {
            AgentEvent::Connected {
                agent,
                session,
                recipient,
                control,
                family,
                teams,
            } => {
                let entry = self.agents.entry(agent).or_default();
                for h in [entry.offline_timer.take(), entry.requeue_timer.take()]
                    .into_iter()
                    .flatten()
                {
                    ctx.cancel_future(h);
                }
                let first = entry.controls.is_empty();
                let local = LocalSession::new(recipient, control.clone());
                self.bus.registry().agents.insert(agent, session, local);
                entry.controls.insert(session, (control, family));
                entry.teams = teams;
                if first && let Some(cluster) = self.bus.cluster().cloned() {
                    ctx.spawn(
                        async move {
                            if let Err(e) = cluster.agent_here(agent).await {
                                tracing::warn!(agent_id = %agent, error = %e, "could not record presence");
                            }
                        }
                        .into_actor(self),
                    );
                }
            }
            AgentEvent::Disconnected { agent, session } => {
                self.bus.registry().agents.remove(agent, session);
                let Some(entry) = self.agents.get_mut(&agent) else {
                    return;
                };
                entry.controls.remove(&session);
                if entry.controls.is_empty()
                    && let Some(cluster) = self.bus.cluster().cloned()
                {
                    ctx.spawn(
                        async move {
                            if let Err(e) = cluster.agent_gone(agent).await {
                                tracing::warn!(agent_id = %agent, error = %e, "could not clear presence");
                            }
                        }
                        .into_actor(self),
                    );
                }
                self.start_absence_timers(agent, ctx);
            }
            AgentEvent::Deliver { agent, frame } => {
                self.bus.registry().agents.deliver(agent, &frame);
            }
            AgentEvent::Changed { agent } => self.refresh_agent_in_teams(ctx, agent),
            AgentEvent::WentOffline { agent } => {
                self.refresh_agent_in_teams(ctx, agent);
                self.requeue_all(agent);
            }
            AgentEvent::Kick {
                agent,
                family,
                reason,
                reconnect,
            } => {
                if let Some(entry) = self.agents.get(&agent) {
                    for (control, f) in entry.controls.values() {
                        if family.as_ref().is_none_or(|only| only == f) {
                            let order = if reconnect {
                                Control::Reconnect(reason.clone())
                            } else {
                                Control::Kick(reason.clone())
                            };
                            let _ = control.try_send(order);
                        }
                    }
                }
            }
            AgentEvent::Follow {
                agent,
                conversation,
                after_seq,
            } => {
                if let Some(entry) = self.agents.get(&agent) {
                    for (control, _) in entry.controls.values() {
                        let _ = control.try_send(Control::Follow {
                            conversation,
                            after_seq,
                        });
                    }
                }
            }
        }
    }
}
