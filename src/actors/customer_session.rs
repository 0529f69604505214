//! One customer's socket: bound to exactly one conversation (from its
//! visitor token), it can never address another.

use actix::prelude::*;
use actix_ws::{Message, ProtocolError};
use serde_json::json;

use super::conversation::{Close, MarkRead, SendMessage, SetTyping, Subscribe, Unsubscribe};
use super::socket::{Intake, SocketCore};
use super::{ActorError, Control, Deliver, Party};
use crate::bus::{Bus, ConversationRef, Pace, SessionRef};
use crate::config::RealtimeSettings;
use crate::domain::protocol::{ClientEvent, ServerFrame};
use crate::domain::{ConversationId, ErrorCode};

/// The live socket of a widget visitor.
pub struct CustomerSession {
    core: SocketCore,
    bus: Bus,
    party: Party,
    conversation: ConversationId,
    conv: Option<ConversationRef>,
    /// This node's id, for `hello`; taken once sent (a socket lives for hours).
    node_id: String,
    /// This socket, as actors on any node reach it.
    this: SessionRef,
}

impl CustomerSession {
    /// A session for `party` (a customer) on `session`.
    pub fn new(
        session: actix_ws::Session,
        settings: &RealtimeSettings,
        node_id: String,
        bus: Bus,
        party: Party,
        conversation: ConversationId,
        addr: Addr<CustomerSession>,
    ) -> Self {
        let core = SocketCore::new(session, settings);
        let this = bus.register_session(core.id, addr.clone().recipient(), addr.recipient());
        CustomerSession {
            core,
            this,
            bus,
            party,
            conversation,
            conv: None,
            node_id,
        }
    }

    fn core(&mut self) -> &mut SocketCore {
        &mut self.core
    }

    fn answer(
        &mut self,
        ctx: &mut Context<Self>,
        reference: Option<String>,
        fut: impl Future<Output = Result<ServerFrame, ActorError>> + 'static,
    ) {
        ctx.spawn(fut.into_actor(self).map(move |res, act, ctx| {
            let frame = res.unwrap_or_else(|e| e.frame(reference));
            act.core.reply(ctx, &frame);
        }));
    }

    fn handle_frame(
        &mut self,
        event: ClientEvent,
        reference: Option<String>,
        ctx: &mut Context<Self>,
    ) {
        let Some(conv) = self.conv.clone() else {
            self.core.reply(
                ctx,
                &ServerFrame::error(reference, ErrorCode::Internal, "conversation unavailable"),
            );
            return;
        };
        let mine = self.conversation;
        let other = |id: &Option<ConversationId>| id.is_some_and(|i| i != mine);
        let party = self.party.clone();
        let session = self.core.id;
        match event {
            ClientEvent::MessageSend {
                conversation_id, ..
            }
            | ClientEvent::Typing {
                conversation_id, ..
            }
            | ClientEvent::Read {
                conversation_id, ..
            }
            | ClientEvent::Resume {
                conversation_id, ..
            }
            | ClientEvent::Close {
                conversation_id, ..
            } if other(&conversation_id) => {
                self.core.reply(
                    ctx,
                    &ServerFrame::error(reference, ErrorCode::Forbidden, "not your conversation"),
                );
            }
            ClientEvent::MessageSend {
                client_msg_id,
                text,
                ..
            } => {
                // The ack comes from the conversation, in commit order.
                let ask = conv.ask(SendMessage {
                    session: Some(session),
                    reply_to: Some((self.this.clone(), reference.clone())),
                    party,
                    client_msg_id,
                    text,
                });
                ctx.spawn(ask.into_actor(self).map(move |res, act, ctx| {
                    if let Err(e) = res.map_err(ActorError::from).and_then(|r| r) {
                        act.core.reply(ctx, &e.frame(reference));
                    }
                }));
            }
            ClientEvent::Typing { is_typing, .. } => {
                let ask = conv.ask(SetTyping {
                    session,
                    party,
                    is_typing,
                });
                ctx.spawn(
                    async move {
                        let _ = ask.await;
                    }
                    .into_actor(self),
                );
            }
            ClientEvent::Read { up_to_seq, .. } => {
                let ask = conv.ask(MarkRead { party, up_to_seq });
                ctx.spawn(
                    async move {
                        let _ = ask.await;
                    }
                    .into_actor(self),
                );
            }
            ClientEvent::Resume { after_seq, .. } => {
                let ask = conv.ask(Subscribe {
                    session,
                    party,
                    to: self.this.clone(),
                    after_seq: Some(after_seq),
                    reference: reference.clone(),
                    quiet: false,
                });
                ctx.spawn(ask.into_actor(self).map(move |res, act, ctx| {
                    if let Err(e) = res.map_err(ActorError::from).and_then(|r| r) {
                        act.core.reply(ctx, &e.frame(reference));
                    }
                }));
            }
            ClientEvent::Close { reason, .. } => {
                let ask = conv.ask(Close {
                    by: party,
                    reason: reason.unwrap_or_else(|| "customer".to_owned()),
                });
                let r = reference.clone();
                self.answer(ctx, reference, async move {
                    ask.await??;
                    Ok(ServerFrame::Ok { reference: r })
                });
            }
            ClientEvent::Ping => self.core.reply(ctx, &ServerFrame::Pong { reference }),
            ClientEvent::Accept { .. }
            | ClientEvent::Assign { .. }
            | ClientEvent::Transfer { .. }
            | ClientEvent::PresenceSet { .. }
            | ClientEvent::QueueWatch { .. } => {
                self.core.reply(
                    ctx,
                    &ServerFrame::error(
                        reference,
                        ErrorCode::Forbidden,
                        "not available to customers",
                    ),
                );
            }
        }
    }
}

impl Actor for CustomerSession {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.core.mailbox);
        self.core.start_heartbeat(ctx, Self::core);
        let hello = ServerFrame::Hello {
            session_id: self.core.id.to_string(),
            node_id: std::mem::take(&mut self.node_id),
            heartbeat_ms: self.core.heartbeat_ms(),
            me: json!({"visitor_id": self.party.id(), "conversation_id": self.conversation.0}),
        };
        let bus = self.bus.clone();
        let id = self.conversation;
        let subscribe = Subscribe {
            session: self.core.id,
            party: self.party.clone(),
            to: self.this.clone(),
            after_seq: None,
            reference: None,
            quiet: false,
        };
        // Frames wait until the conversation is reachable, and `hello`
        // comes once the socket is subscribed: a client that acts on
        // `hello` (a REST change, say) then sees every update that follows.
        ctx.wait(
            async move {
                let conv = bus.conversation(id).await?;
                conv.ask(subscribe).await??;
                Ok::<_, ActorError>(conv)
            }
            .into_actor(self)
            .map(move |res, act, ctx| match res {
                Ok(conv) => {
                    act.core.reply(ctx, &hello);
                    act.bus.follow(&conv, &act.this);
                    act.conv = Some(conv);
                }
                Err(e) => {
                    act.core.reply(ctx, &hello);
                    act.core.reply(ctx, &e.frame(None));
                    act.core
                        .outbox
                        .close(actix_ws::CloseCode::Policy, "conversation unavailable");
                    ctx.stop();
                }
            }),
        );
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        if let Some(conv) = &self.conv {
            conv.tell(Unsubscribe {
                session: self.core.id,
            });
        }
        self.bus.forget_session(self.core.id);
    }
}

impl Handler<Control> for CustomerSession {
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
            // Customers follow their one conversation from the start.
            Control::Follow { .. } => {}
        }
    }
}

impl Handler<Deliver> for CustomerSession {
    type Result = ();

    fn handle(&mut self, msg: Deliver, ctx: &mut Self::Context) {
        self.core.deliver(ctx, msg.0, Pace::Live);
    }
}

impl StreamHandler<Result<Message, ProtocolError>> for CustomerSession {
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
