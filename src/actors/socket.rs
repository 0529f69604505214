//! What both socket actors share: the writer task that owns the
//! `actix_ws::Session` behind a bounded queue (its bound is the slow-client
//! limit), heartbeats, the per-socket send limit, and frame intake.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::num::NonZeroU32;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context as TaskContext, Poll, Waker};
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_ws::{CloseCode, CloseReason, Item, Message, ProtocolError};
use bytes::BytesMut;
use bytestring::ByteString;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use super::SessionId;
use crate::bus::Pace;
use crate::config::RealtimeSettings;
use crate::domain::ErrorCode;
use crate::domain::flood::Strikes;
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

/// The frames between a socket's actor and its writer task, with the
/// writer's waker. A client is too slow when frames wait and the writer has
/// taken none for longer than the stall bound (the writer takes a frame only
/// once the one before is written, and writes only as fast as the client
/// reads: actix-ws's channel behind it holds 32), or, as a bound on memory,
/// when the queue is full. Progress over time rather than a count tells a
/// client that does not read from a burst a busy node hands a socket at
/// once: at 5,000 frames/s an agent's socket takes 1,024 frames in a fifth of
/// a second, and a server that fell behind by that much cut off every busy
/// socket it had. Progress rather than the oldest frame's age lets a long
/// burst drain at the pace of a client that keeps reading.
///
/// Both run on the same arbiter thread (the writer is spawned locally), so a
/// `RefCell` suffices. It replaced a tokio bounded
/// channel, which allocates its first 32-slot block and padded state up
/// front: about 1.8 KiB per socket before anything is sent, a tenth of an
/// idle socket's memory.
struct Queue {
    /// Frames not yet taken by the writer; at most `capacity` live ones.
    frames: VecDeque<Outgoing>,
    /// Since when frames have waited without the writer taking one: the
    /// last take, or the first frame queued into an empty queue.
    progress_at: Instant,
    /// The most frames queued (`realtime.outbound_buffer`).
    capacity: usize,
    /// The longest frames may wait with no progress
    /// (`realtime.slow_client_after_ms`).
    stall: Duration,
    /// The writer task, while it waits for a frame or writes one.
    writer: Option<Waker>,
    /// The [`Outbox`] was dropped: write what is queued, then close.
    closed: bool,
    /// [`Outbox::abort`]: drop the connection without flushing.
    aborted: bool,
    /// The writer stopped (client gone, close sent, aborted): frames are
    /// refused, as nobody will write them.
    writer_gone: bool,
}

/// What the writer does next.
enum Next {
    Write(Outgoing),
    Abort,
    Drained,
}

impl Queue {
    /// An empty queue holding at most `capacity` frames, whose writer may
    /// take none for at most `stall` while frames wait.
    fn new(capacity: usize, stall: Duration) -> Self {
        Queue {
            frames: VecDeque::new(),
            progress_at: Instant::now(),
            capacity,
            stall,
            writer: None,
            closed: false,
            aborted: false,
            writer_gone: false,
        }
    }

    /// Queues a frame at `now` unless the writer is gone or the client is
    /// too slow. Only the stall bound applies to a frame the client asked
    /// for ([`Pace::Requested`]): the request bounds their number.
    fn push(&mut self, out: Outgoing, now: Instant, pace: Pace) -> bool {
        let stalled =
            !self.frames.is_empty() && now.saturating_duration_since(self.progress_at) > self.stall;
        let full = pace == Pace::Live && self.frames.len() >= self.capacity;
        if self.writer_gone || stalled || full {
            return false;
        }
        if self.frames.is_empty() {
            self.progress_at = now;
        }
        self.frames.push_back(out);
        true
    }

    /// Takes the waker to wake the writer with, once the borrow has ended.
    fn waker(&mut self) -> Option<Waker> {
        self.writer.take()
    }

    fn park(&mut self, cx: &mut TaskContext<'_>) {
        match &self.writer {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => self.writer = Some(cx.waker().clone()),
        }
    }

    /// The writer's next step at `now`.
    fn poll_next(&mut self, cx: &mut TaskContext<'_>, now: Instant) -> Poll<Next> {
        if self.aborted {
            return Poll::Ready(Next::Abort);
        }
        if let Some(out) = self.frames.pop_front() {
            self.progress_at = now;
            if self.frames.is_empty() {
                // Give the buffer back once drained: an idle socket then holds
                // none (an allocation per burst costs less than keeping it).
                self.frames = VecDeque::new();
            }
            return Poll::Ready(Next::Write(out));
        }
        if self.closed {
            return Poll::Ready(Next::Drained);
        }
        self.park(cx);
        Poll::Pending
    }

    fn poll_aborted(&mut self, cx: &mut TaskContext<'_>) -> Poll<()> {
        if self.aborted {
            return Poll::Ready(());
        }
        self.park(cx);
        Poll::Pending
    }
}

/// The sending half of a socket. Dropping it lets the writer flush what is
/// queued (for up to [`DRAIN`]) and close; [`Outbox::abort`] drops the
/// connection at once.
pub struct Outbox {
    queue: Rc<RefCell<Queue>>,
}

impl Outbox {
    /// Spawns the writer task owning `session`; a client that reads nothing
    /// for `stall` while frames wait, or lets `capacity` frames pile up, is
    /// too slow.
    pub fn spawn(session: actix_ws::Session, capacity: usize, stall: Duration) -> Self {
        let queue = Rc::new(RefCell::new(Queue::new(capacity, stall)));
        actix_rt::spawn(write_loop(session, WriterSide(queue.clone())));
        Outbox { queue }
    }

    fn enqueue(&self, out: Outgoing, pace: Pace) -> bool {
        let (queued, waker) = {
            let mut q = self.queue.borrow_mut();
            let queued = q.push(out, Instant::now(), pace);
            (queued, if queued { q.waker() } else { None })
        };
        if let Some(w) = waker {
            w.wake();
        }
        queued
    }

    /// Queues a text frame; `false` when the client is too slow or gone.
    /// A frame the client asked for ([`Pace::Requested`], a `resume`'s
    /// history) is refused only by a client that stopped reading, however
    /// many wait.
    pub fn push(&self, text: ByteString, pace: Pace) -> bool {
        self.enqueue(Outgoing::Text(text), pace)
    }

    /// Queues a server frame.
    pub fn send(&self, frame: &ServerFrame) -> bool {
        self.push(ByteString::from(frame.to_json()), Pace::Live)
    }

    /// Queues a ping; `false` when the client is too slow or gone.
    fn ping(&self) -> bool {
        self.enqueue(Outgoing::Ping, Pace::Live)
    }

    fn pong(&self, payload: bytes::Bytes) {
        let _ = self.enqueue(Outgoing::Pong(payload), Pace::Live);
    }

    /// Closes with a code and reason.
    pub fn close(&self, code: CloseCode, description: &str) {
        let reason = CloseReason {
            code,
            description: Some(description.to_owned()),
        };
        let _ = self.enqueue(Outgoing::Close(Some(reason)), Pace::Live);
    }

    /// Drops the connection now, without flushing: for a client that stopped
    /// reading, whose writes would block forever.
    pub fn abort(&mut self) {
        self.mark(|q| q.aborted = true);
    }

    /// Changes the queue's state, then wakes the writer to see it (after the
    /// borrow has ended: the writer borrows the queue when it runs).
    fn mark(&self, change: impl FnOnce(&mut Queue)) {
        let waker = {
            let mut q = self.queue.borrow_mut();
            change(&mut q);
            q.waker()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        self.mark(|q| q.closed = true);
    }
}

/// The writer's handle on the queue; when the writer ends, however it ends
/// (even dropped unpolled at shutdown), the queue refuses further frames
/// and frees the ones left.
struct WriterSide(Rc<RefCell<Queue>>);

impl WriterSide {
    async fn next(&self) -> Next {
        poll_fn(|cx| self.0.borrow_mut().poll_next(cx, Instant::now())).await
    }

    /// Resolves when [`Outbox::abort`] was called; never when the outbox was
    /// merely dropped (then the queue is drained instead).
    async fn aborted(&self) {
        poll_fn(|cx| self.0.borrow_mut().poll_aborted(cx)).await
    }
}

impl Drop for WriterSide {
    fn drop(&mut self) {
        let mut q = self.0.borrow_mut();
        q.writer_gone = true;
        q.writer = None;
        q.frames = VecDeque::new();
    }
}

/// Owns the `actix_ws::Session`: writes queued frames in order; stops when
/// aborted, when the client is gone, or (after draining) when the outbox is
/// dropped.
async fn write_loop(mut session: actix_ws::Session, queue: WriterSide) {
    loop {
        let out = match queue.next().await {
            Next::Write(out) => out,
            Next::Abort => return,
            Next::Drained => break,
        };
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
            _ = queue.aborted() => return,
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
    /// The bound of the session actor's mailbox (`realtime.mailbox`).
    pub mailbox: usize,
    limiter: DefaultDirectRateLimiter,
    strikes: Strikes,
    last_seen: Instant,
    heartbeat: Duration,
    timeout: Duration,
    /// A message arriving in fragments, joined until its last one.
    fragments: Option<Fragments>,
    /// The bound of a whole message, fragmented or not (`realtime.max_frame_bytes`).
    max_message: usize,
}

/// The fragments of one message received so far. Joined here rather than
/// by `actix_ws::AggregatedMessageStream`: that reports an oversized message
/// as an I/O error like any other, and such a message must close with 1009
/// like an oversized frame.
struct Fragments {
    text: bool,
    bytes: BytesMut,
}

impl Fragments {
    fn new(text: bool) -> Self {
        Fragments {
            text,
            bytes: BytesMut::new(),
        }
    }
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
            outbox: Outbox::spawn(
                session,
                settings.outbound_buffer,
                Duration::from_millis(settings.slow_client_after_ms),
            ),
            mailbox: settings.mailbox,
            limiter: RateLimiter::direct(quota),
            strikes: Strikes::new(
                settings.abuse_strikes,
                Duration::from_secs(settings.send_window_s),
            ),
            last_seen: Instant::now(),
            heartbeat,
            timeout: heartbeat * settings.client_timeout_heartbeats,
            fragments: None,
            max_message: settings.max_frame_bytes,
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
            } else if !c.outbox.ping() {
                // A quiet socket whose client stopped reading is found here.
                c.too_slow(ctx);
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

    /// Delivers an already serialised frame (see [`Outbox::push`]); a
    /// client too slow to take it is disconnected.
    pub fn deliver<A>(&mut self, ctx: &mut Context<A>, text: ByteString, pace: Pace)
    where
        A: Actor<Context = Context<A>>,
    {
        if !self.outbox.push(text, pace) {
            self.too_slow(ctx);
        }
    }

    /// Frames waited with no progress for too long, or the outbound buffer
    /// is full: the client does not read. Drop it rather than let it hold
    /// memory or slow the conversation.
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
                        let flood = self.strikes.strike(Instant::now());
                        self.reply(
                            ctx,
                            &ServerFrame::error(
                                frame.reference,
                                ErrorCode::RateLimited,
                                "too many messages; slow down",
                            ),
                        );
                        if flood {
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
                self.outbox.pong(b);
                Intake::Done
            }
            Ok(Message::Pong(_) | Message::Nop) => Intake::Done,
            Ok(Message::Continuation(item)) => self.fragment(item, ctx),
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

    /// Joins a fragmented message; its last fragment makes it one text (or
    /// binary) message, taken in as if it had come whole.
    fn fragment<A>(&mut self, item: Item, ctx: &mut Context<A>) -> Intake
    where
        A: Actor<Context = Context<A>>,
    {
        let (part, last) = match item {
            Item::FirstText(b) => {
                self.fragments = Some(Fragments::new(true));
                (b, false)
            }
            Item::FirstBinary(b) => {
                self.fragments = Some(Fragments::new(false));
                (b, false)
            }
            Item::Continue(b) => (b, false),
            Item::Last(b) => (b, true),
        };
        // The codec refuses a continuation that starts nothing; kept here
        // so no state can make this take in bytes without a kind.
        let Some(mut f) = self.fragments.take() else {
            self.outbox.close(CloseCode::Protocol, "protocol error");
            return Intake::Stop;
        };
        if f.bytes.len() + part.len() > self.max_message {
            self.outbox.close(CloseCode::Size, "frame too large");
            return Intake::Stop;
        }
        f.bytes.extend_from_slice(&part);
        if !last {
            self.fragments = Some(f);
            return Intake::Done;
        }
        let Fragments { text, bytes } = f;
        let whole = if text {
            match ByteString::try_from(bytes.freeze()) {
                Ok(t) => Message::Text(t),
                Err(_) => {
                    // As for a whole text frame that is not UTF-8.
                    self.outbox.close(CloseCode::Protocol, "protocol error");
                    return Intake::Stop;
                }
            }
        } else {
            Message::Binary(bytes.freeze())
        };
        self.intake(Ok(whole), ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STALL: Duration = Duration::from_secs(10);

    fn queue(capacity: usize) -> Queue {
        Queue::new(capacity, STALL)
    }

    /// Queues at one fixed instant: only the count bound applies.
    fn push(q: &mut Queue, out: Outgoing) -> bool {
        static AT: std::sync::LazyLock<Instant> = std::sync::LazyLock::new(Instant::now);
        q.push(out, *AT, Pace::Live)
    }

    fn text(s: &'static str) -> Outgoing {
        Outgoing::Text(ByteString::from_static(s))
    }

    fn next(q: &mut Queue) -> Poll<Next> {
        next_at(q, Instant::now())
    }

    fn next_at(q: &mut Queue, now: Instant) -> Poll<Next> {
        q.poll_next(&mut TaskContext::from_waker(Waker::noop()), now)
    }

    #[test]
    fn the_queue_refuses_a_frame_past_its_bound_until_the_writer_takes_one() {
        let mut q = queue(2);
        assert!(push(&mut q, text("a")));
        assert!(push(&mut q, text("b")));
        assert!(!push(&mut q, text("c")), "the slow-client bound");
        assert!(matches!(next(&mut q), Poll::Ready(Next::Write(Outgoing::Text(t))) if t == "a"));
        assert!(push(&mut q, text("c")));
    }

    #[test]
    fn a_frame_the_client_asked_for_is_queued_past_the_count_but_not_past_a_stall() {
        let mut q = queue(2);
        let t0 = Instant::now();
        assert!(q.push(text("a"), t0, Pace::Live));
        assert!(q.push(text("b"), t0, Pace::Live));
        assert!(
            !q.push(text("c"), t0, Pace::Live),
            "live frames meet the count"
        );
        assert!(
            (0..100).all(|_| q.push(text("h"), t0, Pace::Requested)),
            "history does not"
        );
        assert_eq!(q.frames.len(), 102);
        assert!(!q.push(
            text("h"),
            t0 + STALL + Duration::from_millis(1),
            Pace::Requested
        ));
    }

    #[test]
    fn frames_waiting_with_no_progress_past_the_stall_bound_mark_the_client_too_slow() {
        let mut q = queue(100_000);
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        // A burst far past any per-second count is fine while frames move.
        for _ in 0..20_000 {
            assert!(q.push(text("x"), t0, Pace::Live));
        }
        while let Poll::Ready(Next::Write(_)) = next_at(&mut q, t0) {}
        // Nothing taken since `a` and `b` were queued.
        assert!(q.push(text("a"), t0 + ms(1), Pace::Live));
        assert!(q.push(text("b"), t0 + ms(1), Pace::Live));
        assert!(
            q.push(text("c"), t0 + STALL + ms(1), Pace::Live),
            "at the bound, not past it"
        );
        assert!(
            !q.push(text("d"), t0 + STALL + ms(2), Pace::Live),
            "no progress for longer"
        );
        // The writer takes `a`: `b` has waited past the bound, but the
        // client reads, so more may wait behind it.
        assert!(matches!(
            next_at(&mut q, t0 + STALL + ms(2)),
            Poll::Ready(Next::Write(Outgoing::Text(t))) if t == "a"
        ));
        assert!(q.push(text("d"), t0 + STALL + ms(3), Pace::Live));
        assert!(q.push(text("e"), t0 + 2 * STALL + ms(2), Pace::Live));
        assert!(
            !q.push(text("f"), t0 + 2 * STALL + ms(3), Pace::Live),
            "no progress since `a` was taken"
        );
    }

    #[test]
    fn a_dropped_outbox_is_drained_in_order_before_the_writer_closes() {
        let mut q = queue(8);
        assert!(next(&mut q).is_pending());
        assert!(q.writer.is_some(), "the writer waits with its waker");
        push(&mut q, text("a"));
        push(&mut q, text("b"));
        q.closed = true;
        assert!(matches!(next(&mut q), Poll::Ready(Next::Write(Outgoing::Text(t))) if t == "a"));
        assert!(matches!(next(&mut q), Poll::Ready(Next::Write(Outgoing::Text(t))) if t == "b"));
        assert_eq!(q.frames.capacity(), 0, "a drained queue holds no buffer");
        assert!(matches!(next(&mut q), Poll::Ready(Next::Drained)));
    }

    #[test]
    fn an_abort_wins_over_queued_frames_and_a_gone_writer_refuses_frames() {
        let mut q = queue(8);
        push(&mut q, text("a"));
        q.aborted = true;
        assert!(matches!(next(&mut q), Poll::Ready(Next::Abort)));
        assert!(
            q.poll_aborted(&mut TaskContext::from_waker(Waker::noop()))
                .is_ready()
        );
        q.writer_gone = true;
        assert!(!push(&mut q, text("b")));
    }
}
