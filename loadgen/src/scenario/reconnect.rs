//! `reconnect`: K customers lose their connection at once, right after
//! sending a message (so its ack is likely lost), while their agents answer;
//! all K reconnect at once, `resume` from the last seq they saw and re-send
//! what was not acked. Every message must arrive exactly once, and the
//! re-sent ones must be acked with the message stored the first time.

use std::time::{Duration, Instant};

use clap::Args;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use rand::seq::index::sample;
use serde::Serialize;

use super::Probe;
use super::steady;
use super::world::{AssignBy, Shape};
use crate::fixture::Target;
use crate::stats::{Latencies, Report, Tally};

/// Options of `reconnect`.
#[derive(Debug, Clone, Args, Serialize)]
pub struct ReconnectArgs {
    /// Customers.
    #[arg(long, default_value_t = 200)]
    pub customers: usize,
    /// Agents.
    #[arg(long, default_value_t = 4)]
    pub agents: usize,
    /// Customers dropped and resumed together in each round.
    #[arg(long, default_value_t = 100)]
    pub drop: usize,
    /// Rounds.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Milliseconds the dropped customers stay away (their agents' answers
    /// are committed meanwhile and must come back through `resume`).
    #[arg(long, default_value_t = 500)]
    pub down_ms: u64,
    /// Seconds to wait for acks/deliveries after each round.
    #[arg(long, default_value_t = 15.0)]
    pub drain_s: f64,
    /// Widget sessions created at once during setup.
    #[arg(long, default_value_t = 8)]
    pub setup_concurrency: usize,
    /// How conversations get their agents (see `steady --help`).
    #[arg(long, value_enum, default_value_t = AssignBy::Auto)]
    pub assign_by: AssignBy,
}

/// Runs `reconnect`.
pub async fn run(
    target: &Target,
    args: &ReconnectArgs,
    server_pids: &[u32],
    seed: u64,
) -> anyhow::Result<Report> {
    let shape = Shape {
        customers: args.customers,
        agents: args.agents,
        answer_ratio: 1.0,
        setup_concurrency: args.setup_concurrency,
        assign_by: args.assign_by,
    };
    let mut world = steady::build(target, &shape).await?;
    let mut report = Report::new("reconnect", serde_json::to_value(args)?);
    let k = args.drop.min(args.customers);
    let drain = Duration::from_secs_f64(args.drain_s);
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut total = Tally::default();
    let mut latencies = Latencies::default();
    let probe = Probe::start(server_pids);
    for round in 0..args.rounds {
        // Everyone talks, so every conversation has recent history.
        let now = Instant::now();
        for i in 0..world.customers.len() {
            world.send(i, now);
        }
        world.drain(drain).await;
        // The dropped ones send once more and vanish at once.
        let which: Vec<usize> = sample(&mut rng, world.customers.len(), k).into_vec();
        let now = Instant::now();
        for &i in &which {
            world.send(i, now);
        }
        world
            .reconnect_many(&which, Duration::from_millis(args.down_ms))
            .await?;
        world.drain(drain).await;
        let (t, l) = world.take();
        report.notes.push(format!(
            "round {}: sent {} acked {} delivered {} {}",
            round + 1,
            t.sent,
            t.acked,
            t.delivered,
            if t.clean() { "clean" } else { "NOT CLEAN" }
        ));
        add(&mut total, &t);
        latencies.merge(&l);
    }
    report.latencies = latencies.rows();
    probe.finish(&mut report, None);
    steady::finish(&world, &mut report, total);
    world.close();
    Ok(report)
}

fn add(total: &mut Tally, t: &Tally) {
    total.sent += t.sent;
    total.acked += t.acked;
    total.delivered += t.delivered;
    total.unacked += t.unacked;
    total.undelivered += t.undelivered;
    total.duplicate_acks += t.duplicate_acks;
    total.duplicate_deliveries += t.duplicate_deliveries;
    total.unknown += t.unknown;
    total.seq_breaks += t.seq_breaks;
}
