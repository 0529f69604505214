//! `fanout`: S supervisors `queue.watch` one busy queue. Conversations
//! arrive on a schedule into a team without automatic assignment; agents
//! (who watch the queue too) accept each one they see — conversation c goes
//! to agent c mod M — and close it after a hold time. Measures how long each
//! supervisor takes to see a conversation enter the queue (from its intended
//! creation) and leave it (from the accept's `ok`); every supervisor must
//! see every conversation enter.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use super::assign::{lock, writer};
use super::steady::SpacingArg;
use super::{Pacer, Probe};
use crate::client::{self, Parsed, WsStream};
use crate::fixture::{Fixture, Target};
use crate::schedule::Schedule;
use crate::stats::{Latencies, Report};

/// Options of `fanout`.
#[derive(Debug, Clone, Args, Serialize)]
pub struct FanoutArgs {
    /// Supervisors watching the queue.
    #[arg(long, default_value_t = 20)]
    pub supervisors: usize,
    /// Agents taking conversations from it.
    #[arg(long, default_value_t = 4)]
    pub agents: usize,
    /// New conversations per second.
    #[arg(long, default_value_t = 20.0)]
    pub rate: f64,
    /// Seconds of arrivals.
    #[arg(long, default_value_t = 10.0)]
    pub duration_s: f64,
    /// Milliseconds an agent holds a conversation before closing it.
    #[arg(long, default_value_t = 1000)]
    pub hold_ms: u64,
    /// Gaps between arrivals.
    #[arg(long, value_enum, default_value_t = SpacingArg::Poisson)]
    pub spacing: SpacingArg,
    /// Seconds to wait for the last updates.
    #[arg(long, default_value_t = 15.0)]
    pub drain_s: f64,
}

/// What the watchers saw.
#[derive(Default)]
struct Watch {
    /// (supervisor, conversation) → first time it was seen waiting.
    entered: HashMap<(usize, i64), Instant>,
    /// (supervisor, conversation) → first update without it, after it was seen.
    left: HashMap<(usize, i64), Instant>,
    /// Conversation → when its accept was answered `ok`.
    accepted: HashMap<i64, Instant>,
    /// Queue frames and their bytes received by supervisors.
    frames: u64,
    bytes: u64,
    errors: u64,
    ended: u64,
}

async fn supervisor_reader(
    mut stream: WsStream,
    index: usize,
    team: i64,
    watch: Arc<Mutex<Watch>>,
) {
    // What this supervisor last saw waiting.
    let mut waiting: HashSet<i64> = HashSet::new();
    while let Some(Ok(msg)) = stream.next().await {
        let Message::Text(text) = msg else {
            if matches!(msg, Message::Close(_)) {
                break;
            }
            continue;
        };
        let now = Instant::now();
        match client::parse_any(text.as_str()) {
            Some(Parsed::Frame(f)) if f.team_id == Some(team) && f.kind.starts_with("queue.") => {
                let now_waiting: HashSet<i64> = f
                    .waiting
                    .unwrap_or_default()
                    .iter()
                    .map(|w| w.conversation_id)
                    .collect();
                let mut w = lock(&watch);
                w.frames += 1;
                w.bytes += text.len() as u64;
                for c in now_waiting.difference(&waiting) {
                    w.entered.entry((index, *c)).or_insert(now);
                }
                for c in waiting.difference(&now_waiting) {
                    w.left.entry((index, *c)).or_insert(now);
                }
                waiting = now_waiting;
            }
            Some(Parsed::Error(_)) => lock(&watch).errors += 1,
            _ => {}
        }
    }
    lock(&watch).ended += 1;
}

async fn agent_reader(
    mut stream: WsStream,
    index: usize,
    agents: usize,
    team: i64,
    hold: Duration,
    tx: mpsc::UnboundedSender<String>,
    watch: Arc<Mutex<Watch>>,
) {
    let mut asked: HashSet<i64> = HashSet::new();
    while let Some(Ok(msg)) = stream.next().await {
        let Message::Text(text) = msg else {
            if matches!(msg, Message::Close(_)) {
                break;
            }
            continue;
        };
        let now = Instant::now();
        match client::parse_any(text.as_str()) {
            Some(Parsed::Frame(f)) if f.team_id == Some(team) && f.kind.starts_with("queue.") => {
                for w in f.waiting.unwrap_or_default() {
                    let c = w.conversation_id;
                    if c.rem_euclid(agents as i64) as usize == index && asked.insert(c) {
                        let frame = json!({"type": "conversation.accept", "ref": format!("acc{c}"), "conversation_id": c});
                        let _ = tx.send(frame.to_string());
                    }
                }
            }
            Some(Parsed::Frame(f)) if f.kind == "ok" => {
                let id = f
                    .reference
                    .as_deref()
                    .and_then(|r| r.strip_prefix("acc"))
                    .and_then(|c| c.parse::<i64>().ok());
                if let Some(c) = id {
                    lock(&watch).accepted.insert(c, now);
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(hold).await;
                        let _ = tx.send(
                            json!({"type": "conversation.close", "conversation_id": c}).to_string(),
                        );
                    });
                }
            }
            Some(Parsed::Error(_)) => lock(&watch).errors += 1,
            _ => {}
        }
    }
    lock(&watch).ended += 1;
}

/// Runs `fanout`.
pub async fn run(
    target: &Target,
    args: &FanoutArgs,
    server_pids: &[u32],
    seed: u64,
) -> anyhow::Result<Report> {
    let fixture = Arc::new(Fixture::new(target, false).await?);
    let agents = args.agents.max(1);
    let team = fixture.team_id;
    let watch = Arc::new(Mutex::new(Watch::default()));
    let mut tasks = Vec::new();
    // Supervisors send nothing after the watch; their senders are kept so
    // their writers (and sockets) stay up.
    let mut keep = Vec::new();
    let sups = fixture.staff(args.supervisors, "supervisor", 1).await?;
    for (i, who) in sups.iter().enumerate() {
        let mut s = fixture.staff_socket(who, i, "away").await?;
        client::send(
            &mut s.sink,
            &json!({"type": "queue.watch", "team_id": team}),
        )
        .await?;
        client::wait_for(
            &mut s.stream,
            Duration::from_secs(30),
            |p| matches!(p, Parsed::Frame(f) if f.kind == "queue.snapshot"),
        )
        .await
        .context("queue.watch")?;
        let (tx, rx) = mpsc::unbounded_channel::<String>();
        keep.push(tx);
        tasks.push(tokio::spawn(writer(s.sink, rx)));
        tasks.push(tokio::spawn(supervisor_reader(
            s.stream,
            i,
            team,
            watch.clone(),
        )));
    }
    let staff = fixture.staff(agents, "agent", 50).await?;
    let hold = Duration::from_millis(args.hold_ms);
    for (i, who) in staff.iter().enumerate() {
        let mut s = fixture
            .staff_socket(who, args.supervisors + i, "online")
            .await?;
        client::send(
            &mut s.sink,
            &json!({"type": "queue.watch", "team_id": team}),
        )
        .await?;
        let (tx, rx) = mpsc::unbounded_channel();
        tasks.push(tokio::spawn(writer(s.sink, rx)));
        tasks.push(tokio::spawn(agent_reader(
            s.stream,
            i,
            agents,
            team,
            hold,
            tx,
            watch.clone(),
        )));
    }
    let created: Arc<Mutex<HashMap<i64, Instant>>> = Arc::default();
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let probe = Probe::start(server_pids);
    let mut schedule = Schedule::new(args.spacing.into(), args.rate, seed);
    let start = Instant::now();
    let mut calls = Vec::new();
    let mut pacer = Pacer::new();
    while let Some(offset) = schedule.next_before(Duration::from_secs_f64(args.duration_s)) {
        let intended = start + offset;
        pacer.until(intended).await;
        let (fixture, created, failures) = (fixture.clone(), created.clone(), failures.clone());
        let k = calls.len();
        calls.push(tokio::spawn(async move {
            match fixture
                .customer_api(k)
                .widget_session(&fixture.team_name)
                .await
            {
                Ok(v) => {
                    lock(&created).insert(v.conversation_id, intended);
                }
                Err(e) => lock(&failures).push(format!("widget session: {e:#}")),
            }
        }));
    }
    for c in calls {
        let _ = c.await;
    }
    let sups_n = args.supervisors;
    let deadline = Instant::now() + Duration::from_secs_f64(args.drain_s);
    loop {
        let done = {
            let (c, w) = (lock(&created), lock(&watch));
            c.keys()
                .all(|id| (0..sups_n).all(|s| w.left.contains_key(&(s, *id))))
        };
        if done || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let mut report = Report::new("fanout", serde_json::to_value(args)?);
    let (created, w) = (lock(&created), lock(&watch));
    let mut lat = Latencies::default();
    let mut missed = 0u64;
    for (id, intended) in created.iter() {
        for s in 0..sups_n {
            match w.entered.get(&(s, *id)) {
                Some(at) => lat.record(
                    "created -> seen waiting (per supervisor)",
                    at.saturating_duration_since(*intended),
                ),
                None => missed += 1,
            }
            if let (Some(acc), Some(left)) = (w.accepted.get(id), w.left.get(&(s, *id))) {
                lat.record(
                    "accept ok -> seen leaving (per supervisor)",
                    left.saturating_duration_since(*acc),
                );
            }
        }
    }
    report.latencies = lat.rows();
    report.figure("conversations", created.len() as f64, "");
    report.figure(
        "queue frames to supervisors",
        w.frames as f64 / elapsed,
        "frames/s",
    );
    report.figure(
        "queue bytes to supervisors",
        w.bytes as f64 / elapsed / 1024.0,
        "KiB/s",
    );
    probe.finish(&mut report, Some((created.len() as u64, "conversations")));
    if missed > 0 {
        report.failures.push(format!(
            "{missed} (supervisor, conversation) entries never seen waiting"
        ));
    }
    let unaccepted = created
        .keys()
        .filter(|id| !w.accepted.contains_key(id))
        .count();
    if unaccepted > 0 {
        report
            .failures
            .push(format!("{unaccepted} conversations never accepted"));
    }
    if w.errors > 0 {
        report.failures.push(format!("{} error frames", w.errors));
    }
    if w.ended > 0 {
        report
            .failures
            .push(format!("{} staff sockets ended", w.ended));
    }
    report.failures.extend(lock(&failures).iter().cloned());
    drop((created, w));
    for t in tasks {
        t.abort();
    }
    Ok(report)
}
