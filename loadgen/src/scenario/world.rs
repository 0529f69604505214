//! The chat world of `steady`, `ramp` and `reconnect`: N customers, each in
//! its own conversation, assigned automatically to M online agents, with one
//! socket each, all feeding one ledger.
//!
//! Every socket has a reader task (records acks and deliveries, and for
//! agents answers customer messages) and a writer task fed by a channel, so
//! the send schedule never waits on a socket.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{Notify, mpsc};
use tokio_tungstenite::tungstenite::Message;

use crate::client::{self, Audience, Parsed, Socket, Visitor, WsSink, WsStream};
use crate::fixture::Fixture;
use crate::stats::{Latencies, Ledger, Seen, Tally, Way};

/// Text of every generated message: short, like chat.
pub const TEXT: &str = "hello from loadgen, how can I get a refund?";

/// Shape of the world.
#[derive(Debug, Clone)]
pub struct Shape {
    /// Customers (one conversation each).
    pub customers: usize,
    /// Agents.
    pub agents: usize,
    /// Share of customer messages an agent answers (0–1).
    pub answer_ratio: f64,
    /// Widget sessions created at once during setup.
    pub setup_concurrency: usize,
    /// How conversations reach their agents.
    pub assign_by: AssignBy,
}

/// How the world's conversations get their agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AssignBy {
    /// The team's queue assigns automatically (agents online, auto-assign on).
    Auto,
    /// Auto-assign off; agent `i mod M` sends `conversation.accept` for
    /// conversation `i`. The message path is the same; the queue's routing
    /// (measured by `assign` and `backlog`) is left out.
    Accept,
}

/// State shared by all reader tasks.
pub struct Shared {
    /// Every message and its fate.
    ledger: Mutex<Ledger>,
    /// Conversation → agent index, filled by `conversation.assigned`.
    assigned: Mutex<HashMap<i64, usize>>,
    /// Rings on every assignment.
    assigned_ring: Notify,
    /// `error` frames received, and a sample of their text.
    errors: AtomicU64,
    last_error: Mutex<String>,
    /// Sockets that ended while the run still needed them.
    dropped: AtomicU64,
    /// How the last socket that ended did (close frame or error), for the
    /// report.
    last_end: Mutex<String>,
    /// Set when the run is over, so socket ends are not counted as drops.
    closing: AtomicBool,
    /// Socket → when its reconnect started, until `resume.done`.
    resumes: Mutex<HashMap<u64, Instant>>,
}

impl Shared {
    fn new() -> Shared {
        Shared {
            ledger: Mutex::new(Ledger::new()),
            assigned: Mutex::new(HashMap::new()),
            assigned_ring: Notify::new(),
            errors: AtomicU64::new(0),
            last_error: Mutex::new(String::new()),
            dropped: AtomicU64::new(0),
            last_end: Mutex::new(String::new()),
            closing: AtomicBool::new(false),
            resumes: Mutex::new(HashMap::new()),
        }
    }

    /// The ledger. A poisoned lock only means a reader panicked, and its
    /// counts are still the best there are.
    pub fn ledger(&self) -> MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn note_error(&self, text: &str) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut last = self.last_error.lock().unwrap_or_else(|p| p.into_inner());
        *last = text.chars().take(300).collect();
    }

    /// `error` frames so far and the last one's text.
    pub fn errors(&self) -> (u64, String) {
        let last = self.last_error.lock().unwrap_or_else(|p| p.into_inner());
        (self.errors.load(Ordering::Relaxed), last.clone())
    }

    /// Sockets that ended during the run.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// How the last socket that ended during the run ended.
    pub fn last_end(&self) -> String {
        self.last_end
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Notes how a reader's socket ended, unless the run is over.
    fn note_end(&self, who: &str, how: Option<Result<Message, String>>) {
        if self.closing.load(Ordering::Relaxed) {
            return;
        }
        let text = match how {
            Some(Ok(Message::Close(Some(c)))) => {
                format!("{who}: close {} {:?}", u16::from(c.code), c.reason.as_str())
            }
            Some(Ok(m)) => format!("{who}: {m:?}"),
            Some(Err(e)) => format!("{who}: {e}"),
            None => format!("{who}: the stream ended without a close frame"),
        };
        *self.last_end.lock().unwrap_or_else(|p| p.into_inner()) = text;
    }
}

/// A customer of the world.
pub struct Customer {
    /// Its widget session.
    pub visitor: Visitor,
    /// Its socket's id in the ledger.
    pub socket: u64,
    /// Frames to write.
    pub tx: mpsc::UnboundedSender<String>,
    /// Messages sent so far (for unique client ids).
    pub sent: u64,
    /// The reader and writer tasks, aborted on reconnect.
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Customer {
    /// Ends the socket now, without a close frame (a dropped connection).
    pub fn kill(&mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
    }
}

/// The built world.
pub struct World {
    /// Setup access.
    pub fixture: Fixture,
    /// Customers, by index.
    pub customers: Vec<Customer>,
    /// Everything readers share.
    pub shared: Arc<Shared>,
    agent_tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl World {
    /// Creates agents (capacity just enough for all customers, at most the
    /// server's 50), sets them online, creates the customers and waits until
    /// every conversation is assigned, so no message is sent before its agent
    /// follows the conversation.
    pub async fn build(fixture: Fixture, shape: &Shape) -> anyhow::Result<World> {
        let agents = shape.agents.max(1);
        let capacity = shape.customers.div_ceil(agents).max(1);
        if capacity > 50 {
            bail!(
                "{} customers need at least {} agents (an agent holds at most 50 conversations)",
                shape.customers,
                shape.customers.div_ceil(50)
            );
        }
        let shared = Arc::new(Shared::new());
        let staff = fixture.staff(agents, "agent", capacity as u32).await?;
        let mut agent_tasks = Vec::new();
        let mut agent_txs = Vec::new();
        for (i, who) in staff.iter().enumerate() {
            let s = fixture.staff_socket(who, i, "online").await?;
            let (tasks, tx) = spawn_agent(s, i, shape.answer_ratio, shared.clone());
            agent_tasks.extend(tasks);
            agent_txs.push(tx);
        }
        let visitors = fixture
            .visitors(shape.customers, shape.setup_concurrency)
            .await?;
        if shape.assign_by == AssignBy::Accept {
            for (i, v) in visitors.iter().enumerate() {
                let frame = serde_json::json!({"type": "conversation.accept", "conversation_id": v.conversation_id});
                let _ = agent_txs[i % agents].send(frame.to_string());
            }
        }
        let mut customers = Vec::with_capacity(visitors.len());
        for (i, v) in visitors.into_iter().enumerate() {
            customers
                .push(connect_customer(&fixture, v, i, i + agents, shared.clone(), None).await?);
        }
        let world = World {
            fixture,
            customers,
            shared,
            agent_tasks,
        };
        world.wait_assigned(Duration::from_secs(120)).await?;
        Ok(world)
    }

    async fn wait_assigned(&self, within: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let notified = self.shared.assigned_ring.notified();
            let missing = {
                let a = self
                    .shared
                    .assigned
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                self.customers
                    .iter()
                    .filter(|c| !a.contains_key(&c.visitor.conversation_id))
                    .count()
            };
            if missing == 0 {
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                bail!("{missing} conversations were not assigned to an agent within {within:?}");
            }
        }
    }

    /// Customer `i` sends one message meant for `intended`.
    pub fn send(&mut self, i: usize, intended: Instant) {
        let c = &mut self.customers[i];
        c.sent += 1;
        let id = format!("c{i}-{}", c.sent);
        send_as_customer(&self.shared, c, &id, intended);
    }

    /// Waits until every message sent is acked and delivered, or `within`
    /// passes.
    pub async fn drain(&self, within: Duration) {
        let deadline = Instant::now() + within;
        while self.shared.ledger().outstanding() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Takes the counts and histograms gathered since the last call.
    pub fn take(&self) -> (Tally, Latencies) {
        self.shared.ledger().take_phase()
    }

    /// Kills the sockets of customers `which` at once (no close frame, like
    /// a lost network), waits `down`, then reconnects them all at once: each
    /// new socket sends `resume` from the last seq its predecessor saw and
    /// re-sends its unacked messages with the same client ids. Returns when
    /// every new socket has its `hello`.
    pub async fn reconnect_many(&mut self, which: &[usize], down: Duration) -> anyhow::Result<()> {
        let mut plans = Vec::new();
        for &i in which {
            let c = &mut self.customers[i];
            c.kill();
            let after = {
                let mut l = self.shared.ledger();
                let after = l.last_seq(c.socket, c.visitor.conversation_id).unwrap_or(0);
                l.forget_socket(c.socket);
                after
            };
            plans.push((i, c.visitor.clone(), c.sent, after));
        }
        tokio::time::sleep(down).await;
        let fixture = &self.fixture;
        let shared = &self.shared;
        let fresh = futures_util::future::join_all(plans.into_iter().map(
            |(i, v, sent, after)| async move {
                let t0 = Instant::now();
                let c = connect_customer(fixture, v, i, i, shared.clone(), Some((after, t0))).await;
                if let Ok(c) = &c {
                    shared
                        .ledger()
                        .latencies
                        .record("reconnect start -> hello", t0.elapsed());
                    let unacked = shared.ledger().unacked_in(c.visitor.conversation_id);
                    for id in unacked {
                        shared.ledger().resent(&id);
                        resend_as_customer(c, &id);
                    }
                }
                c.map(|mut c| {
                    c.sent = sent;
                    (i, c)
                })
            },
        ))
        .await;
        for r in fresh {
            let (i, c) = r?;
            self.customers[i] = c;
        }
        Ok(())
    }

    /// Stops every task; later socket ends are not drops.
    pub fn close(mut self) {
        self.shared.closing.store(true, Ordering::Relaxed);
        for c in &mut self.customers {
            c.kill();
        }
        for t in self.agent_tasks.drain(..) {
            t.abort();
        }
    }
}

/// Records and queues one customer message.
pub fn send_as_customer(shared: &Shared, c: &Customer, id: &str, intended: Instant) {
    let conv = c.visitor.conversation_id;
    shared.ledger().sent(id, conv, Way::ToAgent, intended);
    // A closed channel means the writer ended; the ledger will show the
    // message as lost, which is what happened.
    let _ = c.tx.send(client::message_send(None, id, TEXT));
}

/// Re-sends a message whose ack may have been lost with its socket (same
/// client id, so the server must not store it twice).
pub fn resend_as_customer(c: &Customer, id: &str) {
    let _ = c.tx.send(client::message_send(None, id, TEXT));
}

/// Connects customer `i` to its node, from source address `source`.
async fn connect_customer(
    fixture: &Fixture,
    visitor: Visitor,
    i: usize,
    source: usize,
    shared: Arc<Shared>,
    resume: Option<(i64, Instant)>,
) -> anyhow::Result<Customer> {
    let s = client::connect(
        fixture.customer_api(i),
        Audience::Customer(&visitor.token),
        fixture.source(source),
    )
    .await
    .context("customer socket")?;
    let Socket {
        id,
        mut sink,
        stream,
    } = s;
    if let Some((after, started)) = resume {
        shared
            .resumes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, started);
        // Resume restarts this socket's seq position at after_seq + 1.
        if after > 0 {
            shared.ledger().seq(id, visitor.conversation_id, after);
        }
        let frame = serde_json::json!({"type": "resume", "after_seq": after});
        client::send(&mut sink, &frame).await?;
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let writer = tokio::spawn(write_loop(sink, rx, shared.clone()));
    let reader = tokio::spawn(customer_reader(stream, id, shared));
    Ok(Customer {
        visitor,
        socket: id,
        tx,
        sent: 0,
        tasks: vec![writer, reader],
    })
}

async fn write_loop(
    mut sink: WsSink,
    mut rx: mpsc::UnboundedReceiver<String>,
    shared: Arc<Shared>,
) {
    'frames: while let Some(text) = rx.recv().await {
        // Feed without flushing while more frames wait, then flush once:
        // one write system call for a burst instead of one per frame.
        if sink.feed(Message::text(text)).await.is_err() {
            break;
        }
        while let Ok(more) = rx.try_recv() {
            if sink.feed(Message::text(more)).await.is_err() {
                break 'frames;
            }
        }
        if sink.flush().await.is_err() {
            break;
        }
    }
    if !shared.closing.load(Ordering::Relaxed) {
        shared.dropped.fetch_add(1, Ordering::Relaxed);
    }
}

async fn customer_reader(mut stream: WsStream, socket: u64, shared: Arc<Shared>) {
    let mut end = None;
    while let Some(item) = stream.next().await {
        let msg = match item {
            Ok(m) => m,
            Err(e) => {
                end = Some(Err(e.to_string()));
                break;
            }
        };
        let Message::Text(text) = msg else {
            if matches!(msg, Message::Close(_)) {
                end = Some(Ok(msg));
                break;
            }
            continue;
        };
        let now = Instant::now();
        match client::parse_any(text.as_str()) {
            Some(Parsed::Frame(f)) => match (f.kind.as_ref(), f.message) {
                ("message.ack", Some(m)) => {
                    let mut l = shared.ledger();
                    let seen = match &m.client_msg_id {
                        Some(id) => l.acked(id, m.conversation_id, m.id, now),
                        None => Seen::Unknown,
                    };
                    // The repeated ack of a re-sent message may come at any
                    // time (protocol §5.2): it is outside the seq order.
                    if seen != Seen::Repeat {
                        l.seq(socket, m.conversation_id, m.seq);
                    }
                }
                ("message.new", Some(m)) => {
                    let mut l = shared.ledger();
                    match &m.client_msg_id {
                        // The customer's own message, replayed by `resume`.
                        Some(id) if id.starts_with('c') => {
                            l.echoed(id, m.conversation_id, m.id, now);
                        }
                        Some(id) => {
                            l.delivered(id, m.conversation_id, now);
                        }
                        None => {}
                    }
                    l.seq(socket, m.conversation_id, m.seq);
                }
                ("resume.done", _) => {
                    let started = shared
                        .resumes
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&socket);
                    if let Some(t0) = started {
                        shared
                            .ledger()
                            .latencies
                            .record("reconnect start -> resume.done", now - t0);
                    }
                }
                _ => {}
            },
            Some(Parsed::Error(e)) => {
                shared.note_error(&format!("customer: {} {}", e.code, e.message))
            }
            None => {}
        }
    }
    shared.note_end("customer", end);
    if !shared.closing.load(Ordering::Relaxed) {
        shared.dropped.fetch_add(1, Ordering::Relaxed);
    }
}

fn spawn_agent(
    s: Socket,
    index: usize,
    answer_ratio: f64,
    shared: Arc<Shared>,
) -> (
    Vec<tokio::task::JoinHandle<()>>,
    mpsc::UnboundedSender<String>,
) {
    let Socket { id, sink, stream } = s;
    let (tx, rx) = mpsc::unbounded_channel();
    let writer = tokio::spawn(write_loop(sink, rx, shared.clone()));
    let reader = tokio::spawn(agent_reader(
        stream,
        id,
        index,
        answer_ratio,
        tx.clone(),
        shared,
    ));
    (vec![writer, reader], tx)
}

/// Whether the `n`-th received message (1-based) is answered at `ratio`:
/// answers are spread evenly, `floor(n·ratio)` of the first `n`.
pub fn answers(n: u64, ratio: f64) -> bool {
    let r = ratio.clamp(0.0, 1.0);
    (n as f64 * r).floor() > ((n - 1) as f64 * r).floor()
}

async fn agent_reader(
    mut stream: WsStream,
    socket: u64,
    index: usize,
    answer_ratio: f64,
    tx: mpsc::UnboundedSender<String>,
    shared: Arc<Shared>,
) {
    let mut received: u64 = 0;
    let mut end = None;
    while let Some(item) = stream.next().await {
        let msg = match item {
            Ok(m) => m,
            Err(e) => {
                end = Some(Err(e.to_string()));
                break;
            }
        };
        let Message::Text(text) = msg else {
            if matches!(msg, Message::Close(_)) {
                end = Some(Ok(msg));
                break;
            }
            continue;
        };
        let now = Instant::now();
        match client::parse_any(text.as_str()) {
            Some(Parsed::Frame(f)) => match (f.kind.as_ref(), f.message, f.conversation) {
                ("conversation.assigned", _, Some(c)) if c.assignee_id.is_some() => {
                    shared
                        .assigned
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(c.id, index);
                    shared.assigned_ring.notify_waiters();
                }
                ("message.ack", Some(m), _) => {
                    let mut l = shared.ledger();
                    if let Some(id) = &m.client_msg_id {
                        l.acked(id, m.conversation_id, m.id, now);
                    }
                    l.seq(socket, m.conversation_id, m.seq);
                }
                ("message.new", Some(m), _) => {
                    let conv = m.conversation_id;
                    let mut l = shared.ledger();
                    if let Some(cid) = &m.client_msg_id {
                        l.delivered(cid, conv, now);
                    }
                    l.seq(socket, conv, m.seq);
                    received += 1;
                    if answers(received, answer_ratio) {
                        // The answer is recorded before it is queued, so its
                        // ack can never arrive first, and so a drain never
                        // sees zero outstanding between a delivery and its
                        // answer.
                        let id = format!("a{index}-{received}");
                        l.sent(&id, conv, Way::ToCustomer, now);
                        drop(l);
                        let _ = tx.send(client::message_send(Some(conv), &id, TEXT));
                    }
                }
                _ => {}
            },
            Some(Parsed::Error(e)) => {
                shared.note_error(&format!("agent: {} {}", e.code, e.message))
            }
            None => {}
        }
    }
    shared.note_end("agent", end);
    if !shared.closing.load(Ordering::Relaxed) {
        shared.dropped.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_ratio_answers_that_share_of_messages_evenly() {
        let count = |r: f64| (1..=1000).filter(|n| answers(*n, r)).count();
        assert_eq!(count(1.0), 1000);
        assert_eq!(count(0.0), 0);
        assert_eq!(count(0.25), 250);
        // Evenly: every fourth, not the first 250.
        let firsts: Vec<u64> = (1..=12).filter(|n| answers(*n, 0.25)).collect();
        assert_eq!(firsts, vec![4, 8, 12]);
    }
}
