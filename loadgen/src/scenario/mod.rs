//! The scenarios, one file each, and what they share: pacing the sends of
//! an open-loop schedule, and sampling the server process.

pub mod assign;
pub mod backlog;
pub mod fanout;
pub mod idle;
pub mod inbox;
pub mod ramp;
pub mod reconnect;
pub mod steady;
pub mod world;

use std::time::{Duration, Instant};

use crate::stats::Report;
use crate::sys::{self, ProcSample};

/// Below this, the rest of a wait is spent yielding to the other tasks
/// rather than arming the timer: about the kernel's default timer slack
/// (50 µs), within which a timer would not wake any sooner.
const SPIN: Duration = Duration::from_micros(50);

/// Waits until each intended send time of an open-loop schedule.
///
/// Tokio's timer wakes on whole milliseconds, so on it alone a send leaves
/// up to a millisecond late, and that lateness is counted into every
/// latency (measured from the intended time). A timerfd wakes within tens
/// of microseconds instead; the last [`SPIN`] is spent yielding, so the
/// readers keep running meanwhile. Where no timerfd can be made, the
/// millisecond timer wakes a millisecond early and the rest is yielded (the
/// send lag in every report shows which held).
pub struct Pacer {
    timer: Option<tokio_timerfd::Delay>,
}

impl Pacer {
    /// A pacer on a timerfd, or on tokio's timer if there is none.
    pub fn new() -> Pacer {
        let timer = match tokio_timerfd::Delay::new(Instant::now()) {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("loadgen: no timerfd ({e}); sends are paced to about a millisecond");
                None
            }
        };
        Pacer { timer }
    }

    /// Returns at `intended` (at once if it has passed).
    pub async fn until(&mut self, intended: Instant) {
        if let Some(wake) = intended.checked_sub(SPIN)
            && wake > Instant::now()
        {
            let armed = match self.timer.as_mut() {
                Some(t) => {
                    t.reset(wake);
                    t.await.is_ok()
                }
                None => false,
            };
            if !armed && let Some(coarse) = intended.checked_sub(Duration::from_millis(1)) {
                tokio::time::sleep_until(coarse.into()).await;
            }
        }
        while Instant::now() < intended {
            tokio::task::yield_now().await;
        }
    }
}

impl Default for Pacer {
    fn default() -> Self {
        Pacer::new()
    }
}

/// CPU and memory of the server (every node of it, when their pids are
/// known) and of the generator, before a measured phase.
pub struct Probe {
    server_pids: Vec<u32>,
    server: Vec<Option<ProcSample>>,
    me: Option<ProcSample>,
    at: Instant,
}

impl Probe {
    /// Samples the server's processes and this one now.
    pub fn start(server_pids: &[u32]) -> Probe {
        Probe {
            server_pids: server_pids.to_vec(),
            server: server_pids
                .iter()
                .map(|p| sys::sample(Some(*p)).ok())
                .collect(),
            me: sys::sample(None).ok(),
            at: Instant::now(),
        }
    }

    /// Adds CPU use since `start` (and CPU-seconds per 1,000 `units` when
    /// given) and the server's resident memory to `report`: summed over the
    /// nodes, and per node when there are several.
    pub fn finish(&self, report: &mut Report, units: Option<(u64, &str)>) {
        let wall = self.at.elapsed().as_secs_f64().max(1e-9);
        let mut pairs = Vec::new();
        for (pid, before) in self.server_pids.iter().zip(&self.server) {
            match (before, sys::sample(Some(*pid))) {
                (Some(b), Ok(a)) => pairs.push((*b, a)),
                _ => report
                    .notes
                    .push(format!("server process {pid} could not be sampled")),
            }
        }
        if !pairs.is_empty() && pairs.len() == self.server_pids.len() {
            server_figures(report, &pairs, wall, units);
        }
        if let Some(before) = self.me
            && let Ok(after) = sys::sample(None)
        {
            let cpu = after.cpu.saturating_sub(before.cpu).as_secs_f64();
            let share = 100.0 * cpu / wall;
            report.figure("loadgen cpu utilisation", share, "% of one core");
            if share > 90.0 {
                report.notes.push(format!(
                    "the generator used {share:.0}% of a core: with --threads 1 it may be the bottleneck"
                ));
            }
        }
    }
}

/// The server figures from (before, after) samples of each node over `wall`
/// seconds: CPU and RSS summed over the nodes under the single-server names,
/// then, with several nodes, utilisation and RSS of each.
pub fn server_figures(
    report: &mut Report,
    nodes: &[(ProcSample, ProcSample)],
    wall: f64,
    units: Option<(u64, &str)>,
) {
    let cpus: Vec<f64> = nodes
        .iter()
        .map(|(b, a)| a.cpu.saturating_sub(b.cpu).as_secs_f64())
        .collect();
    let cpu: f64 = cpus.iter().sum();
    let rss: u64 = nodes.iter().map(|(_, a)| a.rss_kib).sum();
    report.figure("server cpu", cpu, "s");
    report.figure(
        "server cpu utilisation",
        100.0 * cpu / wall,
        "% of one core",
    );
    if let Some((n, what)) = units
        && n > 0
    {
        let name = format!("server cpu per 1000 {what}");
        report.figure(&name, cpu * 1000.0 / n as f64, "s");
    }
    report.figure("server rss", rss as f64 / 1024.0, "MiB");
    if nodes.len() > 1 {
        for (i, ((_, a), c)) in nodes.iter().zip(&cpus).enumerate() {
            report.figure(
                &format!("server cpu utilisation node {i}"),
                100.0 * c / wall,
                "% of one core",
            );
            report.figure(
                &format!("server rss node {i}"),
                a.rss_kib as f64 / 1024.0,
                "MiB",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(cpu_ms: u64, rss_kib: u64) -> ProcSample {
        ProcSample {
            rss_kib,
            cpu: Duration::from_millis(cpu_ms),
        }
    }

    fn value(r: &Report, name: &str) -> Option<f64> {
        r.figures.iter().find(|f| f.name == name).map(|f| f.value)
    }

    #[test]
    fn one_node_reports_the_single_server_figures_only() {
        let mut r = Report::new("t", serde_json::json!({}));
        server_figures(
            &mut r,
            &[(sample(1000, 0), sample(1500, 2048))],
            2.0,
            Some((1000, "messages")),
        );
        assert_eq!(value(&r, "server cpu"), Some(0.5));
        assert_eq!(value(&r, "server cpu utilisation"), Some(25.0));
        assert_eq!(value(&r, "server cpu per 1000 messages"), Some(0.5));
        assert_eq!(value(&r, "server rss"), Some(2.0));
        assert!(value(&r, "server rss node 0").is_none());
    }

    #[test]
    fn several_nodes_are_summed_and_reported_one_by_one() {
        let mut r = Report::new("t", serde_json::json!({}));
        let nodes = [
            (sample(0, 0), sample(1000, 1024)),
            (sample(500, 0), sample(2500, 3072)),
        ];
        server_figures(&mut r, &nodes, 4.0, None);
        assert_eq!(value(&r, "server cpu"), Some(3.0));
        assert_eq!(value(&r, "server cpu utilisation"), Some(75.0));
        assert_eq!(value(&r, "server rss"), Some(4.0));
        assert_eq!(value(&r, "server cpu utilisation node 0"), Some(25.0));
        assert_eq!(value(&r, "server cpu utilisation node 1"), Some(50.0));
        assert_eq!(value(&r, "server rss node 1"), Some(3.0));
        assert!(value(&r, "server cpu per 1000 messages").is_none());
    }
}
