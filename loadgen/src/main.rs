//! `loadgen`: drives a running Switchboard server with real protocol-v1
//! clients and reports latency percentiles, rates, server CPU and memory, and
//! every lost or duplicated message. Exit status: 0 passed, 1 the run saw a
//! failure (loss, duplicates, errors), 2 it could not run.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use loadgen::fixture::{Placement, Target, loopback_sources};
use loadgen::scenario::{assign, backlog, fanout, idle, inbox, ramp, reconnect, steady};
use loadgen::stats::Report;
use loadgen::sys;

/// Load generator for Switchboard (see docs/benchmarks.md).
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    /// The server's base URL; for a cluster, each node's (comma-separated
    /// or the flag repeated). Set-up calls go to the first; `--placement`
    /// spreads customers and staff over them.
    #[arg(
        long,
        env = "LOADGEN_SERVER",
        default_value = "http://127.0.0.1:8080",
        value_delimiter = ',',
        global = true
    )]
    server: Vec<String>,
    /// Which node each customer (widget session and socket) and each staff
    /// socket uses when there are several `--server`s.
    #[arg(long, value_enum, default_value_t = Placement::RoundRobin, global = true)]
    placement: Placement,
    /// An admin's e-mail (the run creates its own team and users with it).
    #[arg(
        long,
        env = "SWITCHBOARD_ADMIN_EMAIL",
        default_value = "admin@switchboard.local",
        global = true
    )]
    admin_email: String,
    /// That admin's password.
    #[arg(
        long,
        env = "SWITCHBOARD_ADMIN_PASSWORD",
        default_value = "",
        hide_env_values = true,
        global = true
    )]
    admin_password: String,
    /// The server's process id: adds its CPU time and resident memory to the
    /// report (read from /proc). For a cluster, each node's (comma-separated
    /// or repeated): figures are summed and given per node.
    #[arg(long, value_delimiter = ',', global = true)]
    server_pid: Vec<u32>,
    /// Pin the generator to this CPU (e.g. 1 when the server runs under
    /// `taskset -c 0`).
    #[arg(long, global = true)]
    cpu: Option<usize>,
    /// Runtime worker threads; 1 runs everything on one thread, which is
    /// what a generator pinned to one CPU should do.
    #[arg(long, default_value_t = 1, global = true)]
    threads: usize,
    /// Spread sockets over this many loopback source addresses (127.0.0.1…
    /// 127.0.0.N): one address has only ~28,000 ephemeral ports.
    #[arg(long, default_value_t = 1, global = true)]
    source_ips: u8,
    /// Seed of the schedules, so runs are repeatable.
    #[arg(long, default_value_t = 1, global = true)]
    seed: u64,
    /// Print the report as JSON (stdout) instead of a table.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// N customers send at a fixed total rate (Poisson), M agents answer;
    /// latency send → ack and send → delivery.
    Steady(steady::SteadyArgs),
    /// `steady` at rising rates until p99 passes a bound or a message is
    /// lost; reports the highest rate that held.
    Ramp(ramp::RampArgs),
    /// Supervisors watch a busy queue; latency until each sees a
    /// conversation enter and leave.
    Fanout(fanout::FanoutArgs),
    /// Open N idle sockets; server memory per connection.
    Idle(idle::IdleArgs),
    /// Drop K customers at once and resume them; nothing may be lost or
    /// stored twice.
    Reconnect(reconnect::ReconnectArgs),
    /// Conversations arrive one at a time to free agents; latency creation →
    /// `conversation.assigned`, and queued (the server's `created_at`) →
    /// `conversation.assigned` on the agent's socket.
    Assign(assign::AssignArgs),
    /// K queued conversations drain into agents that come online; drain
    /// rate, and online → `conversation.assigned` per conversation.
    Backlog(backlog::BacklogArgs),
    /// Time an agent's inbox list over N seeded conversations.
    Inbox(inbox::InboxArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(cpu) = cli.cpu
        && let Err(e) = sys::pin_to(cpu)
    {
        eprintln!("loadgen: {e:#}");
        return ExitCode::from(2);
    }
    let limit = sys::raise_nofile();
    let runtime = if cli.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cli.threads)
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            eprintln!("loadgen: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let target = Target {
        servers: cli.server.clone(),
        placement: cli.placement,
        admin_email: cli.admin_email.clone(),
        admin_password: cli.admin_password.clone(),
        sources: if cli.source_ips > 1 {
            loopback_sources(cli.source_ips)
        } else {
            Vec::new()
        },
    };
    let result = runtime.block_on(run(&cli, &target));
    match result {
        Ok(mut report) => {
            if limit > 0 {
                report.figure("open-file limit (loadgen)", limit as f64, "");
            }
            if cli.json {
                match serde_json::to_string_pretty(&report) {
                    Ok(s) => println!("{s}"),
                    Err(e) => eprintln!("loadgen: {e}"),
                }
            } else {
                print!("{}", report.table());
            }
            if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("loadgen: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: &Cli, target: &Target) -> anyhow::Result<Report> {
    let pid = cli.server_pid.as_slice();
    let seed = cli.seed;
    match &cli.scenario {
        Scenario::Steady(a) => steady::run(target, a, pid, seed).await,
        Scenario::Ramp(a) => ramp::run(target, a, pid, seed).await,
        Scenario::Fanout(a) => fanout::run(target, a, pid, seed).await,
        Scenario::Idle(a) => idle::run(target, a, pid).await,
        Scenario::Reconnect(a) => reconnect::run(target, a, pid, seed).await,
        Scenario::Assign(a) => assign::run(target, a, pid, seed).await,
        Scenario::Backlog(a) => backlog::run(target, a, pid).await,
        Scenario::Inbox(a) => inbox::run(target, a, pid, seed).await,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("loadgen").chain(args.iter().copied())).expect("parses")
    }

    #[test]
    fn several_servers_and_pids_may_be_given_comma_separated_or_repeated() {
        let a = parse(&[
            "--server",
            "http://127.0.0.1:1,http://127.0.0.1:2",
            "--server-pid",
            "11,12",
            "steady",
        ]);
        let b = parse(&[
            "assign",
            "--server",
            "http://127.0.0.1:1",
            "--server",
            "http://127.0.0.1:2",
            "--server-pid",
            "11",
            "--server-pid",
            "12",
            "--placement",
            "split",
        ]);
        for c in [&a, &b] {
            assert_eq!(c.server, vec!["http://127.0.0.1:1", "http://127.0.0.1:2"]);
            assert_eq!(c.server_pid, vec![11, 12]);
        }
        assert_eq!(a.placement, Placement::RoundRobin);
        assert_eq!(b.placement, Placement::Split);
    }

    #[test]
    fn one_server_and_no_pid_is_the_default() {
        let c = parse(&["steady"]);
        assert_eq!(c.server.len(), 1);
        assert!(c.server_pid.is_empty());
        assert!(Cli::try_parse_from(["loadgen", "--placement", "nearest", "steady"]).is_err());
    }
}
