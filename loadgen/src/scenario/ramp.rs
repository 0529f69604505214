//! `ramp`: `steady` at rising rates on one set of sockets, until a step's
//! p99 send → delivery passes the bound, a message is lost, or the generator
//! cannot send at the rate; reports the highest rate that held.

use std::time::Duration;

use clap::Args;
use serde::Serialize;
use serde_json::json;

use super::Probe;
use super::steady::{self, SpacingArg};
use super::world::{AssignBy, Shape};
use crate::fixture::Target;
use crate::stats::{LatencyRow, Report};

/// Options of `ramp`.
#[derive(Debug, Clone, Args, Serialize)]
pub struct RampArgs {
    /// Customers.
    #[arg(long, default_value_t = 200)]
    pub customers: usize,
    /// Agents.
    #[arg(long, default_value_t = 4)]
    pub agents: usize,
    /// First step's customer messages per second.
    #[arg(long, default_value_t = 500.0)]
    pub start_rate: f64,
    /// Each step multiplies the rate by this.
    #[arg(long, default_value_t = 1.25)]
    pub factor: f64,
    /// Stop after a step at or above this rate.
    #[arg(long, default_value_t = 100_000.0)]
    pub max_rate: f64,
    /// Seconds per step.
    #[arg(long, default_value_t = 10.0)]
    pub step_s: f64,
    /// A step holds while p99 send → delivery (customer → agent) is at most
    /// this many milliseconds.
    #[arg(long, default_value_t = 50.0)]
    pub p99_ms: f64,
    /// Share of customer messages answered.
    #[arg(long, default_value_t = 1.0)]
    pub answer_ratio: f64,
    /// Gaps between sends.
    #[arg(long, value_enum, default_value_t = SpacingArg::Poisson)]
    pub spacing: SpacingArg,
    /// Seconds to wait for acks/deliveries after each step.
    #[arg(long, default_value_t = 15.0)]
    pub drain_s: f64,
    /// Widget sessions created at once during setup.
    #[arg(long, default_value_t = 8)]
    pub setup_concurrency: usize,
    /// How conversations get their agents (see `steady --help`).
    #[arg(long, value_enum, default_value_t = AssignBy::Auto)]
    pub assign_by: AssignBy,
}

/// Runs `ramp`.
pub async fn run(
    target: &Target,
    args: &RampArgs,
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
    let mut world = steady::build(target, &shape).await?;
    let mut report = Report::new("ramp", serde_json::to_value(args)?);
    let mut rate = args.start_rate;
    let mut held: Option<(f64, LatencyRow)> = None;
    let mut step = 0u64;
    let drain = Duration::from_secs_f64(args.drain_s);
    loop {
        step += 1;
        let mut step_report = Report::new("ramp step", json!({"rate": rate}));
        let probe = Probe::start(server_pids);
        let p = steady::phase(
            &mut world,
            rate,
            Duration::from_secs_f64(args.step_s),
            args.spacing.into(),
            drain,
            seed.wrapping_add(step),
        )
        .await;
        probe.finish(&mut step_report, Some((p.committed, "messages")));
        let delivery = p
            .latencies
            .get("delivery customer->agent")
            .map(|h| LatencyRow::of("delivery customer->agent", h));
        let p99 = delivery.as_ref().map_or(f64::INFINITY, |d| d.p99_ms);
        let kept_up = p.sent_rate >= 0.95 * rate;
        let clean = p.tally.clean();
        let ok = clean && kept_up && p99 <= args.p99_ms;
        let share = |name: &str| {
            step_report
                .figures
                .iter()
                .find(|f| f.name == name)
                .map(|f| f.value)
        };
        let cpu = share("server cpu utilisation");
        // The generator's own core: near 100 %, its sockets read late and a
        // server drops them as clients that do not read.
        let own_cpu = share("loadgen cpu utilisation");
        report.details.push(json!({
            "rate": rate, "sent_rate": p.sent_rate, "committed_rate": p.committed_rate,
            "delivery": delivery, "tally": p.tally, "server_cpu_percent": cpu,
            "loadgen_cpu_percent": own_cpu, "held": ok,
        }));
        report.notes.push(format!(
            "step {step}: rate {rate:.0}/s sent {:.0}/s committed {:.0}/s p99 delivery {p99:.2} ms server cpu {}% loadgen cpu {}% {}",
            p.sent_rate,
            p.committed_rate,
            cpu.map_or("?".to_string(), |c| format!("{c:.0}")),
            own_cpu.map_or("?".to_string(), |c| format!("{c:.0}")),
            if ok {
                "held"
            } else if !clean {
                "LOST/DUPLICATED messages"
            } else if !kept_up {
                "generator could not keep the rate"
            } else {
                "p99 over the bound"
            }
        ));
        if !clean {
            for f in p.tally.failures() {
                report.failures.push(format!("at {rate:.0} msg/s: {f}"));
            }
        }
        if !ok {
            break;
        }
        if let Some(d) = delivery {
            held = Some((rate, d));
        }
        if rate >= args.max_rate {
            break;
        }
        rate = (rate * args.factor).min(args.max_rate);
    }
    match held {
        Some((r, d)) => {
            report.figure("highest rate held", r, "msg/s");
            report.latencies.push(LatencyRow {
                name: format!("delivery c->a at {r:.0}/s"),
                ..d
            });
        }
        None => report.notes.push("no step held".to_string()),
    }
    steady::finish(&world, &mut report, Default::default());
    // `finish` adds an empty tally; ramp reports per step instead.
    report.tally = None;
    world.close();
    Ok(report)
}
