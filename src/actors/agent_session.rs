//! One staff socket (agent, supervisor or admin). It follows the
//! conversations assigned to its user, and any other it resumes or accepts;
//! every request is checked by the Conversation actor against invariant 6.

use std::collections::{HashMap, VecDeque};

use actix::prelude::*;
use actix_ws::{Message, ProtocolError};

use super::conversation::{
    Accept, Assign, Close, Joining, MarkRead, SendMessage, SetTyping, Subscribe, Transfer,
    Unsubscribe,
};
use super::router::AgentEvent;
use super::socket::{Intake, SocketCore};
use super::team_queue::{Unwatch, Watch};
use super::{ActorError, Control, Deliver, Party};
use crate::bus::{Bus, BusError, ConversationRef, Pace, SessionRef, TeamRef};
use crate::config::RealtimeSettings;
use crate::domain::access::StaffScope;
use crate::domain::protocol::{ClientEvent, ServerFrame};
use crate::domain::{AgentStatus, ConversationId, ErrorCode, Role, TeamId};
use crate::store::{self, Db};

/// The live socket of a staff member.
pub struct AgentSession {
    core: SocketCore,
    bus: Bus,
    db: Db,
    party: Party,
    scope: StaffScope,
    /// The user as `/me` shows it, for `hello`; taken (left `Null`) once
    /// sent, as a socket holds it for hours and a staff member's JSON tree
    /// is some 2.8 KiB of small allocations.
    me: serde_json::Value,
    /// This node's id, for `hello`; taken once sent, like `me`.
    node_id: String,
    /// The login session (refresh family) of the token that opened it.
    family: String,
    /// Resolved conversations (a cache of bus lookups).
    convs: HashMap<ConversationId, ConversationRef>,
    /// Queues this socket watches.
    watching: HashMap<TeamId, TeamRef>,
    /// This socket, as actors on any node reach it.
    this: SessionRef,
    /// `presence.set` frames not yet answered, oldest first (status, ref);
    /// the head's write is in flight. Written one at a time, as concurrent
    /// writes could commit in either order and leave stored a status other
    /// than the last one asked for.
    presence: VecDeque<(AgentStatus, Option<String>)>,
}

impl AgentSession {
    /// A session for a staff member; `me` is the user as `/me` shows it.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        session: actix_ws::Session,
        settings: &RealtimeSettings,
        node_id: String,
        bus: Bus,
        db: Db,
        scope: StaffScope,
        name: String,
        me: serde_json::Value,
        family: String,
        addr: Addr<AgentSession>,
    ) -> Self {
        let core = SocketCore::new(session, settings);
        let this = bus.register_session(core.id, addr.clone().recipient(), addr.recipient());
        AgentSession {
            core,
            this,
            bus,
            db,
            party: Party::Staff {
                scope: scope.clone(),
                name,
            },
            scope,
            me,
            node_id,
            family,
            convs: HashMap::new(),
            watching: HashMap::new(),
            presence: VecDeque::new(),
        }
    }

    fn core(&mut self) -> &mut SocketCore {
        &mut self.core
    }

    fn reply_result(
        &mut self,
        ctx: &mut Context<Self>,
        id: ConversationId,
        reference: Option<String>,
        res: Result<ServerFrame, ActorError>,
    ) {
        let frame = res.unwrap_or_else(|e| {
            if e.code == ErrorCode::Internal {
                // Maybe the actor stopped; resolve afresh next time.
                self.convs.remove(&id);
            }
            e.frame(reference)
        });
        self.core.reply(ctx, &frame);
    }

    /// Runs `then` with the conversation's reference, resolving it first
    /// if needed. While resolving, the socket handles nothing else, so
    /// requests reach the conversation in the order they were sent.
    fn with_conv(
        &mut self,
        ctx: &mut Context<Self>,
        id: ConversationId,
        reference: Option<String>,
        then: impl FnOnce(&mut Self, &mut Context<Self>, ConversationRef) + 'static,
    ) {
        if let Some(conv) = self.convs.get(&id).filter(|c| c.is_alive()).cloned() {
            then(self, ctx, conv);
            return;
        }
        let bus = self.bus.clone();
        ctx.wait(
            async move { bus.conversation(id).await }
                .into_actor(self)
                .map(
                    move |res: Result<ConversationRef, BusError>, act, ctx| match res {
                        Ok(conv) => {
                            act.convs.insert(id, conv.clone());
                            then(act, ctx, conv);
                        }
                        Err(e) => act.core.reply(ctx, &ActorError::from(e).frame(reference)),
                    },
                ),
        );
    }

    /// Follows a conversation. With `catch_up` (one just given to this
    /// agent, and its seq then), messages committed after that seq arrive
    /// even if this join, which may cross the bus, lands after them; no
    /// `resume.done`, and a socket already following it is left as it is.
    fn subscribe(
        &mut self,
        ctx: &mut Context<Self>,
        conv: &ConversationRef,
        catch_up: Option<i64>,
    ) {
        let ask = conv.ask(Subscribe {
            session: self.core.id,
            party: self.party.clone(),
            to: self.this.clone(),
            after_seq: catch_up,
            reference: None,
            quiet: catch_up.is_some(),
        });
        self.bus.follow(conv, &self.this);
        ctx.spawn(
            async move {
                let _ = ask.await;
            }
            .into_actor(self),
        );
    }

    fn need_conv(
        &mut self,
        ctx: &mut Context<Self>,
        id: Option<ConversationId>,
        reference: &Option<String>,
    ) -> Option<ConversationId> {
        if id.is_none() {
            self.core.reply(
                ctx,
                &ServerFrame::error(
                    reference.clone(),
                    ErrorCode::BadRequest,
                    "conversation_id is required",
                ),
            );
        }
        id
    }

    fn handle_frame(
        &mut self,
        event: ClientEvent,
        reference: Option<String>,
        ctx: &mut Context<Self>,
    ) {
        let party = self.party.clone();
        let session = self.core.id;
        match event {
            ClientEvent::MessageSend {
                conversation_id,
                client_msg_id,
                text,
            } => {
                let Some(id) = self.need_conv(ctx, conversation_id, &reference) else {
                    return;
                };
                self.with_conv(ctx, id, reference.clone(), move |act, ctx, conv| {
                    // The ack comes from the conversation, in commit order.
                    let ask = conv.ask(SendMessage {
                        session: Some(session),
                        reply_to: Some((act.this.clone(), reference.clone())),
                        party,
                        client_msg_id,
                        text,
                    });
                    act.spawn_unit(
                        ctx,
                        id,
                        reference,
                        async move { ask.await.map(|r| r.map(|_| ())) },
                        false,
                    );
                });
            }
            ClientEvent::Typing {
                conversation_id,
                is_typing,
            } => {
                let Some(id) = self.need_conv(ctx, conversation_id, &reference) else {
                    return;
                };
                self.with_conv(ctx, id, reference.clone(), move |act, ctx, conv| {
                    let ask = conv.ask(SetTyping {
                        session,
                        party,
                        is_typing,
                    });
                    act.spawn_unit(ctx, id, reference, ask, false);
                });
            }
            ClientEvent::Read {
                conversation_id,
                up_to_seq,
            } => {
                let Some(id) = self.need_conv(ctx, conversation_id, &reference) else {
                    return;
                };
                self.with_conv(ctx, id, reference.clone(), move |act, ctx, conv| {
                    let ask = conv.ask(MarkRead { party, up_to_seq });
                    act.spawn_unit(ctx, id, reference, ask, false);
                });
            }
            ClientEvent::Resume {
                conversation_id,
                after_seq,
            } => {
                let Some(id) = self.need_conv(ctx, conversation_id, &reference) else {
                    return;
                };
                self.with_conv(ctx, id, reference.clone(), move |act, ctx, conv| {
                    let ask = conv.ask(Subscribe {
                        session,
                        party,
                        to: act.this.clone(),
                        after_seq: Some(after_seq),
                        reference: reference.clone(),
                        quiet: false,
                    });
                    act.bus.follow(&conv, &act.this);
                    act.spawn_unit(ctx, id, reference, ask, false);
                });
            }
            ClientEvent::Accept { conversation_id } => {
                let id = conversation_id;
                self.with_conv(ctx, id, reference.clone(), move |act, ctx, conv| {
                    let ask = conv.ask(Accept {
                        party,
                        joining: Some(Joining {
                            session: act.core.id,
                            to: act.this.clone(),
                        }),
                    });
                    ctx.spawn(ask.into_actor(act).map(move |res, act, ctx| {
                        let res = res.map_err(ActorError::from).and_then(|r| r);
                        // Subscribed by the accept itself; only the node
                        // hosting it is to be watched from here.
                        if res.is_ok()
                            && let Some(conv) = act.convs.get(&id).cloned()
                        {
                            act.bus.follow(&conv, &act.this);
                        }
                        let r = reference.clone();
                        act.reply_result(
                            ctx,
                            id,
                            reference,
                            res.map(|_| ServerFrame::Ok { reference: r }),
                        );
                    }));
                });
            }
            ClientEvent::Assign {
                conversation_id,
                agent_id,
            } => {
                let id = conversation_id;
                self.with_conv(ctx, id, reference.clone(), move |act, ctx, conv| {
                    let ask = conv.ask(Assign {
                        by: party,
                        agent: agent_id,
                    });
                    act.spawn_ok(ctx, id, reference, ask);
                });
            }
            ClientEvent::Transfer {
                conversation_id,
                agent_id,
                team_id,
                note,
            } => {
                let id = conversation_id;
                self.with_conv(ctx, id, reference.clone(), move |act, ctx, conv| {
                    let ask = conv.ask(Transfer {
                        by: party,
                        agent: agent_id,
                        team: team_id,
                        note,
                    });
                    act.spawn_ok(ctx, id, reference, ask);
                });
            }
            ClientEvent::Close {
                conversation_id,
                reason,
            } => {
                let Some(id) = self.need_conv(ctx, conversation_id, &reference) else {
                    return;
                };
                self.with_conv(ctx, id, reference.clone(), move |act, ctx, conv| {
                    let ask = conv.ask(Close {
                        by: party,
                        reason: reason.unwrap_or_else(|| "resolved".to_owned()),
                    });
                    act.spawn_ok(ctx, id, reference, ask);
                });
            }
            ClientEvent::PresenceSet { status } => {
                self.presence.push_back((status, reference));
                // Otherwise a write is in flight and starts this one when done.
                if self.presence.len() == 1 {
                    self.write_presence(ctx);
                }
            }
            ClientEvent::QueueWatch { team_id } => {
                let allowed = self.scope.role == Role::Admin || self.scope.teams.contains(&team_id);
                if !allowed {
                    self.core.reply(
                        ctx,
                        &ServerFrame::error(
                            reference,
                            ErrorCode::Forbidden,
                            "not one of your teams",
                        ),
                    );
                    return;
                }
                let bus = self.bus.clone();
                let db = self.db.clone();
                ctx.spawn(
                    async move {
                        if store::teams::find(&db, team_id).await?.is_none() {
                            return Err(ActorError::new(ErrorCode::NotFound, "no such team"));
                        }
                        Ok(bus.team(team_id).await?)
                    }
                    .into_actor(self)
                    .map(
                        move |res: Result<TeamRef, ActorError>, act, ctx| match res {
                            Ok(team) => {
                                team.tell(Watch {
                                    session,
                                    to: act.this.clone(),
                                });
                                act.bus.follow(&team, &act.this);
                                act.watching.insert(team_id, team);
                            }
                            Err(e) => act.core.reply(ctx, &e.frame(reference)),
                        },
                    ),
                );
            }
            ClientEvent::Ping => self.core.reply(ctx, &ServerFrame::Pong { reference }),
        }
    }

    /// Stores the status of the oldest pending `presence.set`, then answers
    /// it, tells the router and starts the next one. Chained rather than
    /// awaited with `ctx.wait`, so pings and messages are not held up by
    /// the database, while writes, answers and router events still follow
    /// the order the frames came in.
    fn write_presence(&mut self, ctx: &mut Context<Self>) {
        let Some(&(status, _)) = self.presence.front() else {
            return;
        };
        let db = self.db.clone();
        let user = self.scope.user;
        ctx.spawn(
            async move {
                store::users::update(
                    &db,
                    user,
                    store::users::UserChanges {
                        status: Some(status),
                        ..Default::default()
                    },
                )
                .await
            }
            .into_actor(self)
            .map(move |res, act, ctx| {
                // Left at the head until now, so a frame arriving during
                // the write queued behind it instead of starting its own.
                let Some((_, reference)) = act.presence.pop_front() else {
                    return;
                };
                let frame = match res {
                    Ok(_) if status == AgentStatus::Offline => {
                        act.bus.agent_event(AgentEvent::WentOffline { agent: user });
                        ServerFrame::Ok { reference }
                    }
                    Ok(_) => {
                        act.bus.agent_event(AgentEvent::Changed { agent: user });
                        ServerFrame::Ok { reference }
                    }
                    Err(e) => ActorError::from(e).frame(reference),
                };
                act.core.reply(ctx, &frame);
                act.write_presence(ctx);
            }),
        );
    }

    /// Awaits a request whose success has no frame of its own (or, with
    /// `ok`, answers `ok`); failures become `error` frames.
    fn spawn_unit(
        &mut self,
        ctx: &mut Context<Self>,
        id: ConversationId,
        reference: Option<String>,
        ask: impl Future<Output = Result<Result<(), ActorError>, BusError>> + 'static,
        ok: bool,
    ) {
        ctx.spawn(ask.into_actor(self).map(move |res, act, ctx| {
            match res.map_err(ActorError::from).and_then(|r| r) {
                Ok(()) if ok => act.core.reply(ctx, &ServerFrame::Ok { reference }),
                Ok(()) => {}
                Err(e) => act.reply_result(ctx, id, reference, Err(e)),
            }
        }));
    }

    /// Awaits a state change and answers `ok` or `error`.
    fn spawn_ok<T: 'static>(
        &mut self,
        ctx: &mut Context<Self>,
        id: ConversationId,
        reference: Option<String>,
        ask: impl Future<Output = Result<Result<T, ActorError>, BusError>> + 'static,
    ) {
        ctx.spawn(ask.into_actor(self).map(move |res, act, ctx| {
            let r = reference.clone();
            let res = res
                .map_err(ActorError::from)
                .and_then(|r| r)
                .map(|_| ServerFrame::Ok { reference: r });
            act.reply_result(ctx, id, reference, res);
        }));
    }
}

impl Actor for AgentSession {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.core.mailbox);
        self.core.start_heartbeat(ctx, Self::core);
        let hello = ServerFrame::Hello {
            session_id: self.core.id.to_string(),
            node_id: std::mem::take(&mut self.node_id),
            heartbeat_ms: self.core.heartbeat_ms(),
            me: self.me.take(),
        };
        self.core.reply(ctx, &hello);
        self.bus.agent_event(AgentEvent::Connected {
            agent: self.scope.user,
            session: self.core.id,
            recipient: ctx.address().recipient(),
            control: ctx.address().recipient(),
            family: self.family.clone(),
            teams: self.scope.teams.clone(),
        });
        // Follow every open conversation this user holds.
        let db = self.db.clone();
        let bus = self.bus.clone();
        let user = self.scope.user;
        ctx.wait(
            async move {
                let ids = store::conversations::open_assigned_to(&db, user).await?;
                let mut refs = Vec::new();
                for id in ids {
                    if let Ok(r) = bus.conversation(id).await {
                        refs.push((id, r));
                    }
                }
                Ok::<_, store::StoreError>(refs)
            }
            .into_actor(self)
            .map(|res, act, ctx| match res {
                Ok(refs) => {
                    for (id, conv) in refs {
                        act.subscribe(ctx, &conv, None);
                        act.convs.insert(id, conv);
                    }
                }
                Err(e) => tracing::error!(error = %e, "could not load assigned conversations"),
            }),
        );
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        for conv in self.convs.values() {
            conv.tell(Unsubscribe {
                session: self.core.id,
            });
        }
        for team in self.watching.values() {
            team.tell(Unwatch {
                session: self.core.id,
            });
        }
        self.bus.agent_event(AgentEvent::Disconnected {
            agent: self.scope.user,
            session: self.core.id,
        });
        self.bus.forget_session(self.core.id);
    }
}

impl Handler<Deliver> for AgentSession {
    type Result = ();

    fn handle(&mut self, msg: Deliver, ctx: &mut Self::Context) {
        self.core.deliver(ctx, msg.0, Pace::Live);
    }
}

impl Handler<Control> for AgentSession {
    type Result = ();

    fn handle(&mut self, msg: Control, ctx: &mut Self::Context) {
        match msg {
            Control::Kick(reason) => {
                self.core.outbox.close(actix_ws::CloseCode::Policy, &reason);
                ctx.stop();
            }
            Control::Reconnect(reason) => {
                self.core
                    .outbox
                    .close(actix_ws::CloseCode::Restart, &reason);
                ctx.stop();
            }
            Control::Requested(text) => self.core.deliver(ctx, text, Pace::Requested),
            Control::Follow {
                conversation,
                after_seq,
            } => {
                self.with_conv(ctx, conversation, None, move |act, ctx, conv| {
                    act.subscribe(ctx, &conv, Some(after_seq))
                });
            }
        }
    }
}

impl StreamHandler<Result<Message, ProtocolError>> for AgentSession {
    fn handle(&mut self, item: Result<Message, ProtocolError>, ctx: &mut Self::Context) {
        match self.core.intake(item, ctx) {
            Intake::Frame(f) => self.handle_frame(f.event, f.reference, ctx),
            Intake::Done => {}
            Intake::Stop => ctx.stop(),
        }
    }

    fn finished(&mut self, ctx: &mut Self::Context) {
        ctx.stop();
    }
}
