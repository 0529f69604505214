//! The Conversation actor: the single writer of one conversation.
//!
//! It assigns each message its `seq` *before* the write starts, commits
//! messages in batches (one transaction per batch, the next batch starts
//! when the previous one committed), answers `message.ack` and fans out
//! `message.new` only after the commit, in `seq` order. State changes are
//! conditional writes in the store, run as `AtomicResponse` so the actor's
//! view never runs ahead of the database.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::Utc;
use entity::{conversations, visitors};
use tokio::sync::oneshot;

use self::sent_ids::{Key, SentIds};
use super::committer::Committer;
use super::router::{AgentEvent, Passivated, Router};
use super::team_queue::{Dequeue, Enqueue, SlaAlert};
use super::{ActorError, Deliver, Party, SessionId};
use crate::bus::envelope::ActorKey;
use crate::bus::{Bus, SessionRef};
use crate::config::RealtimeSettings;
use crate::domain::access::{staff_may_access, staff_may_reassign};
use crate::domain::conversation::{ConversationState, Transition};
use crate::domain::protocol::{
    ConversationView, MessageJson, MessageView, NoteView, PartyKind, ReceiptKind, Sender,
    ServerFrame,
};
use crate::domain::routing::{Facts, Otherwise, QueuedConversation};
use crate::domain::sla::{Deadline, SlaKind, SlaTargets, deadlines};
use crate::domain::triage::{self, Answers, Flow, Outcome};
use crate::domain::{ConversationId, ErrorCode, Role, TeamId, UserId};
use crate::store::conversations::{ChangeError, Fence};
use crate::store::messages::NewMessage;
use crate::store::{self, Db};

mod csat;
mod sent_ids;
mod tags;
pub use csat::Rated;
pub use tags::SetTags;

/// Most messages committed in one transaction.
const MAX_BATCH: usize = 256;
/// Page size when a `resume` reads history.
const RESUME_PAGE: u64 = 500;

/// One socket following this conversation.
struct Subscriber {
    kind: PartyKind,
    id: i64,
    /// Who follows, re-checked after every change of assignee or team.
    party: Party,
    to: SessionRef,
    /// While a `resume` reads history, live frames wait here so the client
    /// sees history first and nothing twice.
    catching_up: Option<CatchUp>,
}

/// A resume in progress on one socket.
struct CatchUp {
    /// Which resume (a later one on the same socket supersedes it).
    resume: u64,
    /// The last committed seq when the first of this socket's overlapping
    /// resumes began: the history reads up to it, the rest is in `held`.
    upto: i64,
    /// The resume's `ref`, answered if a later resume supersedes it.
    reference: Option<String>,
    /// A catch-up the client did not ask for (no `resume.done`).
    quiet: bool,
    /// Live frames produced since its history was bounded, in order.
    held: Vec<Held>,
}

/// A live frame held back from a socket that is catching up.
struct Held {
    /// The seq of a `message.new` (the history may carry it already);
    /// `None` for anything else, which is always sent.
    seq: Option<i64>,
    frame: Deliver,
}

/// Where a resume's history reading stands: pages of [`RESUME_PAGE`] are
/// read and sent one at a time, so the node holds one page, not the whole
/// history, however long it is.
struct HistoryRead {
    session: SessionId,
    resume: u64,
    /// The last seq sent.
    from: i64,
    /// The last committed seq when the resume began: later ones are held
    /// live frames.
    upto: i64,
    reference: Option<String>,
    quiet: bool,
}

/// Who waits for a message's commit.
pub enum Waiter {
    /// A socket: it gets `message.ack` (or `error`) in commit order.
    Socket {
        /// Where the ack goes.
        to: SessionRef,
        /// The `ref` of the send.
        reference: Option<String>,
    },
    /// A caller awaiting the answer (REST, bots).
    Call(oneshot::Sender<Result<MessageView, ActorError>>),
}

impl Waiter {
    /// The socket this waiter is, if it is one.
    fn socket(&self) -> Option<SessionId> {
        match self {
            Waiter::Socket { to, .. } => Some(to.id()),
            Waiter::Call(_) => None,
        }
    }

    /// Answers with the stored `message`, serialised as `json`.
    fn acked(self, bus: &Bus, message: &MessageView, json: &MessageJson, client_msg_id: &str) {
        match self {
            Waiter::Socket { to, reference } => {
                let ack = Deliver(json.ack_frame(reference.as_deref(), client_msg_id).into());
                bus.deliver_one(&ack, &to, None);
            }
            Waiter::Call(tx) => {
                let _ = tx.send(Ok(message.clone()));
            }
        }
    }

    /// Answers that the send was not stored.
    fn failed(self, bus: &Bus, error: &ActorError) {
        match self {
            Waiter::Socket { to, reference } => {
                bus.deliver_one(&Deliver::frame(&error.frame(reference)), &to, None);
            }
            Waiter::Call(tx) => {
                let _ = tx.send(Err(error.clone()));
            }
        }
    }
}

/// A message with its seq, not yet committed.
struct Pending {
    msg: NewMessage,
    origin: Option<SessionId>,
    waiters: Vec<Waiter>,
}

/// The live state of one conversation.
pub struct Conversation {
    id: ConversationId,
    db: Db,
    bus: Bus,
    router: Addr<Router>,
    settings: Arc<RealtimeSettings>,
    /// Commits message batches, grouped with other conversations'.
    committer: Committer,
    /// The stored row as of the last write; `None` until loaded.
    row: Option<conversations::Model>,
    /// Loading found no such conversation: answer `not_found` and stop.
    missing: bool,
    /// Highest committed seq.
    committed_seq: i64,
    /// Seq the next accepted message gets.
    next_seq: i64,
    /// The committed messages' client_msg_ids (idempotence memory).
    sent_ids: SentIds,
    /// Numbers resumes, so a superseded one stops reading.
    resumes: u64,
    /// Accepted, waiting for the next batch.
    pending: Vec<Pending>,
    /// Being committed now.
    in_flight: Vec<Pending>,
    subscribers: HashMap<SessionId, Subscriber>,
    idle_timer: Option<SpawnHandle>,
    last_activity: Instant,
    /// Highest seq read by the customer and by staff: receipts never go back.
    read_marks: HashMap<PartyKind, i64>,
    /// Skill name → least level an agent needs to take it.
    required: BTreeMap<String, u8>,
    /// Its team's SLA targets.
    sla: SlaTargets,
    /// Pending SLA warning/breach timers.
    sla_timers: Vec<SpawnHandle>,
    /// The SLA warnings and breaches (kind, breach?) this actor announced:
    /// re-armed after an assignment, a transfer or a reopen, they only mark
    /// the conversation in its (maybe new) team's queue again.
    sla_announced: Vec<(SlaKind, bool)>,
    /// An agent has replied (the first-response target is met).
    responded: bool,
    /// The triage bot, while the conversation is with it.
    bot: Option<Bot>,
    /// The fencing token every write is conditional on (in a cluster).
    fence: Fence,
    /// What its creator knew of it, until `started` uses it.
    created: Option<Created>,
    /// Its visitor while its view draws on nothing else: from a start from
    /// its creator (a new conversation has no tags and no rating) until a
    /// tag change or its close (a rating needs a closed conversation).
    /// An automatic assignment's view is built from it without a read.
    bare_visitor: Option<visitors::Model>,
}

/// What the creator of a conversation knows of it once it is committed: a
/// new conversation's actor starts from this instead of reading it back,
/// since its start is on the way from a customer's arrival to an agent.
#[derive(Debug, Clone)]
pub struct Created {
    /// The row as inserted.
    pub row: conversations::Model,
    /// The skills it requires (name → least level).
    pub required: BTreeMap<String, u8>,
    /// Its visitor, as inserted with it.
    pub visitor: visitors::Model,
    /// Assigned at creation, its agent's sockets here were sent
    /// `conversation.assigned` by the creator as soon as it was committed
    /// (the actor's start is two thread hops later): the actor does not
    /// send it again.
    pub agent_told: bool,
}

/// The state a conversation's actor starts from.
struct Loaded {
    row: conversations::Model,
    ids: Vec<store::messages::SentKey>,
    activity: Option<chrono::DateTime<Utc>>,
    required: BTreeMap<String, u8>,
    sla: SlaTargets,
    bot: Option<Bot>,
    fence: Fence,
}

/// The triage bot's part of a conversation in state `bot`.
struct Bot {
    /// The team's flow; `None` when it was removed or switched off
    /// meanwhile (the conversation then goes to the queue at once).
    flow: Option<Flow>,
    /// The customer's messages so far, in seq order: the bot's state is
    /// `triage::run(flow, inputs)`.
    inputs: Vec<String>,
    /// The handoff to the queue is being written.
    handing_off: bool,
}

/// Idempotency key of the bot's `n`th reply: replaying the flow after a
/// restart finds the replies already stored and sends only the missing.
fn bot_reply_id(n: usize) -> String {
    format!("bot:{n}")
}

impl Conversation {
    /// A conversation actor that loads itself when started.
    pub fn new(
        id: ConversationId,
        db: Db,
        bus: Bus,
        router: Addr<Router>,
        settings: Arc<RealtimeSettings>,
        committer: Committer,
        created: Option<Created>,
    ) -> Self {
        Conversation {
            id,
            db,
            bus,
            router,
            settings,
            committer,
            row: None,
            missing: false,
            committed_seq: 0,
            next_seq: 1,
            sent_ids: SentIds::new(),
            resumes: 0,
            pending: Vec::new(),
            in_flight: Vec::new(),
            subscribers: HashMap::new(),
            idle_timer: None,
            last_activity: Instant::now(),
            read_marks: HashMap::new(),
            required: BTreeMap::new(),
            sla: SlaTargets::default(),
            sla_timers: Vec::new(),
            sla_announced: Vec::new(),
            responded: false,
            bot: None,
            fence: Fence::default(),
            created,
            bare_visitor: None,
        }
    }

    /// Takes up the state read (or handed over by its creator) at start.
    fn start_from(&mut self, ctx: &mut Context<Self>, l: Loaded) {
        self.fence = l.fence;
        self.required = l.required;
        self.bot = l.bot;
        self.sla = l.sla;
        self.responded = l.row.first_response_at.is_some();
        self.committed_seq = l.row.last_seq;
        self.next_seq = l.row.last_seq + 1;
        self.sent_ids = SentIds::from_keys(&l.ids);
        self.read_marks
            .insert(PartyKind::Customer, l.row.customer_last_read_seq);
        self.read_marks
            .insert(PartyKind::Agent, l.row.agent_last_read_seq);
        let since = l.activity.unwrap_or(l.row.created_at);
        self.row = Some(l.row);
        let idle = Duration::from_secs(self.settings.idle_close_after_s);
        let elapsed = (Utc::now() - since).to_std().unwrap_or_default();
        self.arm_idle(ctx, idle.saturating_sub(elapsed));
        self.arm_sla(ctx);
        self.bot_step(ctx);
    }

    /// Reads `team`'s SLA targets in a task of its own, which reports back
    /// with [`SlaTargetsRead`]. Not spawned into this actor's context: while
    /// a state change holds the mailbox (an `AtomicResponse`), actix polls
    /// nothing else of the context, so a read begun there keeps its pool
    /// connection until the change is done — and twenty new conversations
    /// assigned at once held the whole pool while their assignments waited
    /// for a connection (routing's concurrent-arrivals test).
    fn read_sla(&self, ctx: &Context<Self>, team: Option<TeamId>) {
        let db = self.db.clone();
        let me = ctx.address();
        let id = self.id;
        actix_rt::spawn(async move {
            match sla_of(&db, team).await {
                Ok(sla) => me.do_send(SlaTargetsRead { team, sla }),
                Err(e) => {
                    tracing::warn!(conversation_id = %id, error = %e, "could not read its team's SLA targets")
                }
            }
        });
    }

    /// Starts from what the creator handed over, if it can: a conversation
    /// just created on a single node (in a cluster the fencing token must
    /// be taken first), waiting or already assigned to the agent its queue
    /// reserved, without messages. Only its team's SLA targets are read,
    /// without holding up the mailbox (they arm timers of minutes). An
    /// assignment made at creation is announced as the queue's are (the
    /// agent's `conversation.assigned`, its following, the loads).
    /// Returns whether it started.
    fn start_created(&mut self, ctx: &mut Context<Self>) -> bool {
        let Some(created) = self.created.take() else {
            return false;
        };
        let assigned = created.row.state == ConversationState::Assigned.as_str()
            && created.row.assignee_id.is_some();
        if self.bus.clustered()
            || created.row.id != self.id.0
            || !(assigned || created.row.state == ConversationState::Queued.as_str())
            || created.row.last_seq != 0
        {
            return false;
        }
        let team = created.row.team_id.map(TeamId);
        let row = created.row;
        // What a queued start would have been, for `changed` to tell the
        // assignment from.
        let as_queued = assigned.then(|| conversations::Model {
            state: ConversationState::Queued.as_str().to_owned(),
            assignee_id: None,
            waiting_since: Some(row.created_at),
            ..row.clone()
        });
        let view = as_queued
            .as_ref()
            .map(|_| store::conversations::new_view(row.clone(), &created.visitor));
        self.bare_visitor = Some(created.visitor);
        self.start_from(
            ctx,
            Loaded {
                row: as_queued.clone().unwrap_or_else(|| row.clone()),
                ids: Vec::new(),
                activity: None,
                required: created.required,
                sla: SlaTargets::default(),
                bot: None,
                fence: Fence::default(),
            },
        );
        match view {
            Some(Ok(view)) => self.changed_with(ctx, as_queued, view, row, created.agent_told),
            // Not expected (the view is built from the two rows); the agent
            // then learns of it from the store (inbox, a reconnect).
            Some(Err(e)) => {
                tracing::warn!(conversation_id = %self.id, error = %e, "could not announce an assignment made at creation");
                self.row = Some(row);
            }
            None => {}
        }
        self.read_sla(ctx, team);
        true
    }

    fn state(&self) -> Option<ConversationState> {
        self.row
            .as_ref()
            .and_then(|r| ConversationState::parse(&r.state))
    }

    /// The row, or `not_found`.
    fn loaded(&self) -> Result<&conversations::Model, ActorError> {
        match &self.row {
            Some(r) if !self.missing => Ok(r),
            _ => Err(no_such_conversation()),
        }
    }

    /// Invariant 6: a customer only its own conversation; staff by role.
    /// A conversation the party may not see is answered as one that does
    /// not exist, word for word, as REST answers 404: ids are sequential,
    /// and `forbidden` would tell which exist.
    fn authorize(&self, party: &Party) -> Result<(), ActorError> {
        let row = self.loaded()?;
        match party {
            Party::Customer { conversation, .. } if *conversation == self.id => Ok(()),
            Party::Customer { .. } => Err(no_such_conversation()),
            Party::Staff { scope, .. } => {
                let conv = store::conversations::scope_of(row).map_err(ActorError::internal)?;
                if staff_may_access(scope, &conv) {
                    Ok(())
                } else {
                    Err(no_such_conversation())
                }
            }
        }
    }

    /// Writing needs more than reading for an agent: it must hold the
    /// conversation (supervisors and admins may step in).
    fn authorize_write(&self, party: &Party) -> Result<(), ActorError> {
        self.authorize(party)?;
        let row = self.loaded()?;
        if self.state() == Some(ConversationState::Closed) {
            return Err(ActorError::new(
                ErrorCode::Conflict,
                "the conversation is closed",
            ));
        }
        if let Party::Staff { scope, .. } = party
            && scope.role == Role::Agent
            && row.assignee_id != Some(scope.user.0)
        {
            return Err(ActorError::forbidden("accept the conversation first"));
        }
        Ok(())
    }

    /// Sends a frame to every subscriber but `except`.
    fn broadcast(&mut self, frame: &ServerFrame, except: Option<SessionId>) {
        let deliver = Deliver::frame(frame);
        self.broadcast_deliver(&deliver, except, |_| true);
    }

    /// Sends to the subscribers `filter` accepts (one envelope per other
    /// node); returns who got it.
    fn broadcast_deliver(
        &mut self,
        deliver: &Deliver,
        except: Option<SessionId>,
        filter: impl Fn(&Subscriber) -> bool,
    ) -> Vec<(PartyKind, i64)> {
        self.fan_out(deliver, None, except, filter)
    }

    /// [`Self::broadcast_deliver`], for a frame that is the `message.new`
    /// of `seq` when `seq` is given.
    fn fan_out(
        &mut self,
        deliver: &Deliver,
        seq: Option<i64>,
        except: Option<SessionId>,
        filter: impl Fn(&Subscriber) -> bool,
    ) -> Vec<(PartyKind, i64)> {
        let key = self.key();
        let mut reached = Vec::new();
        let mut targets = Vec::new();
        for (sid, sub) in self.subscribers.iter_mut() {
            if Some(*sid) == except || !filter(sub) {
                continue;
            }
            reached.push((sub.kind, sub.id));
            match sub.catching_up.as_mut() {
                Some(c) => c.held.push(Held {
                    seq,
                    frame: deliver.clone(),
                }),
                None => targets.push(&sub.to),
            }
        }
        // A full or closed mailbox: a slow or gone socket is dropped, never
        // waited for.
        let gone = self.bus.deliver(deliver, targets, Some(key));
        for sid in gone {
            self.subscribers.remove(&sid);
        }
        reached
    }

    /// This actor's cluster-wide name.
    fn key(&self) -> ActorKey {
        ActorKey::Conversation(self.id)
    }

    /// Answers a send with its stored message. A socket in the middle of a
    /// resume gets the ack after the history before it, like the
    /// `message.new` it stands for (§5.2 of docs/protocol.md: a socket's
    /// messages and acks come in increasing seq).
    fn ack(&mut self, waiter: Waiter, message: &MessageView, json: &MessageJson, cid: &str) {
        if let Waiter::Socket { to, reference } = &waiter
            && let Some(c) = self
                .subscribers
                .get_mut(&to.id())
                .and_then(|s| s.catching_up.as_mut())
        {
            c.held.push(Held {
                seq: None,
                frame: Deliver(json.ack_frame(reference.as_deref(), cid).into()),
            });
            return;
        }
        waiter.acked(&self.bus, message, json, cid);
    }

    /// Subscribes a socket to what is committed from now on (a plain join:
    /// no history). A resume in progress on the same socket is kept.
    fn join(&mut self, session: SessionId, party: Party, to: SessionRef) {
        let catching_up = self
            .subscribers
            .remove(&session)
            .and_then(|s| s.catching_up);
        self.subscribers.insert(
            session,
            Subscriber {
                kind: party.kind(),
                id: party.id(),
                catching_up,
                party,
                to,
            },
        );
    }

    /// Starts committing the pending messages unless a batch is in flight.
    fn flush(&mut self, ctx: &mut Context<Self>) {
        if !self.in_flight.is_empty() || self.pending.is_empty() {
            return;
        }
        let take = self.pending.len().min(MAX_BATCH);
        self.in_flight = self.pending.drain(..take).collect();
        let batch: Vec<NewMessage> = self.in_flight.iter().map(|p| p.msg.clone()).collect();
        let committer = self.committer.clone();
        let id = self.id;
        let fence = self.fence;
        // The transaction runs in the group-commit writer, not as a future
        // of this actor: while a state change (`AtomicResponse`) is pending,
        // actix polls nothing else of the actor, and a half-done
        // transaction would keep its locks and block that very change.
        ctx.spawn(
            async move { committer.commit(id, fence, batch).await }
                .into_actor(self)
                .map(|res, act, ctx| {
                    let batch = std::mem::take(&mut act.in_flight);
                    match res {
                        Ok(rows) => act.committed(ctx, batch, rows),
                        Err(e) => {
                            // Another writer moved the conversation on: this
                            // actor's view is stale; a fresh one takes over.
                            let stale = matches!(e, store::StoreError::Stale(_));
                            act.batch_failed(batch, e);
                            if stale {
                                ctx.notify(Relinquish);
                                return;
                            }
                        }
                    }
                    act.flush(ctx);
                }),
        );
    }

    /// After a commit: ack senders, then fan out in seq order, then receipts.
    fn committed(
        &mut self,
        ctx: &mut Context<Self>,
        batch: Vec<Pending>,
        rows: Vec<entity::messages::Model>,
    ) {
        if !self.responded
            && rows
                .iter()
                .any(|r| r.sender_kind == PartyKind::Agent.as_str())
        {
            self.responded = true;
            self.arm_sla(ctx);
        }
        let mut last_from = HashMap::<PartyKind, i64>::new();
        let mut customer_texts = Vec::new();
        // Only a triage bot reads what customers wrote: no copy of every
        // message's text for conversations without one.
        let bot_listens = self.bot.is_some();
        for (pending, row) in batch.into_iter().zip(rows) {
            if bot_listens && row.sender_kind == PartyKind::Customer.as_str() {
                customer_texts.push(row.text.clone());
            }
            let view = store::messages::view(&row);
            self.committed_seq = row.seq;
            if let Some(c) = &row.client_msg_id {
                self.sent_ids.remember(Key::sent_by(&pending.msg.sender, c));
            }
            if let Some(r) = self.row.as_mut() {
                r.last_seq = row.seq;
            }
            let cid = row.client_msg_id.as_deref().unwrap_or_default();
            // Serialised once for the sender's ack and everyone's `message.new`.
            let json = MessageJson::of(&view);
            // A sender's other socket that resent while this was in flight
            // has its ack; a `message.new` too would show it twice.
            let resent_from: Vec<SessionId> = pending
                .waiters
                .iter()
                .filter_map(Waiter::socket)
                .filter(|s| Some(*s) != pending.origin)
                .collect();
            for w in pending.waiters {
                self.ack(w, &view, &json, cid);
            }
            let side = side_of(view.sender.kind);
            let deliver = Deliver(json.new_frame().into());
            let reached = self.fan_out(&deliver, Some(row.seq), pending.origin, |s| {
                !resent_from.contains(&s.to.id())
            });
            if reached.iter().any(|(k, _)| *k != side) {
                last_from.insert(side, row.seq);
            }
        }
        for (side, seq) in last_from {
            self.delivered_receipt(side, seq);
        }
        if let Some(bot) = self.bot.as_mut()
            && !customer_texts.is_empty()
        {
            bot.inputs.extend(customer_texts);
            self.bot_step(ctx);
        }
    }

    /// Tells the sending side its messages reached the other side.
    fn delivered_receipt(&mut self, sender_side: PartyKind, up_to_seq: i64) {
        let by = match sender_side {
            PartyKind::Customer => {
                let agent = self.row.as_ref().and_then(|r| r.assignee_id).or_else(|| {
                    self.subscribers
                        .values()
                        .find(|s| s.kind == PartyKind::Agent)
                        .map(|s| s.id)
                });
                let Some(agent) = agent else { return };
                crate::domain::protocol::Actor {
                    kind: PartyKind::Agent,
                    id: agent,
                    name: None,
                }
            }
            _ => {
                let visitor = self.row.as_ref().map(|r| r.visitor_id).unwrap_or_default();
                crate::domain::protocol::Actor {
                    kind: PartyKind::Customer,
                    id: visitor,
                    name: None,
                }
            }
        };
        let frame = Deliver::frame(&ServerFrame::Receipt {
            conversation_id: self.id.0,
            kind: ReceiptKind::Delivered,
            up_to_seq,
            by,
        });
        self.broadcast_deliver(&frame, None, |s| s.kind == sender_side);
    }

    /// A batch did not commit: nothing of it is durable, so its senders get
    /// an error (they may resend the same client_msg_id) and the messages
    /// still pending are renumbered to keep seqs gap-free.
    fn batch_failed(&mut self, batch: Vec<Pending>, error: store::StoreError) {
        let err = ActorError::internal(format!(
            "commit of conversation {} failed: {error}",
            self.id
        ));
        for p in batch {
            for w in p.waiters {
                w.failed(&self.bus, &err);
            }
        }
        self.next_seq = self.committed_seq + 1;
        for p in self.pending.iter_mut() {
            p.msg.seq = self.next_seq;
            self.next_seq += 1;
        }
    }

    /// Plays the triage flow against the customer's messages so far: sends
    /// every reply not yet stored or pending (in order, through the normal
    /// commit path), and hands over to the queue once the flow is done.
    fn bot_step(&mut self, ctx: &mut Context<Self>) {
        if self.state() != Some(ConversationState::Bot) {
            self.bot = None;
            return;
        }
        let Some(bot) = self.bot.as_mut() else { return };
        let (replies, bot_name, answers, done) = match &bot.flow {
            Some(flow) => {
                let r = triage::run(flow, &bot.inputs);
                let done = matches!(r.outcome, Outcome::HandedOff(_));
                (r.replies, flow.bot_name.clone(), r.answers, done)
            }
            None => (Vec::new(), String::new(), Answers::default(), true),
        };
        let start_handoff = done && !bot.handing_off;
        if start_handoff {
            bot.handing_off = true;
        }
        for (n, text) in replies.into_iter().enumerate() {
            let key = bot_reply_id(n);
            if self.sent_ids.holds_bot_reply(&key) || self.uncommitted(Key::bot(&key)).is_some() {
                continue;
            }
            let sender = Sender {
                kind: PartyKind::Bot,
                id: None,
                name: Some(bot_name.clone()),
            };
            self.queue_new(key, sender, text, None, Vec::new());
        }
        self.flush(ctx);
        if start_handoff {
            ctx.notify(LeaveBot { answers });
        }
    }

    /// (Re)arms the SLA timers: a warning at 80 % of each open target and
    /// the breach at 100 %. A deadline already past fires at once (e.g.
    /// after a restart); breaches are recorded once per kind.
    fn arm_sla(&mut self, ctx: &mut Context<Self>) {
        for h in self.sla_timers.drain(..) {
            ctx.cancel_future(h);
        }
        let Some(row) = &self.row else { return };
        let open = self.state().is_some_and(|s| s.is_open());
        let now = Utc::now();
        for d in deadlines(self.sla, row.created_at, self.responded, !open) {
            for (at, breach) in [(d.warn_at, false), (d.due_at, true)] {
                if !breach && d.due_at <= now {
                    continue;
                }
                let wait = (at - now).to_std().unwrap_or_default();
                let h = ctx.run_later(wait, move |act, ctx| act.sla_fire(ctx, d, breach));
                self.sla_timers.push(h);
            }
        }
    }

    /// A warning or breach moment came: tell the team's watchers and the
    /// staff following the conversation; record a breach.
    fn sla_fire(&mut self, ctx: &mut Context<Self>, d: Deadline, breach: bool) {
        let still_due = self.state().is_some_and(|s| s.is_open())
            && (d.kind != SlaKind::FirstResponse || !self.responded);
        if !still_due {
            return;
        }
        let again = self.sla_announced.contains(&(d.kind, breach));
        if !again {
            self.sla_announced.push((d.kind, breach));
        }
        let team = self.row.as_ref().and_then(|r| r.team_id).map(TeamId);
        let frame = ServerFrame::Notification {
            kind: if breach { "sla.breach" } else { "sla.warning" }.to_owned(),
            conversation_id: self.id.0,
            team_id: team.map(|t| t.0),
            sla: d.kind,
            due_at: d.due_at,
        };
        let deliver = Deliver::frame(&frame);
        let text = deliver.0.to_string();
        let (db, bus, id) = (self.db.clone(), self.bus.clone(), self.id);
        ctx.spawn(
            async move {
                // Announced once: a breach by whoever records it first (an
                // actor started after a restart re-arms deadlines long
                // past); otherwise the queue is only told to mark it.
                let first = !again
                    && (!breach
                        || match store::sla::record(&db, id, team, d.kind, d.target_s, d.due_at).await
                    {
                        Ok(recorded) => recorded,
                        Err(e) => {
                            tracing::error!(conversation_id = %id, error = %e, "could not record SLA breach");
                            true
                        }
                    });
                if let Some(t) = team
                    && let Ok(queue) = bus.team(t).await
                {
                    queue.tell(SlaAlert {
                        conversation: id,
                        state: if breach { "breached" } else { "warning" }.to_owned(),
                        frame: first.then_some(text),
                    });
                }
                first
            }
            .into_actor(self)
            .map(move |first, act, _| {
                if first {
                    act.broadcast_deliver(&deliver, None, |s| s.kind == PartyKind::Agent);
                }
            }),
        );
    }

    /// (Re)arms the idle-close timer for `after` from now.
    fn arm_idle(&mut self, ctx: &mut Context<Self>, after: Duration) {
        if let Some(h) = self.idle_timer.take() {
            ctx.cancel_future(h);
        }
        if self.state().is_some_and(|s| s.is_open()) {
            self.idle_timer = Some(ctx.run_later(after, |act, ctx| {
                act.idle_timer = None;
                if act.state().is_some_and(|s| s.is_open()) {
                    tracing::info!(conversation_id = %act.id, "closing idle conversation");
                    ctx.notify(CloseIdle);
                }
            }));
        }
    }

    /// After a committed state change: remember the row, tell subscribers,
    /// the queues and the agents concerned.
    fn changed(
        &mut self,
        ctx: &mut Context<Self>,
        before: Option<conversations::Model>,
        view: ConversationView,
        row: conversations::Model,
    ) {
        self.changed_with(ctx, before, view, row, false);
    }

    /// [`Self::changed`]; with `agent_told`, a new assignee's sockets were
    /// sent `conversation.assigned` already (by the conversation's creator,
    /// as soon as it was committed).
    fn changed_with(
        &mut self,
        ctx: &mut Context<Self>,
        before: Option<conversations::Model>,
        view: ConversationView,
        row: conversations::Model,
        agent_told: bool,
    ) {
        let was_queued_in = before
            .as_ref()
            .filter(|b| b.state == ConversationState::Queued.as_str())
            .and_then(|b| b.team_id);
        let now_queued_in = (row.state == ConversationState::Queued.as_str())
            .then_some(row.team_id)
            .flatten();
        let old_assignee = before.as_ref().and_then(|b| b.assignee_id);
        let new_assignee = row.assignee_id;
        let team_of_before = before.as_ref().and_then(|b| b.team_id);
        if row.state == ConversationState::Closed.as_str() {
            self.bare_visitor = None;
        }
        self.row = Some(row.clone());
        self.broadcast(
            &ServerFrame::ConversationUpdated {
                conversation: view.clone(),
            },
            None,
        );
        if let Some(agent) = new_assignee
            && new_assignee != old_assignee
        {
            let assigned = Deliver::frame(&ServerFrame::ConversationAssigned {
                conversation: view.clone(),
            });
            // Its followers learn who has it; the new agent's sockets get it
            // once and start following.
            self.broadcast_deliver(&assigned, None, |s| {
                !(s.kind == PartyKind::Agent && s.id == agent)
            });
            if !agent_told {
                self.bus.to_agent(UserId(agent), assigned);
            }
            self.bus.agent_event(AgentEvent::Follow {
                agent: UserId(agent),
                conversation: self.id,
                after_seq: self.committed_seq,
            });
        }
        // Least privilege after a move: whoever may no longer see the
        // conversation (the agent who handed it on) stops following it.
        let keep: Vec<SessionId> = self
            .subscribers
            .iter()
            .filter(|(_, s)| self.authorize(&s.party).is_ok())
            .map(|(id, _)| *id)
            .collect();
        self.subscribers.retain(|id, _| keep.contains(id));
        let bus = self.bus.clone();
        let id = self.id;
        let queued = QueuedConversation {
            id,
            priority: row.priority,
            waiting_since: row.waiting_since.unwrap_or_else(Utc::now),
            required: self.required.clone(),
        };
        let agents: Vec<i64> = [old_assignee, new_assignee].into_iter().flatten().collect();
        ctx.spawn(
            async move {
                if let Some(t) = was_queued_in
                    && Some(t) != now_queued_in
                    && let Ok(team) = bus.team(TeamId(t)).await
                {
                    team.tell(Dequeue { conversation: id });
                }
                if let Some(t) = now_queued_in
                    && let Ok(team) = bus.team(TeamId(t)).await
                {
                    team.tell(Enqueue {
                        conversation: queued,
                    });
                }
                // Loads changed: the Router has every team of those agents
                // re-read them (and route into freed capacity). A queue
                // tracks only its members, so that covers this team's.
                for agent in agents {
                    bus.agent_event(AgentEvent::Changed {
                        agent: UserId(agent),
                    });
                }
            }
            .into_actor(self),
        );
        let team_now = self.row.as_ref().and_then(|r| r.team_id);
        if team_of_before != team_now {
            self.read_sla(ctx, team_now.map(TeamId));
        } else {
            self.arm_sla(ctx);
        }
        if self.state().is_some_and(|s| s.is_open()) {
            if self.idle_timer.is_none() {
                self.arm_idle(ctx, Duration::from_secs(self.settings.idle_close_after_s));
            }
        } else if let Some(h) = self.idle_timer.take() {
            ctx.cancel_future(h);
        }
    }

    /// Runs a state change as a conditional write, then [`Self::changed`].
    /// Atomic: the mailbox waits, so no other change reads a stale row.
    fn change<F, Fut>(
        &mut self,
        op: F,
    ) -> AtomicResponse<Self, Result<ConversationView, ActorError>>
    where
        F: FnOnce(Db, ConversationId, Fence) -> Fut + 'static,
        Fut: Future<Output = Result<conversations::Model, ChangeError>> + 'static,
    {
        self.change_viewed(move |db, id, fence| async move {
            let row = op(db.clone(), id, fence).await?;
            let view = store::conversations::view(&db, row.clone()).await?;
            Ok((row, view))
        })
    }

    /// [`Self::change`] for a write that returns the changed row's view
    /// with it (the group-commit writer reads a group's views together).
    fn change_viewed<F, Fut>(
        &mut self,
        op: F,
    ) -> AtomicResponse<Self, Result<ConversationView, ActorError>>
    where
        F: FnOnce(Db, ConversationId, Fence) -> Fut + 'static,
        Fut: Future<Output = Result<(conversations::Model, ConversationView), ChangeError>>
            + 'static,
    {
        self.change_viewed_then(op, |_| {})
    }

    /// [`Self::change_viewed`], then `then` once it succeeded, still before
    /// the mailbox moves on.
    fn change_viewed_then<F, Fut>(
        &mut self,
        op: F,
        then: impl FnOnce(&mut Self) + 'static,
    ) -> AtomicResponse<Self, Result<ConversationView, ActorError>>
    where
        F: FnOnce(Db, ConversationId, Fence) -> Fut + 'static,
        Fut: Future<Output = Result<(conversations::Model, ConversationView), ChangeError>>
            + 'static,
    {
        let db = self.db.clone();
        let id = self.id;
        let fence = self.fence;
        let before = self.row.clone();
        AtomicResponse::new(Box::pin(
            async move {
                match op(db.clone(), id, fence).await {
                    Ok(changed) => Ok(changed),
                    Err(ChangeError::Conflict) if fenced_out(&db, id, fence).await => {
                        Err(ActorError::new(
                            ErrorCode::Internal,
                            "this conversation moved to another node; retry",
                        ))
                    }
                    Err(e) => Err(change_error(e)),
                }
            }
            .into_actor(self)
            .map(move |res, act, ctx| {
                let (row, view) = res?;
                act.changed(ctx, before, view.clone(), row);
                then(act);
                Ok(view)
            }),
        ))
    }
}

/// The SLA targets of a team (none without a team).
async fn sla_of(db: &Db, team: Option<TeamId>) -> Result<SlaTargets, store::StoreError> {
    let Some(team) = team else {
        return Ok(SlaTargets::default());
    };
    Ok(sla_targets(store::teams::find(db, team).await?.as_ref()))
}

/// The SLA targets of a team row (none without one).
fn sla_targets(team: Option<&entity::teams::Model>) -> SlaTargets {
    team.map(|t| SlaTargets {
        first_response_s: t.sla_first_response_s,
        resolution_s: t.sla_resolution_s,
    })
    .unwrap_or_default()
}

/// Most customer messages replayed into the bot (triage is a few steps;
/// a customer who keeps talking to it past this is handed over anyway).
const MAX_BOT_INPUTS: u64 = 200;

/// The bot of a conversation in state `bot`: its team's flow and the
/// customer's messages so far.
async fn load_bot(db: &Db, row: &conversations::Model) -> Result<Bot, store::StoreError> {
    let flow = match row.team_id {
        Some(t) => store::triage::active(db, TeamId(t)).await?,
        None => None,
    };
    let inputs = store::messages::after(db, ConversationId(row.id), 0, MAX_BOT_INPUTS)
        .await?
        .into_iter()
        .filter(|m| m.sender_kind == PartyKind::Customer.as_str())
        .map(|m| m.text)
        .collect();
    Ok(Bot {
        flow,
        inputs,
        handing_off: false,
    })
}

fn side_of(kind: PartyKind) -> PartyKind {
    match kind {
        PartyKind::Customer => PartyKind::Customer,
        _ => PartyKind::Agent,
    }
}

/// Assigns the conversation to `agent` from one of the states `from`, in a
/// transaction of its own (a staff member's accept or assignment; the
/// queue's go through the group-commit writer).
async fn assign_alone(
    db: &Db,
    id: ConversationId,
    fence: Fence,
    agent: UserId,
    from: &[ConversationState],
) -> Result<conversations::Model, ChangeError> {
    let txn = store::begin(db).await.map_err(store::StoreError::from)?;
    let row = store::conversations::assign(&txn, id, fence, agent, from, false).await?;
    txn.commit().await.map_err(store::StoreError::from)?;
    Ok(row)
}

/// Whether a refused write was refused because another node's actor took
/// the conversation over (its token is not ours any more).
async fn fenced_out(db: &Db, id: ConversationId, fence: Fence) -> bool {
    match fence.0 {
        Some(mine) => store::conversations::owner_token(db, id)
            .await
            .ok()
            .flatten()
            .is_some_and(|now| now != mine),
        None => false,
    }
}

/// The answer for a conversation that does not exist or that the caller
/// may not see: the two must read the same.
fn no_such_conversation() -> ActorError {
    ActorError::new(ErrorCode::NotFound, "no such conversation")
}

fn change_error(e: ChangeError) -> ActorError {
    match e {
        ChangeError::Conflict => ActorError::new(
            ErrorCode::Conflict,
            "the conversation changed meanwhile (already taken, closed or moved)",
        ),
        ChangeError::AtCapacity => ActorError::new(ErrorCode::Conflict, "the agent is at capacity"),
        ChangeError::AgentUnavailable => {
            ActorError::new(ErrorCode::NotFound, "no such active agent")
        }
        ChangeError::NoSuchTeam => ActorError::new(ErrorCode::NotFound, "no such team"),
        ChangeError::Store(s) => s.into(),
    }
}

impl Actor for Conversation {
    type Context = Context<Self>;

    #[tracing::instrument(skip_all, fields(conversation_id = %self.id))]
    fn started(&mut self, ctx: &mut Self::Context) {
        if !self.start_created(ctx) {
            self.start_loading(ctx);
        }
        self.run_timers(ctx);
    }

    fn stopped(&mut self, ctx: &mut Self::Context) {
        self.router.do_send(Passivated {
            id: self.id,
            addr: ctx.address(),
        });
    }
}

impl Conversation {
    /// Reads the conversation's state; no message is handled before it is
    /// taken up.
    fn start_loading(&mut self, ctx: &mut Context<Self>) {
        let db = self.db.clone();
        let id = self.id;
        let clustered = self.bus.clustered();
        // `wait`: no message is handled before the state is loaded.
        ctx.wait(
            async move {
                // In a cluster this node takes the fencing token first, so
                // an older host (that lost the conversation without knowing
                // it) can no longer write.
                let fence = if clustered {
                    store::conversations::take_ownership(&db, id).await?
                } else {
                    Fence::default()
                };
                // At once, each on a connection of the pool: one round trip
                // of latency on the way from a customer's arrival to the
                // queue's first assignment, which waits for this start.
                let just_this = [id];
                let (row, mut required, team) = futures_util::try_join!(
                    store::conversations::find(&db, id),
                    store::conversations::required_skills(&db, &just_this),
                    store::teams::of_conversation(&db, id),
                )?;
                let Some(row) = row else { return Ok(None) };
                // A conversation without messages (every new one) has no
                // ids to remember and no activity: two statements fewer on
                // that path, each a round trip to the driver's thread.
                let (ids, activity) = if row.last_seq == 0 {
                    (Vec::new(), None)
                } else {
                    futures_util::try_join!(
                        store::messages::client_ids(&db, id),
                        store::messages::last_customer_activity(&db, id),
                    )?
                };
                let required = required.remove(&id).unwrap_or_default();
                let sla = sla_targets(team.as_ref());
                let bot = if row.state == ConversationState::Bot.as_str() {
                    Some(load_bot(&db, &row).await?)
                } else {
                    None
                };
                Ok::<_, store::StoreError>(Some(Loaded {
                    row,
                    ids,
                    activity,
                    required,
                    sla,
                    bot,
                    fence,
                }))
            }
            .into_actor(self)
            .map(|res, act, ctx| match res {
                Ok(Some(loaded)) => act.start_from(ctx, loaded),
                Ok(None) => {
                    act.missing = true;
                    ctx.run_later(Duration::from_secs(1), |_, ctx| ctx.stop());
                }
                Err(e) => {
                    tracing::error!(conversation_id = %act.id, error = %e, "could not load conversation");
                    act.missing = true;
                    ctx.stop();
                }
            }),
        );
    }

    /// Stops the actor once it has been closed and unwatched for a while.
    fn run_timers(&mut self, ctx: &mut Context<Self>) {
        let every = Duration::from_secs(self.settings.passivate_after_s.max(2) / 2);
        ctx.run_interval(every, |act, ctx| {
            let idle = act.subscribers.is_empty()
                && act.pending.is_empty()
                && act.in_flight.is_empty()
                && !act.state().is_some_and(|s| s.is_open())
                && act.last_activity.elapsed()
                    >= Duration::from_secs(act.settings.passivate_after_s);
            if idle {
                ctx.stop();
            }
        });
    }
}

/// Follow this conversation on a socket; with `after_seq`, first receive
/// every message after it (a `resume`), then `resume.done`.
#[derive(Message, serde::Serialize, serde::Deserialize)]
#[rtype(result = "Result<(), ActorError>")]
pub struct Subscribe {
    /// The socket.
    pub session: SessionId,
    /// Who is on it.
    pub party: Party,
    /// Where its frames go.
    pub to: SessionRef,
    /// `Some(seq)` for a resume.
    pub after_seq: Option<i64>,
    /// The `ref` of the resume frame.
    pub reference: Option<String>,
    /// A catch-up, not a client's resume: no `resume.done`, and a socket
    /// that follows already stays as it is (it has seen what came).
    #[serde(default)]
    pub quiet: bool,
}

impl Handler<Subscribe> for Conversation {
    type Result = Result<(), ActorError>;

    fn handle(&mut self, msg: Subscribe, ctx: &mut Self::Context) -> Self::Result {
        self.authorize(&msg.party)?;
        self.last_activity = Instant::now();
        let Some(after) = msg.after_seq else {
            self.join(msg.session, msg.party, msg.to);
            return Ok(());
        };
        if msg.quiet && self.subscribers.contains_key(&msg.session) {
            return Ok(());
        }
        // Everything up to `upto` comes from the store; anything committed
        // later arrives live and is held until the history is out.
        self.resumes += 1;
        let resume = self.resumes;
        // A resume still reading on this socket is superseded: its caller
        // hears so, and what it held stays held for this one (read up to
        // the same bound), so no live frame is lost between the two.
        let superseded = self
            .subscribers
            .remove(&msg.session)
            .and_then(|s| s.catching_up);
        let (upto, held) = match superseded {
            Some(old) => {
                if !old.quiet {
                    let error = ActorError::new(
                        ErrorCode::Conflict,
                        "superseded by a later resume of this conversation",
                    );
                    self.bus.deliver_one(
                        &Deliver::frame(&error.frame(old.reference)),
                        &msg.to,
                        None,
                    );
                }
                (old.upto, old.held)
            }
            None => (self.committed_seq, Vec::new()),
        };
        self.subscribers.insert(
            msg.session,
            Subscriber {
                kind: msg.party.kind(),
                id: msg.party.id(),
                party: msg.party,
                to: msg.to,
                catching_up: Some(CatchUp {
                    resume,
                    upto,
                    reference: msg.reference.clone(),
                    quiet: msg.quiet,
                    held,
                }),
            },
        );
        self.read_history(
            ctx,
            HistoryRead {
                session: msg.session,
                resume,
                from: after,
                upto,
                reference: msg.reference,
                quiet: msg.quiet,
            },
        );
        Ok(())
    }
}

impl Conversation {
    /// Reads the next page of a resume's history and sends it; then the
    /// next page, or, once the history is out, the held live frames and
    /// `resume.done`. Stops when the socket is gone or resumed again.
    fn read_history(&mut self, ctx: &mut Context<Self>, mut r: HistoryRead) {
        if r.from >= r.upto {
            self.end_resume(r);
            return;
        }
        let db = self.db.clone();
        let id = self.id;
        let from = r.from;
        ctx.spawn(
            async move { store::messages::after(&db, id, from, RESUME_PAGE).await }
                .into_actor(self)
                .map(move |res, act, ctx| {
                    let Some(sub) = act.subscribers.get_mut(&r.session) else {
                        return;
                    };
                    if sub.catching_up.as_ref().map(|c| c.resume) != Some(r.resume) {
                        return;
                    }
                    let page = match res {
                        Ok(page) => page,
                        Err(e) => {
                            // The client resumes again for the messages; the
                            // rest held meanwhile (its acks among them) is
                            // not in any history, so it goes out now.
                            let held = sub.catching_up.take().map(|c| c.held).unwrap_or_default();
                            let error = Deliver::frame(&ActorError::from(e).frame(r.reference));
                            if act.send_asked_for(r.session, &error) {
                                act.send_held(r.session, held, |h| h.seq.is_none());
                            }
                            return;
                        }
                    };
                    let Some(last) = page.last().map(|m| m.seq) else {
                        act.end_resume(r);
                        return;
                    };
                    for m in page.iter().filter(|m| m.seq <= r.upto) {
                        let frame = Deliver::frame(&ServerFrame::MessageNew {
                            message: store::messages::view(m),
                        });
                        if !act.send_asked_for(r.session, &frame) {
                            return;
                        }
                    }
                    // Past `upto` the held frames take over (a page may
                    // reach beyond it; those were not sent).
                    r.from = last.min(r.upto);
                    act.read_history(ctx, r);
                }),
        );
    }

    /// The history is out: the live frames held meanwhile (but messages
    /// the client said it has), then `resume.done` (unless quiet), and the
    /// socket follows live.
    fn end_resume(&mut self, r: HistoryRead) {
        let Some(sub) = self.subscribers.get_mut(&r.session) else {
            return;
        };
        let held = sub.catching_up.take().map(|c| c.held).unwrap_or_default();
        if !self.send_held(r.session, held, |h| h.seq.is_none_or(|seq| seq > r.from)) {
            return;
        }
        if !r.quiet {
            let done = Deliver::frame(&ServerFrame::ResumeDone {
                reference: r.reference,
                conversation_id: self.id.0,
                last_seq: self.committed_seq,
            });
            self.send_asked_for(r.session, &done);
        }
    }

    /// Sends the held frames `keep` accepts, in order; false when the
    /// socket is gone.
    fn send_held(
        &mut self,
        session: SessionId,
        held: Vec<Held>,
        keep: impl Fn(&Held) -> bool,
    ) -> bool {
        held.iter()
            .filter(|h| keep(h))
            .all(|h| self.send_asked_for(session, &h.frame))
    }

    /// Hands a frame the socket asked for (see `Pace::Requested`: a long
    /// history must not be refused by the mailbox's bound); a socket that
    /// is gone stops following. False when it is gone.
    fn send_asked_for(&mut self, session: SessionId, frame: &Deliver) -> bool {
        let Some(sub) = self.subscribers.get(&session) else {
            return false;
        };
        if self
            .bus
            .deliver_requested(frame, &sub.to, Some(ActorKey::Conversation(self.id)))
        {
            return true;
        }
        self.subscribers.remove(&session);
        false
    }
}

/// Stop following this conversation.
#[derive(Message, serde::Serialize, serde::Deserialize)]
#[rtype(result = "()")]
pub struct Unsubscribe {
    /// The socket.
    pub session: SessionId,
}

impl Handler<Unsubscribe> for Conversation {
    type Result = ();

    fn handle(&mut self, msg: Unsubscribe, _: &mut Self::Context) {
        self.subscribers.remove(&msg.session);
        self.last_activity = Instant::now();
    }
}

/// Sockets on another node that are gone (its node said so, or nobody
/// there received their frames): they stop following.
#[derive(Message, serde::Serialize, serde::Deserialize)]
#[rtype(result = "()")]
pub struct SessionsGone {
    /// The sockets.
    pub sessions: Vec<SessionId>,
}

impl Handler<SessionsGone> for Conversation {
    type Result = ();

    fn handle(&mut self, msg: SessionsGone, _: &mut Self::Context) {
        for s in msg.sessions {
            self.subscribers.remove(&s);
        }
    }
}

/// Another node hosts this conversation now (this one lost its directory
/// entry): stop here, and tell the sockets following it to reconnect so
/// they follow the new host from where they were.
#[derive(Message, serde::Serialize, serde::Deserialize)]
#[rtype(result = "()")]
pub struct Relinquish;

impl Handler<Relinquish> for Conversation {
    type Result = ();

    fn handle(&mut self, _: Relinquish, ctx: &mut Self::Context) {
        let followers: Vec<&SessionRef> = self.subscribers.values().map(|s| &s.to).collect();
        self.bus.kick(
            followers,
            "this conversation moved to another node; reconnect",
        );
        self.subscribers.clear();
        ctx.stop();
    }
}

/// Post a message. A socket sender gets its `message.ack` from this actor,
/// in commit order; otherwise the answer is the stored message. Either way
/// only after the commit.
#[derive(Message, serde::Serialize, serde::Deserialize)]
#[rtype(result = "Result<Option<MessageView>, ActorError>")]
pub struct SendMessage {
    /// The sending socket (it gets the ack, not `message.new`).
    pub session: Option<SessionId>,
    /// Where a socket's ack goes, with the frame's `ref`; `None` to await
    /// the stored message instead.
    pub reply_to: Option<(SessionRef, Option<String>)>,
    /// The sender.
    pub party: Party,
    /// Idempotency key.
    pub client_msg_id: String,
    /// Validated text.
    pub text: String,
}

impl SendMessage {
    /// Its idempotency key: the sender and its `client_msg_id`.
    fn key(&self) -> Key<'_> {
        Key {
            kind: self.party.kind(),
            sender: Some(self.party.id()),
            client_msg_id: &self.client_msg_id,
        }
    }
}

impl Handler<SendMessage> for Conversation {
    type Result = ResponseFuture<Result<Option<MessageView>, ActorError>>;

    fn handle(&mut self, mut msg: SendMessage, ctx: &mut Self::Context) -> Self::Result {
        // Rights are checked once the send is known to be new (`accept`): a
        // resend of a stored message is answered with it even after the
        // conversation closed or the agent lost it (invariant 3).
        if let Err(e) = self.loaded() {
            return Box::pin(async move { Err(e) });
        }
        let (waiter, rx) = match msg.reply_to.take() {
            Some((to, reference)) => (Waiter::Socket { to, reference }, None),
            None => {
                let (tx, rx) = oneshot::channel();
                (Waiter::Call(tx), Some(rx))
            }
        };
        // Invariant 3: the same sender's client_msg_id gives the same message.
        if self.sent_ids.may_hold(msg.key()) {
            self.answer_resend(ctx, msg, waiter);
        } else {
            self.accept(ctx, msg, waiter);
        }
        Box::pin(async move {
            match rx {
                None => Ok(None),
                Some(rx) => rx
                    .await
                    .unwrap_or_else(|_| {
                        Err(ActorError::internal("conversation stopped before commit"))
                    })
                    .map(Some),
            }
        })
    }
}

impl Conversation {
    /// Queues a send for the next batch, or adds `waiter` to the same
    /// send already on its way to the store.
    fn accept(&mut self, ctx: &mut Context<Self>, msg: SendMessage, waiter: Waiter) {
        if let Some(p) = self.uncommitted(msg.key()) {
            p.waiters.push(waiter);
            return;
        }
        if let Err(e) = self.authorize_write(&msg.party) {
            waiter.failed(&self.bus, &e);
            return;
        }
        self.last_activity = Instant::now();
        if msg.party.kind() == PartyKind::Customer {
            self.arm_idle(ctx, Duration::from_secs(self.settings.idle_close_after_s));
        }
        let sender = Sender {
            kind: msg.party.kind(),
            id: Some(msg.party.id()),
            name: msg.party.name(),
        };
        self.queue_new(
            msg.client_msg_id,
            sender,
            msg.text,
            msg.session,
            vec![waiter],
        );
        self.flush(ctx);
    }

    /// The accepted message keyed `key` that is not committed yet
    /// (pending or in flight), if any.
    fn uncommitted(&mut self, key: Key<'_>) -> Option<&mut Pending> {
        self.in_flight
            .iter_mut()
            .chain(self.pending.iter_mut())
            .find(|p| {
                p.msg
                    .client_msg_id
                    .as_deref()
                    .is_some_and(|c| Key::sent_by(&p.msg.sender, c) == key)
            })
    }

    /// Gives a new message the next seq and queues it for the next batch.
    fn queue_new(
        &mut self,
        client_msg_id: String,
        sender: Sender,
        text: String,
        origin: Option<SessionId>,
        waiters: Vec<Waiter>,
    ) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.pending.push(Pending {
            msg: NewMessage {
                seq,
                client_msg_id: Some(client_msg_id),
                sender,
                text,
            },
            origin,
            waiters,
        });
    }

    /// A send whose client_msg_id was (almost surely) committed: answers
    /// with the stored message. If the store holds none (the fingerprint
    /// was another id's, or the message is gone), the send is new.
    fn answer_resend(&mut self, ctx: &mut Context<Self>, msg: SendMessage, waiter: Waiter) {
        let db = self.db.clone();
        let id = self.id;
        let Key { kind, sender, .. } = msg.key();
        let cid = msg.client_msg_id.clone();
        let lookup =
            async move { store::messages::by_client_id(&db, id, kind, sender, &cid).await };
        ctx.spawn(
            lookup
                .into_actor(self)
                .map(move |found, act, ctx| match found {
                    Ok(Some(m)) => {
                        let view = store::messages::view(&m);
                        let json = MessageJson::of(&view);
                        act.ack(waiter, &view, &json, &msg.client_msg_id);
                    }
                    Ok(None) => act.accept(ctx, msg, waiter),
                    Err(e) => waiter.failed(&act.bus, &ActorError::from(e)),
                }),
        );
    }
}

/// Typing started or stopped.
#[derive(Message, serde::Serialize, serde::Deserialize)]
#[rtype(result = "Result<(), ActorError>")]
pub struct SetTyping {
    /// The typing socket (not echoed back to it).
    pub session: SessionId,
    /// Who types.
    pub party: Party,
    /// Started or stopped.
    pub is_typing: bool,
}

impl Handler<SetTyping> for Conversation {
    type Result = Result<(), ActorError>;

    fn handle(&mut self, msg: SetTyping, _: &mut Self::Context) -> Self::Result {
        self.authorize(&msg.party)?;
        let frame = ServerFrame::Typing {
            conversation_id: self.id.0,
            by: msg.party.wire(true),
            is_typing: msg.is_typing,
        };
        self.broadcast(&frame, Some(msg.session));
        Ok(())
    }
}

/// Read up to a seq.
#[derive(Message, serde::Serialize, serde::Deserialize)]
#[rtype(result = "Result<(), ActorError>")]
pub struct MarkRead {
    /// Who read.
    pub party: Party,
    /// Highest seq read.
    pub up_to_seq: i64,
}

impl Handler<MarkRead> for Conversation {
    type Result = Result<(), ActorError>;

    fn handle(&mut self, msg: MarkRead, ctx: &mut Self::Context) -> Self::Result {
        self.authorize(&msg.party)?;
        let side = side_of(msg.party.kind());
        let mark = self.read_marks.entry(side).or_insert(0);
        let up_to = (*mark).max(msg.up_to_seq.min(self.committed_seq));
        *mark = up_to;
        let db = self.db.clone();
        let id = self.id;
        ctx.spawn(
            async move {
                if let Err(e) = store::conversations::mark_read(&db, id, side, up_to).await {
                    tracing::error!(conversation_id = %id, error = %e, "could not store read mark");
                }
            }
            .into_actor(self),
        );
        let frame = ServerFrame::Receipt {
            conversation_id: self.id.0,
            kind: ReceiptKind::Read,
            up_to_seq: up_to,
            by: msg.party.wire(false),
        };
        self.broadcast(&frame, None);
        Ok(())
    }
}

/// An agent takes the conversation from the queue.
#[derive(Message, serde::Serialize, serde::Deserialize)]
#[rtype(result = "Result<ConversationView, ActorError>")]
pub struct Accept {
    /// The agent (staff).
    pub party: Party,
    /// The socket accepting, if any: it joins in the same turn as the
    /// assignment, so its `ok` means it is in — typing and receipts right
    /// after reach it too (the `Follow` catch-up every new assignee gets
    /// replays messages only, and may land later). Joining afterwards with
    /// its own `Subscribe` left a gap: in a cluster that call travels over
    /// the bus, and a message the customer sent at once could be committed
    /// before it arrived and never reach the agent live.
    pub joining: Option<Joining>,
}

/// A socket that joins a conversation as part of a change.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Joining {
    /// The socket.
    pub session: SessionId,
    /// Where its frames go.
    pub to: SessionRef,
}

impl Handler<Accept> for Conversation {
    type Result = AtomicResponse<Self, Result<ConversationView, ActorError>>;

    #[tracing::instrument(skip_all, fields(conversation_id = %self.id))]
    fn handle(&mut self, msg: Accept, _: &mut Self::Context) -> Self::Result {
        // A teammate who lost the race learns it was taken (conflict), not
        // that it may not look (forbidden).
        let in_team = match &msg.party {
            Party::Staff { scope, .. } => self
                .row
                .as_ref()
                .and_then(|r| r.team_id)
                .is_some_and(|t| scope.teams.contains(&TeamId(t)) || scope.role == Role::Admin),
            Party::Customer { .. } => false,
        };
        if in_team && self.state() != Some(ConversationState::Queued) {
            return AtomicResponse::new(Box::pin(fut::ready(Err(ActorError::new(
                ErrorCode::Conflict,
                "the conversation is not waiting in a queue (already taken?)",
            )))));
        }
        let agent = match (&msg.party, self.authorize(&msg.party)) {
            (_, Err(e)) => return AtomicResponse::new(Box::pin(fut::ready(Err(e)))),
            (Party::Staff { scope, .. }, Ok(())) => scope.user,
            (Party::Customer { .. }, Ok(())) => {
                return AtomicResponse::new(Box::pin(fut::ready(Err(ActorError::forbidden(
                    "customers cannot accept",
                )))));
            }
        };
        if self.state() != Some(ConversationState::Queued) {
            return AtomicResponse::new(Box::pin(fut::ready(Err(ActorError::new(
                ErrorCode::Conflict,
                "the conversation is not waiting in a queue",
            )))));
        }
        let party = msg.party;
        let joining = msg.joining;
        self.change_viewed_then(
            move |db, id, fence| async move {
                let row = assign_alone(&db, id, fence, agent, &[ConversationState::Queued]).await?;
                let view = store::conversations::view(&db, row.clone()).await?;
                Ok((row, view))
            },
            move |act| {
                if let Some(j) = joining {
                    act.join(j.session, party, j.to);
                }
            },
        )
    }
}

/// A supervisor or admin gives the conversation to an agent.
#[derive(Message, serde::Serialize, serde::Deserialize)]
#[rtype(result = "Result<ConversationView, ActorError>")]
pub struct Assign {
    /// Who assigns.
    pub by: Party,
    /// The agent.
    pub agent: UserId,
}

impl Handler<Assign> for Conversation {
    type Result = AtomicResponse<Self, Result<ConversationView, ActorError>>;

    fn handle(&mut self, msg: Assign, _: &mut Self::Context) -> Self::Result {
        if let Err(e) = self.check_reassign(&msg.by, true) {
            return AtomicResponse::new(Box::pin(fut::ready(Err(e))));
        }
        let agent = msg.agent;
        self.change(move |db, id, fence| async move {
            assign_alone(
                &db,
                id,
                fence,
                agent,
                &[ConversationState::Queued, ConversationState::Assigned],
            )
            .await
        })
    }
}

impl Conversation {
    /// Who may move the conversation: supervisors of its team and admins
    /// (`assign`), or additionally the agent holding it (`transfer`).
    fn check_reassign(&self, by: &Party, supervisors_only: bool) -> Result<(), ActorError> {
        self.authorize(by)?;
        let row = self.loaded()?;
        let Party::Staff { scope, .. } = by else {
            return Err(ActorError::forbidden("customers cannot move conversations"));
        };
        if supervisors_only && scope.role == Role::Agent {
            return Err(ActorError::forbidden("only supervisors and admins assign"));
        }
        let conv = store::conversations::scope_of(row).map_err(ActorError::internal)?;
        if !staff_may_reassign(scope, &conv) {
            return Err(ActorError::forbidden("you may not move this conversation"));
        }
        if !conv.state.is_open() {
            return Err(ActorError::new(
                ErrorCode::Conflict,
                "the conversation is closed",
            ));
        }
        Ok(())
    }
}

/// Hand the conversation to another agent or to a team's queue.
#[derive(Message, serde::Serialize, serde::Deserialize)]
#[rtype(result = "Result<ConversationView, ActorError>")]
pub struct Transfer {
    /// Who transfers.
    pub by: Party,
    /// To this agent…
    pub agent: Option<UserId>,
    /// …or to this team.
    pub team: Option<TeamId>,
    /// Stored as an internal note.
    pub note: Option<String>,
}

impl Handler<Transfer> for Conversation {
    type Result = AtomicResponse<Self, Result<ConversationView, ActorError>>;

    fn handle(&mut self, msg: Transfer, _: &mut Self::Context) -> Self::Result {
        if let Err(e) = self.check_reassign(&msg.by, false) {
            return AtomicResponse::new(Box::pin(fut::ready(Err(e))));
        }
        let author = UserId(msg.by.id());
        let note = msg.note.filter(|n| !n.trim().is_empty());
        let (agent, team) = (msg.agent, msg.team);
        self.change(move |db, id, fence| async move {
            let txn = store::begin(&db).await.map_err(store::StoreError::from)?;
            let row = match (agent, team) {
                (Some(agent), _) => {
                    store::conversations::assign(
                        &txn,
                        id,
                        fence,
                        agent,
                        &[ConversationState::Queued, ConversationState::Assigned],
                        false,
                    )
                    .await?
                }
                (None, Some(team)) => {
                    if store::teams::find(&txn, team).await?.is_none() {
                        return Err(ChangeError::NoSuchTeam);
                    }
                    store::conversations::requeue(
                        &txn,
                        id,
                        fence,
                        Some(team),
                        &[ConversationState::Queued, ConversationState::Assigned],
                    )
                    .await?
                }
                (None, None) => return Err(ChangeError::Conflict),
            };
            if let Some(text) = note {
                store::notes::insert(&txn, id, author, &text).await?;
            }
            txn.commit().await.map_err(store::StoreError::from)?;
            Ok(row)
        })
    }
}

/// End the conversation.
#[derive(Message, serde::Serialize, serde::Deserialize)]
#[rtype(result = "Result<ConversationView, ActorError>")]
pub struct Close {
    /// Who closes (customer, or staff with access).
    pub by: Party,
    /// Why.
    pub reason: String,
}

impl Handler<Close> for Conversation {
    type Result = AtomicResponse<Self, Result<ConversationView, ActorError>>;

    fn handle(&mut self, msg: Close, _: &mut Self::Context) -> Self::Result {
        if let Err(e) = self.authorize(&msg.by) {
            return AtomicResponse::new(Box::pin(fut::ready(Err(e))));
        }
        if let Party::Staff { scope, .. } = &msg.by
            && scope.role == Role::Agent
            && self.row.as_ref().and_then(|r| r.assignee_id) != Some(scope.user.0)
        {
            return AtomicResponse::new(Box::pin(fut::ready(Err(ActorError::forbidden(
                "only the assigned agent, a supervisor or the customer closes",
            )))));
        }
        if let Some(state) = self.state()
            && state.apply(Transition::Close).is_err()
        {
            return AtomicResponse::new(Box::pin(fut::ready(Err(ActorError::new(
                ErrorCode::Conflict,
                "the conversation is already closed",
            )))));
        }
        let reason = msg.reason;
        self.change(move |db, id, fence| async move {
            store::conversations::close(&db, id, fence, &reason).await
        })
    }
}

/// Start a closed conversation again: back to its team's queue.
#[derive(Message, serde::Serialize, serde::Deserialize)]
#[rtype(result = "Result<ConversationView, ActorError>")]
pub struct Reopen {
    /// Staff with access.
    pub by: Party,
}

impl Handler<Reopen> for Conversation {
    type Result = AtomicResponse<Self, Result<ConversationView, ActorError>>;

    fn handle(&mut self, msg: Reopen, _: &mut Self::Context) -> Self::Result {
        if let Err(e) = self.authorize(&msg.by) {
            return AtomicResponse::new(Box::pin(fut::ready(Err(e))));
        }
        if self.state() != Some(ConversationState::Closed) {
            return AtomicResponse::new(Box::pin(fut::ready(Err(ActorError::new(
                ErrorCode::Conflict,
                "only a closed conversation can be reopened",
            )))));
        }
        // `authorize` passed, so the row is loaded.
        let Some(stored) = self.row.clone() else {
            return AtomicResponse::new(Box::pin(fut::ready(Err(no_such_conversation()))));
        };
        let default_team = self.settings.default_team.clone();
        let last_agent = stored.assignee_id.map(UserId);
        self.change(move |db, id, fence| async move {
            let txn = store::begin(&db).await.map_err(store::StoreError::from)?;
            // Its team as stored, not as this actor remembers it: a deleted
            // team's conversations lose it in the store alone. Without one,
            // it is routed as a new conversation with its facts would be.
            let team = match store::teams::of_conversation(&txn, id).await? {
                Some(t) => Some(TeamId(t.id)),
                None => {
                    let facts = Facts {
                        issue_type: stored.issue_type.as_deref(),
                        language: stored.language.as_deref(),
                        channel: &stored.channel,
                        custom_fields: stored.attributes.as_object(),
                    };
                    let new = Otherwise::NewConversation {
                        default_team: &default_team,
                    };
                    store::routing_rules::route(&txn, &facts, new).await?.team
                }
            };
            let mut row =
                store::conversations::requeue(&txn, id, fence, team, &[ConversationState::Closed])
                    .await?;
            // Back to the agent who had it, if that agent is online with room.
            if let Some(agent) = last_agent {
                match store::conversations::assign(
                    &txn,
                    id,
                    fence,
                    agent,
                    &[ConversationState::Queued],
                    true,
                )
                .await
                {
                    Ok(assigned) => row = assigned,
                    Err(ChangeError::Store(e)) => return Err(ChangeError::Store(e)),
                    Err(_) => {}
                }
            }
            txn.commit().await.map_err(store::StoreError::from)?;
            Ok(row)
        })
    }
}

/// Add an internal note: stored, and shown to staff following the
/// conversation (`note.created`), never to the customer.
#[derive(Message, serde::Serialize, serde::Deserialize)]
#[rtype(result = "Result<NoteView, ActorError>")]
pub struct AddNote {
    /// The author (staff with access).
    pub by: Party,
    /// 1–4000 characters.
    pub text: String,
}

impl Handler<AddNote> for Conversation {
    type Result = ResponseActFuture<Self, Result<NoteView, ActorError>>;

    fn handle(&mut self, msg: AddNote, _: &mut Self::Context) -> Self::Result {
        let author = match (&msg.by, self.authorize(&msg.by)) {
            (_, Err(e)) => return Box::pin(fut::ready(Err(e))),
            (Party::Staff { scope, name }, Ok(())) => (scope.user, name.clone()),
            (Party::Customer { .. }, Ok(())) => {
                return Box::pin(fut::ready(Err(ActorError::forbidden(
                    "notes are for staff",
                ))));
            }
        };
        let db = self.db.clone();
        let id = self.id;
        Box::pin(
            async move { store::notes::insert(&db, id, author.0, &msg.text).await }
                .into_actor(self)
                .map(move |res, act, _| {
                    let row = res.map_err(ActorError::from)?;
                    let note = NoteView {
                        id: row.id,
                        conversation_id: row.conversation_id,
                        author: Sender {
                            kind: PartyKind::Agent,
                            id: Some(row.author_id),
                            name: Some(author.1),
                        },
                        text: row.text,
                        created_at: row.created_at,
                    };
                    let frame = Deliver::frame(&ServerFrame::NoteCreated { note: note.clone() });
                    act.broadcast_deliver(&frame, None, |s| s.kind == PartyKind::Agent);
                    Ok(note)
                }),
        )
    }
}

/// The SLA targets of the team the conversation was in when they were
/// read ([`Conversation::read_sla`]); dropped if it has moved on since.
#[derive(Message)]
#[rtype(result = "()")]
struct SlaTargetsRead {
    team: Option<TeamId>,
    sla: SlaTargets,
}

impl Handler<SlaTargetsRead> for Conversation {
    type Result = ();

    fn handle(&mut self, msg: SlaTargetsRead, ctx: &mut Self::Context) {
        if self.row.as_ref().and_then(|r| r.team_id) == msg.team.map(|t| t.0) {
            self.sla = msg.sla;
            self.arm_sla(ctx);
        }
    }
}

/// Routing gives the conversation to an agent (no permission check: only
/// the team's queue sends this). Succeeds only if it still waits, the agent
/// is online, active and under capacity.
#[derive(Message, serde::Serialize, serde::Deserialize)]
#[rtype(result = "Result<ConversationView, ActorError>")]
pub struct AutoAssign {
    /// The agent chosen by the routing policy.
    pub agent: UserId,
}

impl Handler<AutoAssign> for Conversation {
    type Result = AtomicResponse<Self, Result<ConversationView, ActorError>>;

    fn handle(&mut self, msg: AutoAssign, _: &mut Self::Context) -> Self::Result {
        if self.state() != Some(ConversationState::Queued) {
            return AtomicResponse::new(Box::pin(fut::ready(Err(ActorError::new(
                ErrorCode::Conflict,
                "no longer waiting",
            )))));
        }
        let agent = msg.agent;
        // Through the group-commit writer: a draining backlog commits many
        // assignments per transaction instead of one each.
        let committer = self.committer.clone();
        let visitor = self.bare_visitor.clone();
        self.change_viewed(move |_, id, fence| async move {
            committer.assign(id, fence, agent, visitor).await
        })
    }
}

/// The conversation waited too long: move it to the fallback team's queue,
/// keeping its waiting time and skills.
#[derive(Message, serde::Serialize, serde::Deserialize)]
#[rtype(result = "Result<ConversationView, ActorError>")]
pub struct Overflow {
    /// The team it waits in now.
    pub from: TeamId,
    /// The fallback team.
    pub to: TeamId,
}

impl Handler<Overflow> for Conversation {
    type Result = AtomicResponse<Self, Result<ConversationView, ActorError>>;

    fn handle(&mut self, msg: Overflow, _: &mut Self::Context) -> Self::Result {
        let (from, to) = (msg.from, msg.to);
        self.change(move |db, id, fence| async move {
            store::conversations::overflow(&db, id, fence, from, to).await
        })
    }
}

/// The agent holding the conversation went offline (or stayed
/// disconnected): back to the front of its team's queue.
#[derive(Message, serde::Serialize, serde::Deserialize)]
#[rtype(result = "Result<ConversationView, ActorError>")]
pub struct RequeueFront {
    /// The agent who lost it.
    pub agent: UserId,
}

impl Handler<RequeueFront> for Conversation {
    type Result = AtomicResponse<Self, Result<ConversationView, ActorError>>;

    fn handle(&mut self, msg: RequeueFront, _: &mut Self::Context) -> Self::Result {
        let agent = msg.agent;
        self.change(move |db, id, fence| async move {
            store::conversations::requeue_front(&db, id, fence, agent).await
        })
    }
}

/// The idle timer fired: close with reason `idle`, like any other close
/// (conditional, fenced, then [`Conversation::changed`]).
#[derive(Message)]
#[rtype(result = "Result<ConversationView, ActorError>")]
struct CloseIdle;

impl Handler<CloseIdle> for Conversation {
    type Result = AtomicResponse<Self, Result<ConversationView, ActorError>>;

    fn handle(&mut self, _: CloseIdle, _: &mut Self::Context) -> Self::Result {
        self.change(move |db, id, fence| async move {
            store::conversations::close(&db, id, fence, "idle").await
        })
    }
}

/// The triage flow is done (or the customer asked for a person): move the
/// conversation to a queue with what the bot learned, re-running the
/// routing rules on it (an issue type chosen in triage can pick the team).
#[derive(Message)]
#[rtype(result = "()")]
struct LeaveBot {
    /// The bot's answers.
    answers: Answers,
}

impl Handler<LeaveBot> for Conversation {
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, msg: LeaveBot, _: &mut Self::Context) -> Self::Result {
        let db = self.db.clone();
        let id = self.id;
        let fence = self.fence;
        let before = self.row.clone();
        AtomicResponse::new(Box::pin(
            async move {
                let txn = store::begin(&db).await.map_err(store::StoreError::from)?;
                let Some(row) = store::conversations::find(&txn, id).await? else {
                    return Err(ChangeError::Conflict);
                };
                let answers = msg.answers;
                let mut attributes = match row.attributes {
                    serde_json::Value::Object(m) => m,
                    _ => serde_json::Map::new(),
                };
                for (k, v) in answers.attributes {
                    attributes.insert(k, serde_json::Value::String(v));
                }
                let issue_type = answers.issue_type.or(row.issue_type);
                let language = answers.language.or(row.language);
                let route = store::routing_rules::route(
                    &txn,
                    &Facts {
                        issue_type: issue_type.as_deref(),
                        language: language.as_deref(),
                        channel: &row.channel,
                        custom_fields: Some(&attributes),
                    },
                    Otherwise::Stay(row.team_id.map(TeamId)),
                )
                .await?;
                // An explicit choice of team wins over the rules, if that
                // team still exists.
                let chosen = match answers.team {
                    Some(t) => store::teams::find(&txn, t).await?.map(|_| t),
                    None => None,
                };
                store::conversations::require_skills(&txn, id, &route.required).await?;
                let row = store::conversations::leave_bot(
                    &txn,
                    id,
                    fence,
                    store::conversations::BotHandoff {
                        team: chosen.or(route.team),
                        issue_type,
                        language,
                        attributes: serde_json::Value::Object(attributes),
                        priority: route.priority,
                    },
                )
                .await?;
                txn.commit().await.map_err(store::StoreError::from)?;
                let view = store::conversations::view(&db, row.clone()).await?;
                Ok((row, view, route.required))
            }
            .into_actor(self)
            .map(move |res: Result<_, ChangeError>, act, ctx| match res {
                Ok((row, view, required)) => {
                    tracing::info!(conversation_id = %act.id, team_id = ?row.team_id, "triage done; queued");
                    act.bot = None;
                    act.required = required;
                    act.changed(ctx, before, view, row);
                }
                Err(ChangeError::Conflict) => act.bot = None,
                Err(e) => {
                    // Try again shortly: the customer must not stay with
                    // the bot because one write failed.
                    tracing::error!(conversation_id = %act.id, error = %e, "triage handoff failed; retrying");
                    if let Some(bot) = act.bot.as_mut() {
                        bot.handing_off = false;
                    }
                    ctx.run_later(Duration::from_secs(1), |act, ctx| act.bot_step(ctx));
                }
            }),
        ))
    }
}
