//! `backlog`: K conversations wait in the queue while every agent is away;
//! then all agents go online at once with room for all K, and the queue must
//! drain into them. Measures the drain rate (assignments per second from the
//! first `presence.set online` to the last `conversation.assigned`), and
//! checks that no conversation is assigned twice and no agent gets more than
//! its capacity. Per conversation: `presence.set online` sent →
//! `conversation.assigned` (its wait once capacity appeared), split at the
//! assignment's write (server clock, `updated_at`): online → write and
//! write → the frame's arrival (see `assign` for the clocks).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;
use serde::Serialize;
use serde_json::json;
use tokio::sync::mpsc;

use super::Probe;
use super::assign::{Observed, assigned_reader, lock, writer};
use crate::client;
use crate::fixture::{Fixture, Target};
use crate::stats::{Latencies, Report};

/// Options of `backlog`.
#[derive(Debug, Clone, Args, Serialize)]
pub struct BacklogArgs {
    /// Conversations queued before anyone is online.
    #[arg(long, default_value_t = 1000)]
    pub conversations: usize,
    /// Agents; each gets capacity conversations / agents (at most 50).
    #[arg(long, default_value_t = 20)]
    pub agents: usize,
    /// Widget sessions created at once while filling the queue.
    #[arg(long, default_value_t = 16)]
    pub setup_concurrency: usize,
    /// Seconds to wait for the drain.
    #[arg(long, default_value_t = 120.0)]
    pub timeout_s: f64,
}

/// Runs `backlog`.
pub async fn run(
    target: &Target,
    args: &BacklogArgs,
    server_pids: &[u32],
) -> anyhow::Result<Report> {
    let agents = args.agents.max(1);
    let capacity = args.conversations.div_ceil(agents).max(1);
    if capacity > 50 {
        bail!(
            "{} conversations need at least {} agents (capacity is at most 50)",
            args.conversations,
            args.conversations.div_ceil(50)
        );
    }
    let fixture = Fixture::new(target, true).await?;
    let staff = fixture.staff(agents, "agent", capacity as u32).await?;
    let seen = Arc::new(Mutex::new(Observed::default()));
    let mut txs = Vec::new();
    let mut tasks = Vec::new();
    for (i, who) in staff.iter().enumerate() {
        let s = fixture.staff_socket(who, i, "away").await?;
        let (tx, rx) = mpsc::unbounded_channel();
        tasks.push(tokio::spawn(writer(s.sink, rx)));
        tasks.push(tokio::spawn(assigned_reader(
            s.stream,
            i,
            seen.clone(),
            None,
        )));
        txs.push(tx);
    }
    let fill = Instant::now();
    let visitors = fixture
        .visitors(args.conversations, args.setup_concurrency)
        .await?;
    let fill_s = fill.elapsed().as_secs_f64();
    let ids: Vec<i64> = visitors.iter().map(|v| v.conversation_id).collect();
    // Nothing may be assigned while everyone is away.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let early = lock(&seen).assigned.len();

    let probe = Probe::start(server_pids);
    let t0 = Instant::now();
    let t0_wall = client::wall_nanos();
    for tx in &txs {
        let _ = tx.send(json!({"type": "presence.set", "status": "online"}).to_string());
    }
    let deadline = t0 + Duration::from_secs_f64(args.timeout_s);
    loop {
        let n = {
            let s = lock(&seen);
            ids.iter().filter(|id| s.assigned.contains_key(id)).count()
        };
        if n == ids.len() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut report = Report::new("backlog", serde_json::to_value(args)?);
    report.figure(
        "queue fill rate",
        ids.len() as f64 / fill_s.max(1e-9),
        "conversations/s",
    );
    let s = lock(&seen);
    let mut times: Vec<f64> = Vec::new();
    let mut per_agent: HashMap<usize, usize> = HashMap::new();
    let (mut twice, mut missing, mut unsound) = (0u64, 0u64, 0u64);
    let mut lat = Latencies::default();
    for id in &ids {
        match s.assigned.get(id).map(Vec::as_slice) {
            None | Some([]) => missing += 1,
            Some([a]) => {
                let waited = a.at.saturating_duration_since(t0);
                times.push(waited.as_secs_f64());
                lat.record("online -> conversation.assigned", waited);
                if !a.record_server_clock(&mut lat, false, true) {
                    unsound += 1;
                }
                match a.written_ns.map(|w| client::wall_gap(t0_wall, w)) {
                    Some(Some(d)) => lat.record("online -> assign write (server)", d),
                    Some(None) => unsound += 1,
                    None => {}
                }
                *per_agent.entry(a.agent).or_default() += 1;
            }
            Some(_) => twice += 1,
        }
    }
    report.latencies = lat.rows();
    if unsound > 0 {
        report.notes.push(format!(
            "{unsound} assignments had a server timestamp after the frame's arrival (clock step?): left out"
        ));
    }
    times.sort_by(f64::total_cmp);
    let at = |q: f64| -> f64 {
        if times.is_empty() {
            return f64::NAN;
        }
        let i = ((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1;
        times[i]
    };
    let last = at(1.0);
    report.figure("assigned", times.len() as f64, "");
    report.figure("time to 50% assigned", at(0.5) * 1000.0, "ms");
    report.figure("time to 90% assigned", at(0.9) * 1000.0, "ms");
    report.figure("time to all assigned", last * 1000.0, "ms");
    report.figure(
        "drain rate",
        times.len() as f64 / last.max(1e-9),
        "assignments/s",
    );
    s.resolution_figure(&mut report);
    probe.finish(&mut report, Some((times.len() as u64, "assignments")));
    if early > 0 {
        report.failures.push(format!(
            "{early} conversations assigned while every agent was away"
        ));
    }
    if missing > 0 {
        report.failures.push(format!(
            "{missing} conversations not assigned within {}s",
            args.timeout_s
        ));
    }
    if twice > 0 {
        report
            .failures
            .push(format!("{twice} conversations assigned more than once"));
    }
    let over = per_agent.values().filter(|n| **n > capacity).count();
    if over > 0 {
        report.failures.push(format!(
            "{over} agents got more than their capacity of {capacity}"
        ));
    }
    if s.errors > 0 {
        report.failures.push(format!(
            "{} error frames (last: {})",
            s.errors, s.last_error
        ));
    }
    if s.ended > 0 {
        report
            .failures
            .push(format!("{} agent sockets ended", s.ended));
    }
    drop(s);
    for t in tasks {
        t.abort();
    }
    Ok(report)
}
