//! `assign`: agents with free capacity are online; new conversations arrive
//! one at a time on a fixed schedule; measures the intended creation time →
//! `conversation.assigned` at the agent. Each agent closes a conversation as
//! soon as it gets it, so capacity stays free. Every conversation must be
//! assigned exactly once.

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
use super::{Probe, pace_until};
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

/// Assignment observations, joined with creation times at the end (the
/// `conversation.assigned` frame can beat the REST answer).
#[derive(Default)]
pub struct Observed {
    /// Conversation → (agent index, when) for every `conversation.assigned`.
    pub assigned: HashMap<i64, Vec<(usize, Instant)>>,
    /// `error` frames.
    pub errors: u64,
    /// Sockets that ended.
    pub ended: u64,
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
        match client::parse_any(text.as_str()) {
            Some(Parsed::Frame(f)) if f.kind == "conversation.assigned" => {
                if let Some(c) = f.conversation {
                    lock(&seen)
                        .assigned
                        .entry(c.id)
                        .or_default()
                        .push((index, now));
                    if let Some(tx) = &close {
                        let frame = json!({"type": "conversation.close", "conversation_id": c.id});
                        let _ = tx.send(frame.to_string());
                    }
                }
            }
            Some(Parsed::Error(_)) => lock(&seen).errors += 1,
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
    server_pid: Option<u32>,
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
    let created: Arc<Mutex<HashMap<i64, Instant>>> = Arc::default();
    let rest = Arc::new(Mutex::new(Latencies::default()));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let probe = Probe::start(server_pid);
    let mut schedule = Schedule::new(args.spacing.into(), args.rate, seed);
    let start = Instant::now();
    let mut calls = Vec::new();
    while let Some(offset) = schedule.next_before(Duration::from_secs_f64(args.duration_s)) {
        let intended = start + offset;
        pace_until(intended).await;
        let (fixture, created, rest, failures) = (
            fixture.clone(),
            created.clone(),
            rest.clone(),
            failures.clone(),
        );
        // One task per arrival: a slow answer must not delay the next one.
        calls.push(tokio::spawn(async move {
            match fixture.api.widget_session(&fixture.team_name).await {
                Ok(v) => {
                    lock(&rest).record("POST /widget/sessions", intended.elapsed());
                    lock(&created).insert(v.conversation_id, intended);
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
    let (mut unassigned, mut twice) = (0u64, 0u64);
    for (id, intended) in created.iter() {
        match seen.assigned.get(id).map(Vec::as_slice) {
            None | Some([]) => unassigned += 1,
            Some([(_, at)]) => lat.record(
                "created -> conversation.assigned",
                at.saturating_duration_since(*intended),
            ),
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
        report
            .failures
            .push(format!("{} error frames", seen.errors));
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
