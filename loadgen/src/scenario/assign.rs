//! `assign`: agents with free capacity are online; new conversations arrive
//! one at a time on a fixed schedule; measures the intended creation time →
//! `conversation.assigned` at the agent, and the assignment proper: the
//! server's queue time of the conversation → the frame's arrival on the
//! agent's socket. Each agent closes a conversation as soon as it gets it,
//! so capacity stays free. Every conversation must be assigned exactly once.
//!
//! # The server-clock figures
//!
//! `conversation.assigned` carries the conversation's `created_at`, which a
//! widget conversation shares with its `waiting_since` (one `Utc::now()` in
//! the creating transaction: the moment it became queued), and its
//! `updated_at`, stamped by the assignment's conditional write. The server
//! and the generator read the same `CLOCK_REALTIME` when they run on one
//! machine, so arrival (wall clock, read as the frame is received) minus
//! either stamp is a latency. The stamps are as precise as the database
//! keeps them: nanoseconds on SQLite, microseconds on PostgreSQL (reported
//! as `server timestamp resolution`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use super::steady::SpacingArg;
use super::{Pacer, Probe};
use crate::client::{self, Parsed, WsStream};
use crate::fixture::{Fixture, Target};
use crate::schedule::Schedule;
use crate::stats::{Latencies, Report};

/// Options of `assign`.
#[derive(Debug, Clone, Args, Serialize)]
pub struct AssignArgs {
    /// Agents online (capacity 50 each).
    #[arg(long, default_value_t = 4)]
    pub agents: usize,
    /// New conversations per second.
    #[arg(long, default_value_t = 50.0)]
    pub rate: f64,
    /// Seconds of arrivals.
    #[arg(long, default_value_t = 10.0)]
    pub duration_s: f64,
    /// Gaps between arrivals.
    #[arg(long, value_enum, default_value_t = SpacingArg::Fixed)]
    pub spacing: SpacingArg,
    /// Seconds to wait for the last assignments.
    #[arg(long, default_value_t = 15.0)]
    pub drain_s: f64,
}

/// Queued (server clock) → `conversation.assigned` on the agent's socket.
pub const QUEUED_TO_ASSIGNED: &str = "queued -> conversation.assigned";
/// Queued → the assignment's write, both server stamps.
pub const QUEUED_TO_WRITE: &str = "queued -> assign write (server)";
/// The assignment's write (server clock) → the frame on the agent's socket.
pub const WRITE_TO_SOCKET: &str = "assign write -> agent socket";

/// One `conversation.assigned` as an agent received it.
#[derive(Debug, Clone, Copy)]
pub struct Assignment {
    /// Index of the agent.
    pub agent: usize,
    /// Arrival (monotonic clock).
    pub at: Instant,
    /// Arrival (wall clock, ns since the epoch), to compare with the
    /// server's stamps.
    pub wall_ns: i64,
    /// The conversation's `created_at` (= `waiting_since` of a widget
    /// conversation), ns since the epoch.
    pub queued_ns: Option<i64>,
    /// Its `updated_at`: the assignment's write, ns since the epoch.
    pub written_ns: Option<i64>,
}

impl Assignment {
    /// Records the server-clock latencies of this assignment in `lat`:
    /// with `queue`, queued → arrival and queued → write; with `socket`,
    /// write → arrival. Returns false when a stamp is later than what
    /// follows it (clock step or bad stamp); that gap is not recorded.
    pub fn record_server_clock(&self, lat: &mut Latencies, queue: bool, socket: bool) -> bool {
        let mut sound = true;
        let mut gap = |name: &str, from: Option<i64>, to: Option<i64>| {
            if let (Some(from), Some(to)) = (from, to) {
                match client::wall_gap(from, to) {
                    Some(d) => lat.record(name, d),
                    None => sound = false,
                }
            }
        };
        if queue {
            gap(QUEUED_TO_ASSIGNED, self.queued_ns, Some(self.wall_ns));
            gap(QUEUED_TO_WRITE, self.queued_ns, self.written_ns);
        }
        if socket {
            gap(WRITE_TO_SOCKET, self.written_ns, Some(self.wall_ns));
        }
        sound
    }
}

/// Assignment observations, joined with creation times at the end (the
/// `conversation.assigned` frame can beat the REST answer).
#[derive(Default)]
pub struct Observed {
    /// Conversation → every `conversation.assigned` received for it.
    pub assigned: HashMap<i64, Vec<Assignment>>,
    /// Most fractional-second digits seen in the server's timestamps.
    pub stamp_digits: usize,
    /// `error` frames.
    pub errors: u64,
    /// The last one: code, message and ref.
    pub last_error: String,
    /// Sockets that ended.
    pub ended: u64,
}

impl Observed {
    /// Adds `server timestamp resolution` (as serialised) to `report`.
    pub fn resolution_figure(&self, report: &mut Report) {
        let digits = self.stamp_digits.min(9) as u32;
        report.figure(
            "server timestamp resolution",
            10f64.powi(9 - digits as i32),
            "ns",
        );
    }
}

/// Locks `m`, taking over a poisoned lock (a panicked reader's counts are
/// still valid).
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Reads a staff socket: records `conversation.assigned` and, when `close`
/// is set, closes each assigned conversation at once.
pub async fn assigned_reader(
    mut stream: WsStream,
    index: usize,
    seen: Arc<Mutex<Observed>>,
    close: Option<mpsc::UnboundedSender<String>>,
) {
    while let Some(Ok(msg)) = stream.next().await {
        let Message::Text(text) = msg else {
            if matches!(msg, Message::Close(_)) {
                break;
            }
            continue;
        };
        let now = Instant::now();
        let wall_ns = client::wall_nanos();
        match client::parse_any(text.as_str()) {
            Some(Parsed::Frame(f)) if f.kind == "conversation.assigned" => {
                if let Some(c) = f.conversation {
                    let stamp = |t: &Option<std::borrow::Cow<'_, str>>| {
                        t.as_deref().and_then(client::unix_nanos)
                    };
                    let a = Assignment {
                        agent: index,
                        at: now,
                        wall_ns,
                        queued_ns: stamp(&c.created_at),
                        written_ns: stamp(&c.updated_at),
                    };
                    let digits = [&c.created_at, &c.updated_at]
                        .into_iter()
                        .flatten()
                        .map(|t| client::fraction_digits(t))
                        .max()
                        .unwrap_or(0);
                    let mut seen = lock(&seen);
                    seen.stamp_digits = seen.stamp_digits.max(digits);
                    seen.assigned.entry(c.id).or_default().push(a);
                    drop(seen);
                    if let Some(tx) = &close {
                        let frame = json!({"type": "conversation.close", "conversation_id": c.id});
                        let _ = tx.send(frame.to_string());
                    }
                }
            }
            Some(Parsed::Error(e)) => {
                let mut seen = lock(&seen);
                seen.errors += 1;
                seen.last_error = format!(
                    "{} {:?} (ref {:?}, agent {index})",
                    e.code, e.message, e.reference
                );
            }
            _ => {}
        }
    }
    lock(&seen).ended += 1;
}

/// Feeds a socket's write half from a channel.
pub async fn writer(mut sink: client::WsSink, mut rx: mpsc::UnboundedReceiver<String>) {
    while let Some(t) = rx.recv().await {
        if client::send_text(&mut sink, t).await.is_err() {
            break;
        }
    }
}

/// Runs `assign`.
pub async fn run(
    target: &Target,
    args: &AssignArgs,
    server_pids: &[u32],
    seed: u64,
) -> anyhow::Result<Report> {
    let fixture = Arc::new(Fixture::new(target, true).await?);
    let staff = fixture.staff(args.agents.max(1), "agent", 50).await?;
    let seen = Arc::new(Mutex::new(Observed::default()));
    let mut tasks = Vec::new();
    for (i, who) in staff.iter().enumerate() {
        let s = fixture.staff_socket(who, i, "online").await?;
        let (tx, rx) = mpsc::unbounded_channel();
        tasks.push(tokio::spawn(writer(s.sink, rx)));
        tasks.push(tokio::spawn(assigned_reader(
            s.stream,
            i,
            seen.clone(),
            Some(tx),
        )));
    }
    // Conversation → (intended creation, POST answer received).
    let created: Arc<Mutex<HashMap<i64, (Instant, Instant)>>> = Arc::default();
    let rest = Arc::new(Mutex::new(Latencies::default()));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let probe = Probe::start(server_pids);
    let mut schedule = Schedule::new(args.spacing.into(), args.rate, seed);
    let start = Instant::now();
    let mut calls = Vec::new();
    let mut pacer = Pacer::new();
    while let Some(offset) = schedule.next_before(Duration::from_secs_f64(args.duration_s)) {
        let intended = start + offset;
        pacer.until(intended).await;
        let (fixture, created, rest, failures) = (
            fixture.clone(),
            created.clone(),
            rest.clone(),
            failures.clone(),
        );
        let k = calls.len();
        // One task per arrival: a slow answer must not delay the next one.
        calls.push(tokio::spawn(async move {
            match fixture
                .customer_api(k)
                .widget_session(&fixture.team_name)
                .await
            {
                Ok(v) => {
                    let answered = Instant::now();
                    lock(&rest).record("POST /widget/sessions", answered - intended);
                    lock(&created).insert(v.conversation_id, (intended, answered));
                }
                Err(e) => lock(&failures).push(format!("widget session: {e:#}")),
            }
        }));
    }
    for c in calls {
        let _ = c.await;
    }
    let deadline = Instant::now() + Duration::from_secs_f64(args.drain_s);
    loop {
        let done = {
            let (c, s) = (lock(&created), lock(&seen));
            c.keys().all(|id| s.assigned.contains_key(id))
        };
        if done || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut report = Report::new("assign", serde_json::to_value(args)?);
    let mut lat = std::mem::take(&mut *lock(&rest));
    let (created, seen) = (lock(&created), lock(&seen));
    let (mut unassigned, mut twice, mut before_answer, mut unsound, mut unstamped) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    for (id, (intended, answered)) in created.iter() {
        match seen.assigned.get(id).map(Vec::as_slice) {
            None | Some([]) => unassigned += 1,
            Some([a]) => {
                lat.record(
                    "created -> conversation.assigned",
                    a.at.saturating_duration_since(*intended),
                );
                if a.at < *answered {
                    before_answer += 1;
                }
                if a.queued_ns.is_none() || a.written_ns.is_none() {
                    unstamped += 1;
                }
                if !a.record_server_clock(&mut lat, true, true) {
                    unsound += 1;
                }
            }
            Some(_) => twice += 1,
        }
    }
    report.latencies = lat.rows();
    report.figure("conversations created", created.len() as f64, "");
    report.figure(
        "assigned once",
        (created.len() as u64 - unassigned - twice) as f64,
        "",
    );
    report.figure("assigned before the POST answer", before_answer as f64, "");
    seen.resolution_figure(&mut report);
    report.notes.push(format!(
        "{QUEUED_TO_ASSIGNED}: the conversation's created_at (= waiting_since, stamped when the \
         creating transaction starts, so its insert and commit are included) -> arrival on the \
         agent's socket, both CLOCK_REALTIME of this machine; {QUEUED_TO_WRITE} and \
         {WRITE_TO_SOCKET} split it at the assignment's updated_at"
    ));
    if unstamped > 0 {
        report.notes.push(format!(
            "{unstamped} conversation.assigned frames lacked created_at/updated_at"
        ));
    }
    if unsound > 0 {
        report.notes.push(format!(
            "{unsound} assignments had a server timestamp after the frame's arrival (clock step?): left out"
        ));
    }
    probe.finish(&mut report, Some((created.len() as u64, "assignments")));
    if unassigned > 0 {
        report
            .failures
            .push(format!("{unassigned} conversations never assigned"));
    }
    if twice > 0 {
        report
            .failures
            .push(format!("{twice} conversations assigned more than once"));
    }
    if seen.errors > 0 {
        report.failures.push(format!(
            "{} error frames (last: {})",
            seen.errors, seen.last_error
        ));
    }
    if seen.ended > 0 {
        report
            .failures
            .push(format!("{} agent sockets ended", seen.ended));
    }
    report.failures.extend(lock(&failures).iter().cloned());
    for t in tasks {
        t.abort();
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(a: &Assignment, queue: bool, socket: bool) -> (bool, Latencies) {
        let mut lat = Latencies::default();
        let ok = a.record_server_clock(&mut lat, queue, socket);
        (ok, lat)
    }

    fn only_sample_us(lat: &Latencies, name: &str) -> Option<u64> {
        lat.get(name).filter(|h| h.len() == 1).map(|h| h.max())
    }

    #[test]
    fn the_server_clock_latencies_split_queued_to_arrival_at_the_assignment_write() {
        let a = Assignment {
            agent: 0,
            at: Instant::now(),
            queued_ns: Some(1_000_000_000),
            written_ns: Some(1_000_400_000),
            wall_ns: 1_001_500_000,
        };
        let (ok, lat) = one(&a, true, true);
        assert!(ok);
        // 1.5 ms, 0.4 ms and 1.1 ms, within the histogram's 3 digits.
        let near =
            |got: Option<u64>, want: u64| got.is_some_and(|g| g.abs_diff(want) <= want / 500);
        assert!(near(only_sample_us(&lat, QUEUED_TO_ASSIGNED), 1500));
        assert!(near(only_sample_us(&lat, QUEUED_TO_WRITE), 400));
        assert!(near(only_sample_us(&lat, WRITE_TO_SOCKET), 1100));
        let (_, socket_only) = one(&a, false, true);
        assert!(socket_only.get(QUEUED_TO_ASSIGNED).is_none());
        assert!(socket_only.get(WRITE_TO_SOCKET).is_some());
    }

    #[test]
    fn a_stamp_after_the_arrival_is_left_out_and_reported() {
        let a = Assignment {
            agent: 0,
            at: Instant::now(),
            queued_ns: Some(2_000),
            written_ns: Some(5_000),
            wall_ns: 3_000,
        };
        let (ok, lat) = one(&a, true, true);
        assert!(!ok);
        assert!(lat.get(QUEUED_TO_ASSIGNED).is_some());
        assert!(lat.get(WRITE_TO_SOCKET).is_none());
        // Missing stamps are no error, just nothing to record.
        let bare = Assignment {
            queued_ns: None,
            written_ns: None,
            ..a
        };
        let (ok, lat) = one(&bare, true, true);
        assert!(ok);
        assert!(lat.rows().is_empty());
    }

    #[test]
    fn the_resolution_follows_the_most_digits_seen() {
        let mut o = Observed::default();
        let mut r = Report::new("t", serde_json::json!({}));
        o.stamp_digits = 6;
        o.resolution_figure(&mut r);
        o.stamp_digits = 9;
        o.resolution_figure(&mut r);
        let v: Vec<f64> = r.figures.iter().map(|f| f.value).collect();
        assert_eq!(v, vec![1000.0, 1.0]);
    }
}
