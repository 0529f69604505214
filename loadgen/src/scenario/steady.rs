//! `steady`: N customers send on one Poisson schedule at a fixed total rate
//! (each customer a Poisson process of rate/N), M agents answer; latency of
//! send → ack and send → delivery, counted from the intended send time.

use std::time::{Duration, Instant};

use clap::Args;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::world::{AssignBy, Shape, World};
use super::{Pacer, Probe};
use crate::fixture::{Fixture, Target};
use crate::schedule::{Schedule, Spacing};
use crate::stats::{Latencies, Report, Tally};

/// Options of `steady`.
#[derive(Debug, Clone, Args, Serialize)]
pub struct SteadyArgs {
    /// Customers, one conversation and one socket each.
    #[arg(long, default_value_t = 100)]
    pub customers: usize,
    /// Agents (each holds at most 50 conversations).
    #[arg(long, default_value_t = 4)]
    pub agents: usize,
    /// Customer messages per second, all customers together.
    #[arg(long, default_value_t = 200.0)]
    pub rate: f64,
    /// Measured seconds.
    #[arg(long, default_value_t = 10.0)]
    pub duration_s: f64,
    /// Seconds sent at the same rate before measuring (its counts are still
    /// checked for loss).
    #[arg(long, default_value_t = 2.0)]
    pub warmup_s: f64,
    /// Share of customer messages an agent answers at once (0–1).
    #[arg(long, default_value_t = 1.0)]
    pub answer_ratio: f64,
    /// Gaps between sends.
    #[arg(long, value_enum, default_value_t = SpacingArg::Poisson)]
    pub spacing: SpacingArg,
    /// Seconds to wait after the last send for acks and deliveries before
    /// counting the missing ones as lost.
    #[arg(long, default_value_t = 15.0)]
    pub drain_s: f64,
    /// Widget sessions created at once during setup.
    #[arg(long, default_value_t = 8)]
    pub setup_concurrency: usize,
    /// How conversations get their agents: the queue's automatic assignment,
    /// or each agent accepting its share (leaves the routing out).
    #[arg(long, value_enum, default_value_t = AssignBy::Auto)]
    pub assign_by: AssignBy,
}

/// `--spacing`.
#[derive(Debug, Clone, Copy, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SpacingArg {
    /// Exponential gaps.
    Poisson,
    /// Equal gaps.
    Fixed,
}

impl From<SpacingArg> for Spacing {
    fn from(s: SpacingArg) -> Spacing {
        match s {
            SpacingArg::Poisson => Spacing::Poisson,
            SpacingArg::Fixed => Spacing::Fixed,
        }
    }
}

/// What one phase of sending produced.
pub struct Phase {
    /// Integrity counts.
    pub tally: Tally,
    /// Histograms.
    pub latencies: Latencies,
    /// Customer messages handed to sockets per second of the phase.
    pub sent_rate: f64,
    /// Messages acked (both ways) per second, from first send to drain.
    pub committed_rate: f64,
    /// Acks of both ways: the messages the server committed.
    pub committed: u64,
}

/// Sends at `rate` for `duration` on `world`, then drains for up to `drain`.
pub async fn phase(
    world: &mut World,
    rate: f64,
    duration: Duration,
    spacing: Spacing,
    drain: Duration,
    seed: u64,
) -> Phase {
    let n = world.customers.len();
    let mut schedule = Schedule::new(spacing, rate, seed);
    // Which customer sends: uniform, so each one is a Poisson process of
    // rate / N when the whole is Poisson (thinning).
    let mut pick = SmallRng::seed_from_u64(seed ^ 0x5eed);
    let start = Instant::now();
    let mut sent = 0u64;
    let mut pacer = Pacer::new();
    while let Some(offset) = schedule.next_before(duration) {
        let intended = start + offset;
        pacer.until(intended).await;
        let lag = Instant::now().saturating_duration_since(intended);
        let i = pick.random_range(0..n);
        world.send(i, intended);
        world
            .shared
            .ledger()
            .latencies
            .record("send lag (generator)", lag);
        sent += 1;
    }
    let sending = start.elapsed().max(duration);
    world.drain(drain).await;
    let wall = start.elapsed().as_secs_f64();
    let (tally, latencies) = world.take();
    Phase {
        committed: tally.acked,
        committed_rate: tally.acked as f64 / wall,
        sent_rate: sent as f64 / sending.as_secs_f64(),
        tally,
        latencies,
    }
}

/// Builds the world for `shape`, or explains why not.
pub async fn build(target: &Target, shape: &Shape) -> anyhow::Result<World> {
    let fixture = Fixture::new(target, shape.assign_by == AssignBy::Auto).await?;
    World::build(fixture, shape).await
}

/// Runs `steady`.
pub async fn run(
    target: &Target,
    args: &SteadyArgs,
    server_pids: &[u32],
    seed: u64,
) -> anyhow::Result<Report> {
    let shape = Shape {
        customers: args.customers,
        agents: args.agents,
        answer_ratio: args.answer_ratio,
        setup_concurrency: args.setup_concurrency,
        assign_by: args.assign_by,
    };
    let mut world = build(target, &shape).await?;
    let mut report = Report::new("steady", serde_json::to_value(args)?);
    let drain = Duration::from_secs_f64(args.drain_s);
    if args.warmup_s > 0.0 {
        let w = phase(
            &mut world,
            args.rate,
            Duration::from_secs_f64(args.warmup_s),
            args.spacing.into(),
            drain,
            seed.wrapping_add(1),
        )
        .await;
        for f in w.tally.failures() {
            report.failures.push(format!("warm-up: {f}"));
        }
    }
    let probe = Probe::start(server_pids);
    let p = phase(
        &mut world,
        args.rate,
        Duration::from_secs_f64(args.duration_s),
        args.spacing.into(),
        drain,
        seed,
    )
    .await;
    report.latencies = p.latencies.rows();
    report.figure("intended customer rate", args.rate, "msg/s");
    report.figure("sent customer rate", p.sent_rate, "msg/s");
    report.figure("committed rate (both ways)", p.committed_rate, "msg/s");
    probe.finish(&mut report, Some((p.committed, "messages")));
    finish(&world, &mut report, p.tally);
    world.close();
    Ok(report)
}

/// Adds the tally, socket drops and error frames of a world to a report.
pub fn finish(world: &World, report: &mut Report, tally: Tally) {
    report.set_tally(tally);
    let (errors, last) = world.shared.errors();
    if errors > 0 {
        report
            .failures
            .push(format!("{errors} error frames (last: {last})"));
    }
    let dropped = world.shared.dropped();
    if dropped > 0 {
        report.failures.push(format!(
            "{dropped} sockets ended during the run (readers and writers; last: {})",
            world.shared.last_end()
        ));
    }
}
