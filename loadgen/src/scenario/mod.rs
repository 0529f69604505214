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

/// Waits until `intended`. Tokio's timer wakes on whole milliseconds (late),
/// so the last millisecond is spent yielding to the other tasks instead:
/// sends then leave within microseconds of their intended time, and the
/// readers keep running meanwhile.
pub async fn pace_until(intended: Instant) {
    let coarse = intended.checked_sub(Duration::from_millis(1));
    if let Some(c) = coarse
        && c > Instant::now()
    {
        tokio::time::sleep_until(c.into()).await;
    }
    while Instant::now() < intended {
        tokio::task::yield_now().await;
    }
}

/// CPU and memory of the server (when its pid is known) and of the
/// generator, before a measured phase.
pub struct Probe {
    server_pid: Option<u32>,
    server: Option<ProcSample>,
    me: Option<ProcSample>,
    at: Instant,
}

impl Probe {
    /// Samples both processes now.
    pub fn start(server_pid: Option<u32>) -> Probe {
        Probe {
            server_pid,
            server: server_pid.and_then(|p| sys::sample(Some(p)).ok()),
            me: sys::sample(None).ok(),
            at: Instant::now(),
        }
    }

    /// Adds CPU use since `start` (and CPU-seconds per 1,000 `units` when
    /// given) and the server's resident memory to `report`.
    pub fn finish(&self, report: &mut Report, units: Option<(u64, &str)>) {
        let wall = self.at.elapsed().as_secs_f64().max(1e-9);
        if let (Some(pid), Some(before)) = (self.server_pid, self.server)
            && let Ok(after) = sys::sample(Some(pid))
        {
            let cpu = after.cpu.saturating_sub(before.cpu).as_secs_f64();
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
            report.figure("server rss", after.rss_kib as f64 / 1024.0, "MiB");
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
