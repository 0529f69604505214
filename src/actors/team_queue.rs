//! A team's queue: the conversations waiting in it and the team's agents
//! with status, load and skills, published live to watchers. With
//! `auto_assign` on, it runs the routing plan (`domain::routing::plan`)
//! whenever the queue or an agent changes and carries each assignment out
//! through the conversation's conditional write; it overflows conversations
//! that waited longer than the team allows to the fallback team.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use actix::prelude::*;
use chrono::Utc;

use super::conversation::{AutoAssign, Overflow};
use super::waiting::{LoadTicket, Waiting};
use super::{ActorError, Deliver, SessionId};
use crate::bus::envelope::ActorKey;
use crate::bus::{Bus, SessionRef};
use crate::domain::protocol::{AgentLoad, ConversationView, ServerFrame, Waiting as WireWaiting};
use crate::domain::routing::{self, AgentState, QueuedConversation};
use crate::domain::{AgentStatus, ConversationId, TeamId, UserId};
use crate::store::{self, Db};

/// How often overflow deadlines are checked (and the plan re-run, as a
/// safety net for a missed trigger). In memory, no database polling.
const TICK: Duration = Duration::from_secs(1);

/// Least time between two `queue.update`s to watchers. Each one carries the
/// whole queue, so a burst of changes (a backlog draining into free agents)
/// is published as its latest state instead of once per change, which cost
/// a serialisation of the whole waiting list per assignment.
const PUBLISH_GAP: Duration = Duration::from_millis(20);

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
    /// Assignments committed and answered, with the number of the last read
    /// begun before the answer: that read (or an earlier one) cannot show
    /// them, so they count in their agent's load until a later read of the
    /// agent is applied. Without this, a read begun just before a commit
    /// and applied just after made the agent look one conversation emptier,
    /// and the next plan overfilled it (refused by the store, then a reload).
    answered: HashMap<ConversationId, (UserId, u64)>,
    /// Agents reserved for conversations being created ([`Reserve`]), by
    /// token, with the number of the last read begun when reserved: they
    /// count in their agent's load until settled ([`Settle`]).
    reserved: HashMap<u64, (UserId, u64)>,
    /// The last reservation token given out.
    last_token: u64,
    /// A reload is running; another was asked for meanwhile.
    reloading: bool,
    reload_again: bool,
    /// The last load from the store failed: the queue holds less than the
    /// store (after a failed first load, nothing at all, and auto-assign
    /// off), so each tick tries again until a load succeeds.
    stale: bool,
    /// How often the queue re-reads the store though nothing asked it to
    /// (`realtime.queue_resync_s`).
    resync: Duration,
    /// Agents to re-read (their status, load or skills changed), and
    /// whether such a read is running.
    agents_pending: HashSet<UserId>,
    refreshing: bool,
    /// Number of the last read of agents begun (full reloads and agent
    /// refreshes share it), and per agent the number of the read its entry
    /// comes from: a read begun earlier never overwrites a later one.
    reads: u64,
    agent_read: HashMap<UserId, u64>,
    /// A `queue.update` went out less than [`PUBLISH_GAP`] ago; something
    /// changed since.
    publish_hold: bool,
    publish_dirty: bool,
    /// SLA state of waiting conversations (`warning`, `breached`).
    sla: HashMap<ConversationId, String>,
    watchers: HashMap<SessionId, SessionRef>,
}

/// Everything a queue loads from the store.
struct Loaded {
    settings: TeamSettings,
    waiting: Vec<QueuedConversation>,
    agents: Vec<AgentRow>,
}

/// One agent of the team as stored.
struct AgentRow {
    /// Its state, with `load` 0: the load is computed when applied.
    state: AgentState,
    name: String,
    /// The open conversations it holds.
    assigned: Vec<ConversationId>,
}

impl TeamQueue {
    /// A queue that loads itself when started and re-reads the store every
    /// `resync`.
    pub fn new(team: TeamId, db: Db, bus: Bus, resync: Duration) -> Self {
        TeamQueue {
            team,
            db,
            bus,
            stale: false,
            resync,
            settings: TeamSettings::default(),
            waiting: Waiting::default(),
            agents: Vec::new(),
            names: HashMap::new(),
            in_flight: HashMap::new(),
            answered: HashMap::new(),
            reserved: HashMap::new(),
            last_token: 0,
            reloading: false,
            reload_again: false,
            agents_pending: HashSet::new(),
            refreshing: false,
            reads: 0,
            agent_read: HashMap::new(),
            publish_hold: false,
            publish_dirty: false,
            sla: HashMap::new(),
            watchers: HashMap::new(),
        }
    }

    fn wire_waiting(&self) -> Vec<WireWaiting> {
        self.waiting
            .list()
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

    /// Sends watchers `extra` (if any) now, then a `queue.update`: now, or
    /// if one went out less than [`PUBLISH_GAP`] ago, once that gap has
    /// passed, with the state as it is then. Watchers that cannot take the
    /// frames are dropped. Nothing is serialised without watchers.
    fn publish(&mut self, ctx: &mut Context<Self>, extra: Option<Deliver>) {
        if self.watchers.is_empty() {
            return;
        }
        if let Some(frame) = extra {
            self.deliver(&frame);
        }
        if self.publish_hold {
            self.publish_dirty = true;
            return;
        }
        let update = Deliver::frame(&self.snapshot(false));
        self.deliver(&update);
        self.publish_hold = true;
        ctx.run_later(PUBLISH_GAP, |act, ctx| {
            act.publish_hold = false;
            if std::mem::take(&mut act.publish_dirty) {
                act.publish(ctx, None);
            }
        });
    }

    fn deliver(&mut self, frame: &Deliver) {
        let key = Some(ActorKey::Team(self.team));
        for s in self.bus.deliver(frame, self.watchers.values(), key) {
            self.watchers.remove(&s);
        }
    }

    /// The live entry for a stored agent row; its idle time is kept. Its
    /// load is what it holds as stored plus the assignments to it still
    /// being written or just answered that the store did not show yet
    /// (`pending`, from [`Self::pending`]).
    fn agent_entry(&self, row: AgentRow, pending: &HashMap<UserId, PendingLoad>) -> AgentState {
        let mut a = row.state;
        a.load = load_with(a.id, &row.assigned, pending);
        // `agents` is kept sorted by id.
        if let Ok(i) = self.agents.binary_search_by_key(&a.id.0, |k| k.id.0) {
            a.idle_since = self.agents[i].idle_since;
        }
        a
    }

    /// Applies a reload begun with `ticket`, unless a newer one was
    /// applied already (then its agents and settings are stale too).
    /// The assignments not yet in the store's view, by agent: in flight,
    /// answered since the reads applied began, and reserved.
    fn pending(&self) -> HashMap<UserId, PendingLoad> {
        pending_by_agent(&self.in_flight, &self.answered, &self.reserved)
    }

    /// Agents whose entries come from a read begun after read `read`.
    fn fresher_than(&self, read: u64) -> HashSet<UserId> {
        self.agent_read
            .iter()
            .filter(|(_, r)| **r > read)
            .map(|(id, _)| *id)
            .collect()
    }

    fn apply(&mut self, ticket: LoadTicket, read: u64, loaded: Option<Loaded>) -> bool {
        let Some(loaded) = loaded else {
            self.waiting.finish_load(ticket, None);
            return false;
        };
        if !self.waiting.finish_load(ticket, Some(loaded.waiting)) {
            return false;
        }
        self.settings = loaded.settings;
        let waiting = &self.waiting;
        self.sla.retain(|id, _| waiting.contains(*id));
        // Agents refreshed since this reload began keep what they have
        // (an entry, or being absent from the team).
        let fresher = self.fresher_than(read);
        let pending = self.pending();
        let mut agents: Vec<AgentState> = self
            .agents
            .iter()
            .filter(|a| fresher.contains(&a.id))
            .cloned()
            .collect();
        for row in loaded.agents {
            let id = row.state.id;
            if fresher.contains(&id) {
                continue;
            }
            self.agent_read.insert(id, read);
            self.names.insert(id, row.name.clone());
            agents.push(self.agent_entry(row, &pending));
        }
        agents.sort_by_key(|a| a.id.0);
        self.agents = agents;
        // Every agent's entry now comes from this read or a later one, and
        // both began after these answers: they show those assignments.
        self.answered.retain(|_, (_, before)| *before >= read);
        true
    }

    /// Applies a refresh (read number `read`) of the agents `asked`: each
    /// one found is updated, each one missing (no longer an active member)
    /// leaves the queue; a newer read of an agent wins. Returns the agents
    /// updated.
    fn apply_agents(&mut self, read: u64, asked: &[UserId], rows: Vec<AgentRow>) -> Vec<UserId> {
        let mut rows: HashMap<UserId, AgentRow> =
            rows.into_iter().map(|r| (r.state.id, r)).collect();
        let mut updated = Vec::new();
        let pending = self.pending();
        for id in asked {
            if self.agent_read.get(id).is_some_and(|r| *r > read) {
                continue;
            }
            self.agent_read.insert(*id, read);
            self.answered
                .retain(|_, (agent, before)| agent != id || *before >= read);
            match rows.remove(id) {
                Some(row) => {
                    self.names.insert(*id, row.name.clone());
                    let entry = self.agent_entry(row, &pending);
                    match self.agents.binary_search_by_key(&id.0, |a| a.id.0) {
                        Ok(i) => self.agents[i] = entry,
                        Err(i) => self.agents.insert(i, entry),
                    }
                    updated.push(*id);
                }
                None => self.agents.retain(|a| a.id != *id),
            }
        }
        updated
    }

    /// Re-reads `agent` (coalesced with other agents asked for meanwhile:
    /// one read in flight), then publishes `presence` for each agent read
    /// and the queue, and routes. Only the agents are read: an assignment
    /// changes one agent's load, and re-reading the whole waiting list for
    /// each one made a large backlog drain slowly.
    fn refresh_agent(&mut self, ctx: &mut Context<Self>, agent: UserId) {
        self.agents_pending.insert(agent);
        if self.refreshing {
            return;
        }
        self.refreshing = true;
        let asked: Vec<UserId> = self.agents_pending.drain().collect();
        self.reads += 1;
        let read = self.reads;
        let db = self.db.clone();
        let team = self.team;
        let only = asked.clone();
        ctx.spawn(
            async move { load_agents(&db, team, Some(&only)).await }
                .into_actor(self)
                .map(move |res, act, ctx| {
                    act.refreshing = false;
                    match res {
                        Ok(rows) => {
                            for id in act.apply_agents(read, &asked, rows) {
                                let frame = act.agents.iter().find(|a| a.id == id).map(|a| {
                                    Deliver::frame(&ServerFrame::Presence {
                                        agent_id: a.id.0,
                                        status: a.status,
                                        load: i64::from(a.load),
                                        capacity: i32::try_from(a.capacity)
                                            .unwrap_or(i32::MAX),
                                    })
                                });
                                act.publish(ctx, frame);
                            }
                            act.publish(ctx, None);
                            act.route(ctx);
                        }
                        Err(e) => {
                            tracing::warn!(team_id = %act.team, error = %e, "could not refresh agents; retrying");
                            // Not at once: a store that is down would make
                            // this a busy loop. The asked agents wait for
                            // the retry with any asked for meanwhile.
                            act.agents_pending.extend(asked);
                            act.refreshing = true;
                            ctx.run_later(TICK, |act, ctx| {
                                act.refreshing = false;
                                if let Some(next) = act.agents_pending.iter().next().copied() {
                                    act.refresh_agent(ctx, next);
                                }
                            });
                            return;
                        }
                    }
                    if let Some(next) = act.agents_pending.iter().next().copied() {
                        act.refresh_agent(ctx, next);
                    }
                }),
        );
    }

    /// Reloads everything from the store, then publishes the queue and
    /// routes. Coalesced: while a reload runs, further requests only mark
    /// that one more is needed, so a burst of refused assignments costs two
    /// reloads, not one each (which starved the database pool under load).
    fn reload(&mut self, ctx: &mut Context<Self>) {
        if self.reloading {
            self.reload_again = true;
            return;
        }
        self.reloading = true;
        self.reload_again = false;
        let db = self.db.clone();
        let team = self.team;
        let ticket = self.waiting.begin_load();
        self.reads += 1;
        let read = self.reads;
        ctx.spawn(async move { load(&db, team).await }.into_actor(self).map(
            move |res, act, ctx| {
                act.reloading = false;
                act.stale = res.is_err();
                match res {
                    Ok(loaded) => {
                        act.apply(ticket, read, Some(loaded));
                        act.publish(ctx, None);
                        act.route(ctx);
                    }
                    Err(e) => {
                        act.apply(ticket, read, None);
                        tracing::warn!(team_id = %act.team, error = %e, "could not reload queue");
                    }
                }
                if act.reload_again {
                    act.reload(ctx);
                }
            },
        ));
    }

    /// Runs the routing plan and carries it out. Each assignment is a
    /// conditional write through the conversation actor; the tentative
    /// loads here only keep one plan from overfilling an agent.
    fn route(&mut self, ctx: &mut Context<Self>) {
        self.route_with(ctx, None);
    }

    /// [`Self::route`] with `newcomer`, a conversation not created yet, in
    /// its place in serving order ([`NEWCOMER`] stands for its id): every
    /// assignment the plan makes to a waiting one is carried out; returns
    /// the agent it gives the newcomer.
    fn route_with(
        &mut self,
        ctx: &mut Context<Self>,
        newcomer: Option<&QueuedConversation>,
    ) -> Option<UserId> {
        if !self.settings.auto_assign {
            return None;
        }
        let in_flight = &self.in_flight;
        let not_in_flight = |c: &&QueuedConversation| !in_flight.contains_key(&c.id);
        let now = Utc::now();
        // The waiting list is kept in serving order.
        let plan = match newcomer {
            Some(n) => routing::plan_in_order(
                self.waiting.with_newcomer(n).filter(not_in_flight),
                &mut self.agents,
                now,
            ),
            None => routing::plan_in_order(
                self.waiting.list().filter(not_in_flight),
                &mut self.agents,
                now,
            ),
        };
        let mut for_newcomer = None;
        for a in plan {
            if a.conversation == NEWCOMER {
                for_newcomer = Some(a.agent);
            } else {
                self.carry_out(ctx, a);
            }
        }
        for_newcomer
    }

    /// Asks the conversation of a planned assignment to make it.
    fn carry_out(&mut self, ctx: &mut Context<Self>, a: routing::Assignment) {
        self.in_flight.insert(a.conversation, Some(a.agent));
        let bus = self.bus.clone();
        self.ask_conversation(
            ctx,
            a.conversation,
            Asked::Assign { agent: a.agent },
            async move {
                let conv = bus.conversation(a.conversation).await?;
                conv.ask(AutoAssign { agent: a.agent }).await?
            },
        );
    }

    /// Asks a conversation for an assignment or an overflow in a task of its
    /// own, which reports back with [`Answered`]. Not spawned into this
    /// actor's context: actix polls every future of a context on each of its
    /// wakes, so thousands of asks in flight (a backlog draining) were each
    /// polled again whenever any of them finished or any message arrived —
    /// quadratic, a fifth of the server's CPU in a 10,000-conversation drain.
    fn ask_conversation(
        &self,
        ctx: &Context<Self>,
        conversation: ConversationId,
        asked: Asked,
        ask: impl Future<Output = Result<ConversationView, ActorError>> + 'static,
    ) {
        let me = ctx.address();
        actix_rt::spawn(async move {
            let result = ask.await.map(drop);
            me.do_send(Answered {
                conversation,
                asked,
                result,
            });
        });
    }

    /// `conversation` waits here now: watchers see it, and it is routed.
    fn enqueue(&mut self, ctx: &mut Context<Self>, conversation: QueuedConversation) {
        self.waiting.enqueue(conversation);
        self.publish(ctx, None);
        self.route(ctx);
    }

    /// A conversation left this queue (assigned or moved on): forgotten
    /// here, and watchers see it go.
    fn left(&mut self, ctx: &mut Context<Self>, id: ConversationId) {
        self.waiting.remove(id);
        self.sla.remove(&id);
        self.publish(ctx, None);
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
            .filter(|c| !self.in_flight.contains_key(&c.id) && c.waiting_since + after <= now)
            .map(|c| c.id)
            .collect();
        for id in due {
            self.in_flight.insert(id, None);
            let bus = self.bus.clone();
            let from = self.team;
            self.ask_conversation(ctx, id, Asked::Overflow { from, to }, async move {
                let conv = bus.conversation(id).await?;
                conv.ask(Overflow { from, to }).await?
            });
        }
    }
}

/// What a queue asked a conversation for.
#[derive(Debug, Clone, Copy)]
enum Asked {
    /// The automatic assignment to this agent.
    Assign { agent: UserId },
    /// A move to the fallback team.
    Overflow { from: TeamId, to: TeamId },
}

/// A conversation answered an [`Asked`] (see
/// [`TeamQueue::ask_conversation`]).
#[derive(Message)]
#[rtype(result = "()")]
struct Answered {
    conversation: ConversationId,
    asked: Asked,
    result: Result<(), ActorError>,
}

impl Handler<Answered> for TeamQueue {
    type Result = ();

    fn handle(&mut self, msg: Answered, ctx: &mut Self::Context) {
        let id = msg.conversation;
        self.in_flight.remove(&id);
        match (msg.asked, msg.result) {
            (Asked::Assign { agent }, Ok(())) => {
                self.answered.insert(id, (agent, self.reads));
                self.left(ctx, id);
            }
            (Asked::Assign { agent }, Err(e)) => {
                // Our view was stale (agent went away, capacity used
                // elsewhere, conversation taken): re-read.
                tracing::debug!(team_id = %self.team, conversation_id = %id,
                    agent_id = %agent, error = %e, "assignment refused; reloading");
                self.refresh_agent(ctx, agent);
                self.reload(ctx);
            }
            (Asked::Overflow { from, to }, Ok(())) => {
                tracing::info!(conversation_id = %id, from = %from, to = %to, "overflowed");
                self.left(ctx, id);
            }
            (Asked::Overflow { .. }, Err(e)) => {
                tracing::debug!(conversation_id = %id, error = %e, "overflow refused")
            }
        }
    }
}

/// `agent`'s load: the conversations it holds as stored, and those being
/// assigned to it (`pending`) that the store did not show yet. A set
/// union: an assignment committed but not yet answered is in both, and
/// counting it twice made agents look full, which stalled a draining
/// backlog.
fn load_with(
    agent: UserId,
    assigned: &[ConversationId],
    pending: &HashMap<UserId, PendingLoad>,
) -> u32 {
    let extra = pending.get(&agent).map_or(0, |p| {
        p.conversations
            .iter()
            .filter(|c| !assigned.contains(c))
            .count()
            + p.reserved
    });
    u32::try_from(assigned.len() + extra).unwrap_or(u32::MAX)
}

/// What an agent holds that the store may not show yet.
#[derive(Debug, Default)]
struct PendingLoad {
    /// Assignments in flight or answered.
    conversations: Vec<ConversationId>,
    /// Reservations for conversations not created yet (so not stored).
    reserved: usize,
}

/// The assignments in flight (overflows have none), those answered but
/// maybe not yet read and the reservations, by agent: built once per
/// reload or refresh rather than scanning the maps once per agent.
fn pending_by_agent(
    in_flight: &HashMap<ConversationId, Option<UserId>>,
    answered: &HashMap<ConversationId, (UserId, u64)>,
    reserved: &HashMap<u64, (UserId, u64)>,
) -> HashMap<UserId, PendingLoad> {
    let mut out: HashMap<UserId, PendingLoad> = HashMap::new();
    for (c, a) in in_flight {
        if let Some(a) = a {
            out.entry(*a).or_default().conversations.push(*c);
        }
    }
    for (c, (a, _)) in answered {
        out.entry(*a).or_default().conversations.push(*c);
    }
    for (a, _) in reserved.values() {
        out.entry(*a).or_default().reserved += 1;
    }
    out
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
    let agents = load_agents(db, team, None).await?;
    Ok(Loaded {
        settings,
        waiting,
        agents,
    })
}

/// Reads the team's active members (or those of them in `only`) with
/// status, capacity, skills and the conversations they hold.
async fn load_agents(
    db: &Db,
    team: TeamId,
    only: Option<&[UserId]>,
) -> Result<Vec<AgentRow>, store::StoreError> {
    let members = store::users::active_members(db, team, only).await?;
    if members.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<UserId> = members.iter().map(|u| UserId(u.id)).collect();
    let raw: Vec<i64> = ids.iter().map(|u| u.0).collect();
    // Two reads at once: a refresh follows every assignment and close.
    let (mut assigned, mut skills) = futures_util::try_join!(
        store::conversations::assigned_ids_of(db, &ids),
        store::users::skills_of(db, &raw),
    )?;
    let now = Utc::now();
    Ok(members
        .into_iter()
        .map(|user| {
            let id = UserId(user.id);
            AgentRow {
                state: AgentState {
                    id,
                    status: AgentStatus::parse(&user.status).unwrap_or(AgentStatus::Offline),
                    load: 0,
                    capacity: u32::try_from(user.capacity).unwrap_or(0),
                    skills: skills.remove(&user.id).unwrap_or_default(),
                    idle_since: user.last_login_at.unwrap_or(now),
                },
                name: user.name,
                assigned: assigned.remove(&id).unwrap_or_default(),
            }
        })
        .collect())
}

impl Actor for TeamQueue {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(1024);
        let db = self.db.clone();
        let team = self.team;
        let ticket = self.waiting.begin_load();
        self.reads += 1;
        let read = self.reads;
        ctx.wait(async move { load(&db, team).await }.into_actor(self).map(
            move |res, act, ctx| match res {
                Ok(loaded) => {
                    act.apply(ticket, read, Some(loaded));
                    act.route(ctx);
                }
                Err(e) => {
                    act.stale = true;
                    act.apply(ticket, read, None);
                    tracing::error!(team_id = %act.team, error = %e, "could not load queue; retrying");
                }
            },
        ));
        ctx.run_interval(TICK, |act, ctx| {
            if act.stale {
                act.reload(ctx);
            }
            act.overflow(ctx);
            act.route(ctx);
        });
        ctx.run_interval(self.resync, |act, ctx| act.reload(ctx));
    }
}

/// Makes sure every team's queue runs, now and every `every`: a queue
/// starts on first use, so after a restart (or a node's death) a team whose
/// conversations wait without anyone sending, watching or joining would
/// have no queue, and its overflow timer would never fire. Resolving a team
/// through the bus starts its queue here unless a live node hosts it.
pub fn keep_every_queue_running(db: Db, bus: Bus, every: Duration) {
    actix_rt::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let mut after = None;
            loop {
                let page = match store::teams::list(&db, after, 500).await {
                    Ok(page) => page,
                    Err(e) => {
                        tracing::warn!(error = %e, "could not list teams to start their queues");
                        break;
                    }
                };
                for team in &page {
                    if let Err(e) = bus.team(TeamId(team.id)).await {
                        tracing::warn!(team_id = team.id, error = %e, "could not start a team queue");
                    }
                }
                match page.last() {
                    Some(last) if page.len() == 500 => after = Some(last.id),
                    _ => break,
                }
            }
        }
    });
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
        self.enqueue(ctx, msg.conversation);
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

    fn handle(&mut self, msg: Dequeue, ctx: &mut Self::Context) {
        self.sla.remove(&msg.conversation);
        if self.waiting.remove(msg.conversation) {
            self.publish(ctx, None);
        }
    }
}

/// Stands for the conversation being created in the plan made for a
/// [`Reserve`]: stored ids start at 1 (and the bus refuses ids ≤ 0), so it
/// cannot be taken for a waiting one.
const NEWCOMER: ConversationId = ConversationId(0);

/// A conversation is about to be created in this queue: if routing would
/// give it an agent now, in its place in serving order among those
/// waiting, that agent is reserved for it and its creator writes it
/// already assigned (one commit instead of a queued insert and an
/// assignment). Whatever else the plan assigns is carried out as usual.
/// Every reservation given out must be [`Settle`]d.
#[derive(Message, serde::Serialize, serde::Deserialize)]
#[rtype(result = "Option<Reservation>")]
pub struct Reserve {
    /// Its priority.
    pub priority: i32,
    /// The skills it requires (name → least level).
    pub required: BTreeMap<String, u8>,
}

/// An agent held for a conversation being created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Reservation {
    /// Names it in this queue.
    pub token: u64,
    /// The agent.
    pub agent: UserId,
}

impl Handler<Reserve> for TeamQueue {
    type Result = Option<Reservation>;

    fn handle(&mut self, msg: Reserve, ctx: &mut Self::Context) -> Self::Result {
        let newcomer = QueuedConversation {
            id: NEWCOMER,
            priority: msg.priority,
            waiting_since: Utc::now(),
            required: msg.required,
        };
        let agent = self.route_with(ctx, Some(&newcomer))?;
        self.last_token += 1;
        self.reserved.insert(self.last_token, (agent, self.reads));
        Some(Reservation {
            token: self.last_token,
            agent,
        })
    }
}

/// What became of the conversation a [`Reservation`] was made for.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum Settled {
    /// It was created assigned to the reserved agent.
    Assigned(ConversationId),
    /// It was created waiting (the agent went away or filled up before
    /// the commit): it is queued here now.
    Queued(QueuedConversation),
    /// It was not created.
    Abandoned,
}

/// A reservation is used up: the agent's load is what the store says
/// again, plus the assignment if it was made.
#[derive(Message, serde::Serialize, serde::Deserialize)]
#[rtype(result = "()")]
pub struct Settle {
    /// The reservation.
    pub reservation: Reservation,
    /// What came of it.
    pub outcome: Settled,
}

impl Handler<Settle> for TeamQueue {
    type Result = ();

    fn handle(&mut self, msg: Settle, ctx: &mut Self::Context) {
        let agent = msg.reservation.agent;
        // Unknown after a restart of this queue, whose load showed none.
        let since = self.reserved.remove(&msg.reservation.token).map(|(_, r)| r);
        match msg.outcome {
            Settled::Assigned(id) => {
                // Counted as an answered assignment until a read shows it.
                self.answered.insert(id, (agent, self.reads));
                // A read applied while reserved may have shown the commit
                // beside the reservation (counted twice): read again.
                if since.is_some_and(|r| self.agent_read.get(&agent).is_some_and(|a| *a > r)) {
                    self.refresh_agent(ctx, agent);
                }
            }
            Settled::Queued(conversation) => {
                // Our view of the agent was stale.
                self.refresh_agent(ctx, agent);
                self.enqueue(ctx, conversation);
            }
            Settled::Abandoned => self.refresh_agent(ctx, agent),
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
/// it, publish `presence` for it, and route.
#[derive(Message, serde::Serialize, serde::Deserialize)]
#[rtype(result = "()")]
pub struct RefreshAgent {
    /// The agent.
    pub agent: UserId,
}

impl Handler<RefreshAgent> for TeamQueue {
    type Result = ();

    fn handle(&mut self, msg: RefreshAgent, ctx: &mut Self::Context) {
        self.refresh_agent(ctx, msg.agent);
    }
}

/// The team's settings or membership changed: reload everything.
#[derive(Message, serde::Serialize, serde::Deserialize)]
#[rtype(result = "()")]
pub struct Reload;

impl Handler<Reload> for TeamQueue {
    type Result = ();

    fn handle(&mut self, _: Reload, ctx: &mut Self::Context) {
        self.reload(ctx);
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
    /// The `notification` frame for watchers, serialised; `None` when it
    /// was announced before (the queue only marks the conversation).
    pub frame: Option<String>,
}

impl Handler<SlaAlert> for TeamQueue {
    type Result = ();

    fn handle(&mut self, msg: SlaAlert, ctx: &mut Self::Context) {
        // Only waiting conversations are listed; watchers still get the
        // notification for an assigned one (e.g. its resolution target).
        if self.waiting.contains(msg.conversation) {
            self.sla.insert(msg.conversation, msg.state);
        }
        self.publish(ctx, msg.frame.map(|f| Deliver(f.into())));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_assignment_committed_but_not_answered_counts_once() {
        let (agent, other) = (UserId(1), UserId(2));
        let in_flight: HashMap<ConversationId, Option<UserId>> = [
            (ConversationId(10), Some(agent)), // committed: also stored
            (ConversationId(11), Some(agent)), // not committed yet
            (ConversationId(12), Some(other)),
            (ConversationId(13), None), // an overflow
        ]
        .into_iter()
        .collect();
        let stored = [ConversationId(10), ConversationId(5)];
        let pending = pending_by_agent(&in_flight, &HashMap::new(), &HashMap::new());
        assert_eq!(load_with(agent, &stored, &pending), 3);
        assert_eq!(load_with(other, &[], &pending), 1);
        assert_eq!(load_with(UserId(3), &[], &pending), 0);
    }

    #[test]
    fn a_reservation_counts_in_its_agents_load_until_settled() {
        let (agent, other) = (UserId(1), UserId(2));
        let reserved: HashMap<u64, (UserId, u64)> =
            [(7, (agent, 3)), (8, (agent, 3)), (9, (other, 4))]
                .into_iter()
                .collect();
        let in_flight: HashMap<ConversationId, Option<UserId>> =
            [(ConversationId(10), Some(agent))].into_iter().collect();
        let pending = pending_by_agent(&in_flight, &HashMap::new(), &reserved);
        // Not created yet, so never among the stored: each counts once.
        assert_eq!(load_with(agent, &[ConversationId(5)], &pending), 4);
        assert_eq!(load_with(other, &[], &pending), 1);
        let settled = pending_by_agent(&in_flight, &HashMap::new(), &HashMap::new());
        assert_eq!(load_with(agent, &[ConversationId(5)], &settled), 2);
    }

    #[test]
    fn an_answered_assignment_a_read_did_not_show_still_counts_once() {
        let agent = UserId(1);
        let answered: HashMap<ConversationId, (UserId, u64)> =
            [(ConversationId(20), (agent, 4))].into_iter().collect();
        let pending = pending_by_agent(&HashMap::new(), &answered, &HashMap::new());
        // A read begun before the answer: the store did not show it yet.
        assert_eq!(load_with(agent, &[ConversationId(5)], &pending), 2);
        // One that shows it counts it once.
        assert_eq!(
            load_with(agent, &[ConversationId(5), ConversationId(20)], &pending),
            2
        );
    }
}
