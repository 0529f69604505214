//! What both socket actors share: the writer task that owns the
//! `actix_ws::Session` behind a bounded channel (its bound is the slow-client
//! limit), heartbeats, the per-socket send limit, and frame intake.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_ws::{CloseCode, CloseReason, Message, ProtocolError};
use bytestring::ByteString;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::mpsc;

use super::SessionId;
use crate::config::RealtimeSettings;
use crate::domain::ErrorCode;
use crate::domain::protocol::{ClientEvent, ClientFrame, ServerFrame, parse_client_frame};

static NEXT_SESSION: AtomicU64 = AtomicU64::new(1);

/// A random 24-bit prefix per process, so socket ids of different nodes
/// (which meet in one conversation's subscriber list) do not collide.
static SESSION_SALT: std::sync::LazyLock<u64> =
    std::sync::LazyLock::new(|| u64::from(rand::random::<u32>() & 0x00ff_ffff) << 40);

/// A fresh socket id, unique in the process and (by its random prefix)
/// across the nodes of a cluster.
pub fn next_session_id() -> SessionId {
    *SESSION_SALT | (NEXT_SESSION.fetch_add(1, Ordering::Relaxed) & ((1 << 40) - 1))
}

/// Something for the writer task to do.
enum Outgoing {
    Text(ByteString),
    Ping,
    Pong(bytes::Bytes),
    Close(Option<CloseReason>),
}

/// How long a closing socket may take to flush what was queued before it.
const DRAIN: Duration = Duration::from_secs(5);

/// The sending half of a socket. Dropping it lets the writer flush what is
/// queued (for up to [`DRAIN`]) and close; [`Outbox::abort`] drops the
/// connection at once.
pub struct Outbox {
    tx: mpsc::Sender<Outgoing>,
    abort: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Outbox {
    /// Spawns the writer task owning `session`; at most `capacity` frames
    /// wait for a client that does not read.
    pub fn spawn(session: actix_ws::Session, capacity: usize) -> Self {
        let (tx, rx) = mpsc::channel::<Outgoing>(capacity);
        let (abort_tx, abort_rx) = tokio::sync::oneshot::channel();
        actix_rt::spawn(write_loop(session, rx, abort_rx));
        Outbox {
            tx,
            abort: Some(abort_tx),
        }
    }

    /// Queues a text frame; `false` when the client is too slow (buffer full)
    /// or gone.
    pub fn push(&self, text: ByteString) -> bool {
        self.tx.try_send(Outgoing::Text(text)).is_ok()
    }

    /// Queues a server frame.
    pub fn send(&self, frame: &ServerFrame) -> bool {
        self.push(ByteString::from(frame.to_json()))
    }

    fn ping(&self) {
        let _ = self.tx.try_send(Outgoing::Ping);
    }

    /// Closes with a code and reason.
    pub fn close(&self, code: CloseCode, description: &str) {
        let _ = self.tx.try_send(Outgoing::Close(Some(CloseReason {
            code,
            description: Some(description.to_owned()),
        })));
    }

    /// Drops the connection now, without flushing: for a client that stopped
    /// reading, whose writes would block forever.
    pub fn abort(&mut self) {
        if let Some(a) = self.abort.take() {
            let _ = a.send(());
        }
    }
}

/// Resolves when [`Outbox::abort`] was called; never when the outbox was
/// merely dropped (then the queue is drained instead).
async fn aborted(rx: &mut Option<tokio::sync::oneshot::Receiver<()>>) {
    if let Some(r) = rx {
        if r.await.is_ok() {
            return;
        }
        *rx = None;
    }
    std::future::pending::<()>().await;
}

/// Owns the `actix_ws::Session`: writes queued frames in order; stops when
/// aborted, when the client is gone, or (after draining) when the queue closes.
async fn write_loop(
    mut session: actix_ws::Session,
    mut rx: mpsc::Receiver<Outgoing>,
    abort: tokio::sync::oneshot::Receiver<()>,
) {
    let mut abort = Some(abort);
    loop {
        let out = tokio::select! {
            biased;
            _ = aborted(&mut abort) => return,
            out = rx.recv() => out,
        };
        let Some(out) = out else { break };
        let write = async {
            match out {
                Outgoing::Text(t) => session.text(t).await.is_ok(),
                Outgoing::Ping => session.ping(b"").await.is_ok(),
                Outgoing::Pong(b) => session.pong(&b).await.is_ok(),
                Outgoing::Close(reason) => {
                    let _ = session.clone().close(reason).await;
                    false
                }
            }
        };
        let go_on = tokio::select! {
            biased;
            _ = aborted(&mut abort) => return,
            ok = write => ok,
        };
        if !go_on {
            return;
        }
    }
    let _ = tokio::time::timeout(DRAIN, session.close(None)).await;
}

/// Per-socket plumbing shared by agent and customer sessions.
pub struct SocketCore {
    /// This socket's id.
    pub id: SessionId,
    /// Where frames go.
    pub outbox: Outbox,
    limiter: DefaultDirectRateLimiter,
    strikes: u32,
    last_seen: Instant,
    heartbeat: Duration,
    timeout: Duration,
    abuse_strikes: u32,
}

/// What the session should do with one incoming WebSocket item.
pub enum Intake {
    /// A valid client frame.
    Frame(ClientFrame),
    /// Handled here (pong, bad frame answered); nothing more to do.
    Done,
    /// The socket must stop.
    Stop,
}

impl SocketCore {
    /// Core state for a new socket.
    pub fn new(session: actix_ws::Session, settings: &RealtimeSettings) -> Self {
        let heartbeat = Duration::from_millis(settings.heartbeat_ms);
        let burst = NonZeroU32::new(settings.send_limit).unwrap_or(NonZeroU32::MIN);
        let period = Duration::from_secs(settings.send_window_s) / burst.get();
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(burst))
            .allow_burst(burst);
        SocketCore {
            id: next_session_id(),
            outbox: Outbox::spawn(session, settings.outbound_buffer),
            limiter: RateLimiter::direct(quota),
            strikes: 0,
            last_seen: Instant::now(),
            heartbeat,
            timeout: heartbeat * settings.client_timeout_heartbeats,
            abuse_strikes: settings.abuse_strikes,
        }
    }

    /// The heartbeat interval, for `hello`.
    pub fn heartbeat_ms(&self) -> u64 {
        u64::try_from(self.heartbeat.as_millis()).unwrap_or(u64::MAX)
    }

    /// Pings on an interval; stops the actor when the client went silent
    /// (stale sessions are reaped by their own timer, not by a sweep).
    pub fn start_heartbeat<A>(&self, ctx: &mut Context<A>, core: fn(&mut A) -> &mut SocketCore)
    where
        A: Actor<Context = Context<A>>,
    {
        ctx.run_interval(self.heartbeat, move |act, ctx| {
            let c = core(act);
            if c.last_seen.elapsed() > c.timeout {
                c.outbox.close(CloseCode::Policy, "heartbeat timeout");
                ctx.stop();
            } else {
                c.outbox.ping();
            }
        });
    }

    /// Sends a frame; a client too slow to take it is disconnected.
    pub fn reply<A>(&mut self, ctx: &mut Context<A>, frame: &ServerFrame)
    where
        A: Actor<Context = Context<A>>,
    {
        if !self.outbox.send(frame) {
            self.too_slow(ctx);
        }
    }

    /// Delivers an already serialised frame; a client too slow to take it
    /// is disconnected.
    pub fn deliver<A>(&mut self, ctx: &mut Context<A>, text: ByteString)
    where
        A: Actor<Context = Context<A>>,
    {
        if !self.outbox.push(text) {
            self.too_slow(ctx);
        }
    }

    /// The outbound buffer is full: the client does not read. Drop it
    /// rather than let it hold memory or slow the conversation.
    fn too_slow<A>(&mut self, ctx: &mut Context<A>)
    where
        A: Actor<Context = Context<A>>,
    {
        tracing::info!(
            session_id = self.id,
            "disconnecting a client that does not read"
        );
        self.outbox.abort();
        ctx.stop();
    }

    /// Turns one WebSocket item into a frame, or handles it here.
    pub fn intake<A>(
        &mut self,
        item: Result<Message, ProtocolError>,
        ctx: &mut Context<A>,
    ) -> Intake
    where
        A: Actor<Context = Context<A>>,
    {
        self.last_seen = Instant::now();
        match item {
            Ok(Message::Text(text)) => match parse_client_frame(&text) {
                Ok(frame) => {
                    if matches!(frame.event, ClientEvent::MessageSend { .. })
                        && self.limiter.check().is_err()
                    {
                        self.strikes += 1;
                        self.reply(
                            ctx,
                            &ServerFrame::error(
                                frame.reference,
                                ErrorCode::RateLimited,
                                "too many messages; slow down",
                            ),
                        );
                        if self.strikes >= self.abuse_strikes {
                            self.outbox.close(CloseCode::Policy, "message flood");
                            return Intake::Stop;
                        }
                        return Intake::Done;
                    }
                    Intake::Frame(frame)
                }
                Err(e) => {
                    self.reply(ctx, &ServerFrame::from(e));
                    Intake::Done
                }
            },
            Ok(Message::Binary(_)) => {
                self.reply(
                    ctx,
                    &ServerFrame::error(
                        None,
                        ErrorCode::BadRequest,
                        "binary frames are not supported",
                    ),
                );
                Intake::Done
            }
            Ok(Message::Ping(b)) => {
                let _ = self.outbox.tx.try_send(Outgoing::Pong(b));
                Intake::Done
            }
            Ok(Message::Pong(_) | Message::Nop) => Intake::Done,
            Ok(Message::Continuation(_)) => Intake::Done,
            Ok(Message::Close(_)) => Intake::Stop,
            Err(ProtocolError::Overflow) => {
                self.outbox.close(CloseCode::Size, "frame too large");
                Intake::Stop
            }
            Err(e) => {
                tracing::debug!(error = %e, "websocket protocol error");
                self.outbox.close(CloseCode::Protocol, "protocol error");
                Intake::Stop
            }
        }
    }
}
