//! A team's queue: the conversations waiting in it and the team's agents
//! with status, load and skills, published live to watchers. With
//! `auto_assign` on, it runs the routing plan (`domain::routing::plan`)
//! whenever the queue or an agent changes and carries each assignment out
//! through the conversation's conditional write; it overflows conversations
//! that waited longer than the team allows to the fallback team.

use std::collections::HashMap;
use std::time::Duration;

use actix::prelude::*;
use chrono::Utc;

use super::conversation::{AutoAssign, Overflow};
use super::waiting::{LoadTicket, Waiting};
use super::{Deliver, SessionId};
use crate::bus::envelope::ActorKey;
use crate::bus::{Bus, SessionRef};
use crate::domain::protocol::{AgentLoad, ServerFrame, Waiting as WireWaiting};
use crate::domain::routing::{self, AgentState, QueuedConversation};
use crate::domain::{AgentStatus, ConversationId, TeamId, UserId};
use crate::store::{self, Db};

/// How often overflow deadlines are checked (and the plan re-run, as a
/// safety net for a missed trigger). In memory, no database polling.
const TICK: Duration = Duration::from_secs(1);

/// The team's routing settings.
#[derive(Debug, Clone, Default)]
struct TeamSettings {
    auto_assign: bool,
    fallback: Option<TeamId>,
    overflow_after: Option<chrono::Duration>,
}

/// The live queue of one team.
pub struct TeamQueue {
    team: TeamId,
    db: Db,
    bus: Bus,
    settings: TeamSettings,
    /// Waiting conversations, safe against stale reloads.
    waiting: Waiting,
    agents: Vec<AgentState>,
    names: HashMap<UserId, String>,
    /// Assignments (to that agent) or overflows (`None`) sent and not
    /// answered yet: not offered again, and an agent's pending assignments
    /// count in its load, which a reload from the store cannot see yet.
    in_flight: HashMap<ConversationId, Option<UserId>>,
    /// A reload is running; another was asked for meanwhile; agents whose
    /// `presence` the next reload publishes.
    reloading: bool,
    reload_again: bool,
    presence_pending: std::collections::HashSet<UserId>,
    /// SLA state of waiting conversations (`warning`, `breached`).
    sla: HashMap<ConversationId, String>,
    watchers: HashMap<SessionId, SessionRef>,
}

/// Everything a queue loads from the store.
struct Loaded {
    settings: TeamSettings,
    waiting: Vec<QueuedConversation>,
    agents: Vec<(AgentState, String)>,
}

impl TeamQueue {
    /// A queue that loads itself when started.
    pub fn new(team: TeamId, db: Db, bus: Bus) -> Self {
        TeamQueue {
            team,
            db,
            bus,
            settings: TeamSettings::default(),
            waiting: Waiting::default(),
            agents: Vec::new(),
            names: HashMap::new(),
            in_flight: HashMap::new(),
            reloading: false,
            reload_again: false,
            presence_pending: std::collections::HashSet::new(),
            sla: HashMap::new(),
            watchers: HashMap::new(),
        }
    }

    fn wire_waiting(&self) -> Vec<WireWaiting> {
        self.waiting
            .list()
            .iter()
            .map(|c| WireWaiting {
                conversation_id: c.id.0,
                waiting_since: c.waiting_since,
                priority: c.priority,
                skills: c.required.keys().cloned().collect(),
                sla: self.sla.get(&c.id).cloned(),
            })
            .collect()
    }

    fn wire_agents(&self) -> Vec<AgentLoad> {
        self.agents
            .iter()
            .map(|a| AgentLoad {
                id: a.id.0,
                name: self.names.get(&a.id).cloned().unwrap_or_default(),
                status: a.status,
                load: i64::from(a.load),
                capacity: i32::try_from(a.capacity).unwrap_or(i32::MAX),
            })
            .collect()
    }

    fn snapshot(&self, initial: bool) -> ServerFrame {
        let (team_id, waiting, agents) = (self.team.0, self.wire_waiting(), self.wire_agents());
        if initial {
            ServerFrame::QueueSnapshot {
                team_id,
                waiting,
                agents,
            }
        } else {
            ServerFrame::QueueUpdate {
                team_id,
                waiting,
                agents,
            }
        }
    }

    /// Sends watchers `extra` (if any), then a `queue.update`; watchers
    /// that cannot take them are dropped.
    fn publish(&mut self, extra: Option<Deliver>) {
        let update = Deliver::frame(&self.snapshot(false));
        let key = Some(ActorKey::Team(self.team));
        let mut gone = Vec::new();
        for frame in extra.iter().chain(std::iter::once(&update)) {
            gone.extend(self.bus.deliver(frame, self.watchers.values(), key));
        }
        for s in gone {
            self.watchers.remove(&s);
        }
    }

    /// Applies a reload begun with `ticket`, unless a newer one was
    /// applied already (then its agents and settings are stale too).
    fn apply(&mut self, ticket: LoadTicket, loaded: Option<Loaded>) -> bool {
        let Some(loaded) = loaded else {
            self.waiting.finish_load(ticket, None);
            return false;
        };
        if !self.waiting.finish_load(ticket, Some(loaded.waiting)) {
            return false;
        }
        self.settings = loaded.settings;
        let live: std::collections::HashSet<ConversationId> =
            self.waiting.list().iter().map(|c| c.id).collect();
        self.sla.retain(|id, _| live.contains(id));
        let idle: HashMap<UserId, chrono::DateTime<Utc>> =
            self.agents.iter().map(|a| (a.id, a.idle_since)).collect();
        self.agents = loaded
            .agents
            .into_iter()
            .map(|(mut a, name)| {
                if let Some(t) = idle.get(&a.id) {
                    a.idle_since = *t;
                }
                self.names.insert(a.id, name);
                a
            })
            .collect();
        // Assignments still being written are not in the store's loads yet;
        // without them the next plan would overfill those agents and the
        // refusals would leave conversations waiting.
        for agent in self.in_flight.values().flatten() {
            if let Some(a) = self.agents.iter_mut().find(|a| a.id == *agent) {
                a.load += 1;
            }
        }
        true
    }

    /// Reloads everything from the store, then routes.
    /// Reloads from the store, then publishes (a `presence` frame for each
    /// agent in `presence_for`, then the queue) and routes. Coalesced: while
    /// a reload runs, further requests only mark that one more is needed, so
    /// a burst of refused assignments or agent changes costs two reloads,
    /// not one each (which starved the database pool under load).
    fn reload(&mut self, ctx: &mut Context<Self>, presence_for: Option<UserId>) {
        self.presence_pending.extend(presence_for);
        if self.reloading {
            self.reload_again = true;
            return;
        }
        self.reloading = true;
        self.reload_again = false;
        let db = self.db.clone();
        let team = self.team;
        let ticket = self.waiting.begin_load();
        let presence_for: Vec<UserId> = self.presence_pending.drain().collect();
        ctx.spawn(async move { load(&db, team).await }.into_actor(self).map(
            move |res, act, ctx| {
                act.reloading = false;
                match res {
                    Ok(loaded) => {
                        act.apply(ticket, Some(loaded));
                        for agent in presence_for {
                            let frame = act.agents.iter().find(|a| a.id == agent).map(|a| {
                                Deliver::frame(&ServerFrame::Presence {
                                    agent_id: a.id.0,
                                    status: a.status,
                                    load: i64::from(a.load),
                                    capacity: i32::try_from(a.capacity).unwrap_or(i32::MAX),
                                })
                            });
                            if frame.is_some() {
                                act.publish(frame);
                            }
                        }
                        act.publish(None);
                        act.route(ctx);
                    }
                    Err(e) => {
                        act.apply(ticket, None);
                        act.presence_pending.extend(presence_for);
                        tracing::warn!(team_id = %act.team, error = %e, "could not reload queue");
                    }
                }
                if act.reload_again {
                    act.reload(ctx, None);
                }
            },
        ));
    }

    /// Runs the routing plan and carries it out. Each assignment is a
    /// conditional write through the conversation actor; the tentative
    /// loads here only keep one plan from overfilling an agent.
    fn route(&mut self, ctx: &mut Context<Self>) {
        if !self.settings.auto_assign {
            return;
        }
        let candidates: Vec<QueuedConversation> = self
            .waiting
            .list()
            .iter()
            .filter(|c| !self.in_flight.contains_key(&c.id))
            .cloned()
            .collect();
        if candidates.is_empty() {
            return;
        }
        let now = Utc::now();
        let plan = routing::plan(&candidates, &mut self.agents, now);
        for a in plan {
            self.in_flight.insert(a.conversation, Some(a.agent));
            let bus = self.bus.clone();
            ctx.spawn(
                async move {
                    let conv = bus.conversation(a.conversation).await?;
                    conv.ask(AutoAssign { agent: a.agent }).await?
                }
                .into_actor(self)
                .map(move |res, act, ctx| {
                    act.in_flight.remove(&a.conversation);
                    match res {
                        Ok(_) => {
                            act.waiting.remove(a.conversation);
                            act.sla.remove(&a.conversation);
                            act.publish(None);
                        }
                        Err(e) => {
                            // Our view was stale (agent went away, capacity
                            // used elsewhere, conversation taken): re-read.
                            tracing::debug!(team_id = %act.team, conversation_id = %a.conversation,
                                agent_id = %a.agent, error = %e, "assignment refused; reloading");
                            act.reload(ctx, None);
                        }
                    }
                }),
            );
        }
    }

    /// Moves conversations past the team's overflow time to its fallback team.
    fn overflow(&mut self, ctx: &mut Context<Self>) {
        let (Some(to), Some(after)) = (self.settings.fallback, self.settings.overflow_after) else {
            return;
        };
        let now = Utc::now();
        let due: Vec<ConversationId> = self
            .waiting
            .list()
            .iter()
            .filter(|c| !self.in_flight.contains_key(&c.id) && c.waiting_since + after <= now)
            .map(|c| c.id)
            .collect();
        for id in due {
            self.in_flight.insert(id, None);
            let bus = self.bus.clone();
            let from = self.team;
            ctx.spawn(
                async move {
                    let conv = bus.conversation(id).await?;
                    conv.ask(Overflow { from, to }).await?
                }
                .into_actor(self)
                .map(move |res, act, _| {
                    act.in_flight.remove(&id);
                    match res {
                        Ok(_) => {
                            tracing::info!(conversation_id = %id, from = %from, to = %to, "overflowed");
                            act.waiting.remove(id);
                            act.sla.remove(&id);
                            act.publish(None);
                        }
                        Err(e) => tracing::debug!(conversation_id = %id, error = %e, "overflow refused"),
                    }
                }),
            );
        }
    }
}

/// Reads the team's settings, waiting conversations (with skills) and
/// active members (with status, load, capacity and skills).
async fn load(db: &Db, team: TeamId) -> Result<Loaded, store::StoreError> {
    let row = store::teams::find(db, team).await?;
    let settings = row
        .map(|t| TeamSettings {
            auto_assign: t.auto_assign,
            fallback: t.fallback_team_id.map(TeamId),
            overflow_after: t
                .overflow_after_s
                .map(|s| chrono::Duration::seconds(i64::from(s))),
        })
        .unwrap_or_default();
    let rows = store::conversations::queued_in_team(db, team).await?;
    let ids: Vec<ConversationId> = rows.iter().map(|c| ConversationId(c.id)).collect();
    let mut skills = store::conversations::required_skills(db, &ids).await?;
    let waiting = rows
        .into_iter()
        .map(|c| QueuedConversation {
            id: ConversationId(c.id),
            priority: c.priority,
            waiting_since: c.waiting_since.unwrap_or(c.created_at),
            required: skills.remove(&ConversationId(c.id)).unwrap_or_default(),
        })
        .collect();
    let member_ids = store::teams::member_ids(db, team).await?;
    let loads = store::conversations::loads_of(db, &member_ids).await?;
    let members = store::users::active_among(db, &member_ids).await?;
    let now = Utc::now();
    let agents = store::users::with_details(db, members)
        .await?
        .into_iter()
        .map(|r| {
            let id = UserId(r.user.id);
            let state = AgentState {
                id,
                status: AgentStatus::parse(&r.user.status).unwrap_or(AgentStatus::Offline),
                load: u32::try_from(loads.get(&id).copied().unwrap_or(0)).unwrap_or(u32::MAX),
                capacity: u32::try_from(r.user.capacity).unwrap_or(0),
                skills: r.skills,
                idle_since: r.user.last_login_at.unwrap_or(now),
            };
            (state, r.user.name)
        })
        .collect();
    Ok(Loaded {
        settings,
        waiting,
        agents,
    })
}

impl Actor for TeamQueue {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(1024);
        let db = self.db.clone();
        let team = self.team;
        let ticket = self.waiting.begin_load();
        ctx.wait(async move { load(&db, team).await }.into_actor(self).map(
            move |res, act, ctx| match res {
                Ok(loaded) => {
                    act.apply(ticket, Some(loaded));
                    act.route(ctx);
                }
                Err(e) => {
                    act.apply(ticket, None);
                    tracing::error!(team_id = %act.team, error = %e, "could not load queue")
                }
            },
        ));
        ctx.run_interval(TICK, |act, ctx| {
            act.overflow(ctx);
            act.route(ctx);
        });
    }
}

/// A conversation starts (or goes back to) waiting here.
#[derive(Message, serde::Serialize, serde::Deserialize)]
#[rtype(result = "()")]
pub struct Enqueue {
    /// It, with its wait time, priority and skills.
    pub conversation: QueuedConversation,
}

impl Handler<Enqueue> for TeamQueue {
    type Result = ();

    fn handle(&mut self, msg: Enqueue, ctx: &mut Self::Context) {
        self.waiting.enqueue(msg.conversation);
        self.publish(None);
        self.route(ctx);
    }
}

/// A conversation left the queue (taken, closed, moved).
#[derive(Message, serde::Serialize, serde::Deserialize)]
#[rtype(result = "()")]
pub struct Dequeue {
    /// It.
    pub conversation: ConversationId,
}

impl Handler<Dequeue> for TeamQueue {
    type Result = ();

    fn handle(&mut self, msg: Dequeue, _: &mut Self::Context) {
        self.sla.remove(&msg.conversation);
        if self.waiting.remove(msg.conversation) {
            self.publish(None);
        }
    }
}

/// Watch this queue: a `queue.snapshot` now, `queue.update` on every change.
#[derive(Message, serde::Serialize, serde::Deserialize)]
#[rtype(result = "()")]
pub struct Watch {
    /// The socket.
    pub session: SessionId,
    /// Where its frames go.
    pub to: SessionRef,
}

impl Handler<Watch> for TeamQueue {
    type Result = ();

    fn handle(&mut self, msg: Watch, _: &mut Self::Context) {
        let snapshot = Deliver::frame(&self.snapshot(true));
        if self
            .bus
            .deliver_one(&snapshot, &msg.to, Some(ActorKey::Team(self.team)))
        {
            self.watchers.insert(msg.session, msg.to);
        }
    }
}

/// Watchers on another node that are gone.
#[derive(Message, serde::Serialize, serde::Deserialize)]
#[rtype(result = "()")]
pub struct WatchersGone {
    /// Their sockets.
    pub sessions: Vec<SessionId>,
}

impl Handler<WatchersGone> for TeamQueue {
    type Result = ();

    fn handle(&mut self, msg: WatchersGone, _: &mut Self::Context) {
        for s in msg.sessions {
            self.watchers.remove(&s);
        }
    }
}

/// Another node runs this team's queue now: stop here. Its watchers here
/// are told to reconnect (they then watch the queue where it runs).
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopQueue;

impl Handler<StopQueue> for TeamQueue {
    type Result = ();

    fn handle(&mut self, _: StopQueue, ctx: &mut Self::Context) {
        self.bus.kick(
            self.watchers.values(),
            "this queue moved to another node; reconnect",
        );
        self.watchers.clear();
        ctx.stop();
    }
}

/// Stop watching.
#[derive(Message, serde::Serialize, serde::Deserialize)]
#[rtype(result = "()")]
pub struct Unwatch {
    /// The socket.
    pub session: SessionId,
}

impl Handler<Unwatch> for TeamQueue {
    type Result = ();

    fn handle(&mut self, msg: Unwatch, _: &mut Self::Context) {
        self.watchers.remove(&msg.session);
    }
}

/// One agent's status, load, capacity or skills may have changed: re-read
/// the team, publish `presence` for it, and route.
#[derive(Message, serde::Serialize, serde::Deserialize)]
#[rtype(result = "()")]
pub struct RefreshAgent {
    /// The agent.
    pub agent: UserId,
}

impl Handler<RefreshAgent> for TeamQueue {
    type Result = ();

    fn handle(&mut self, msg: RefreshAgent, ctx: &mut Self::Context) {
        self.reload(ctx, Some(msg.agent));
    }
}

/// The team's settings or membership changed: reload everything.
#[derive(Message, serde::Serialize, serde::Deserialize)]
#[rtype(result = "()")]
pub struct Reload;

impl Handler<Reload> for TeamQueue {
    type Result = ();

    fn handle(&mut self, _: Reload, ctx: &mut Self::Context) {
        self.reload(ctx, None);
    }
}

/// An SLA of one of this team's conversations is about to be (or was)
/// missed: mark it in the queue and tell the watchers.
#[derive(Message, serde::Serialize, serde::Deserialize)]
#[rtype(result = "()")]
pub struct SlaAlert {
    /// The conversation.
    pub conversation: ConversationId,
    /// `warning` or `breached`.
    pub state: String,
    /// The `notification` frame for watchers, serialised.
    pub frame: String,
}

impl Handler<SlaAlert> for TeamQueue {
    type Result = ();

    fn handle(&mut self, msg: SlaAlert, _: &mut Self::Context) {
        // Only waiting conversations are listed; watchers still get the
        // notification for an assigned one (e.g. its resolution target).
        if self.waiting.contains(msg.conversation) {
            self.sla.insert(msg.conversation, msg.state);
        }
        self.publish(Some(Deliver(msg.frame.into())));
    }
}
