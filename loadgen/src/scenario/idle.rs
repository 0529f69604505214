//! `idle`: opens N sockets that only answer pings, and reports the server's
//! resident memory per connection (needs `--server-pid`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::Args;
use futures_util::{StreamExt, TryStreamExt};
use serde::Serialize;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{self, Audience};
use crate::fixture::{Fixture, Target};
use crate::stats::{Latencies, Report};
use crate::sys;

/// Options of `idle`.
#[derive(Debug, Clone, Args, Serialize)]
pub struct IdleArgs {
    /// Sockets to open.
    #[arg(long, default_value_t = 1000)]
    pub sockets: usize,
    /// Whose sockets: widget customers (one conversation each) or staff (one
    /// agent, many sockets).
    #[arg(long, value_enum, default_value_t = Kind::Customer)]
    pub kind: Kind,
    /// Seconds to hold them open after the last one connected (the server
    /// pings every 10 s by default; a socket that misses pongs is dropped).
    #[arg(long, default_value_t = 30.0)]
    pub hold_s: f64,
    /// Sockets being opened at once.
    #[arg(long, default_value_t = 64)]
    pub connect_concurrency: usize,
    /// Widget sessions created at once.
    #[arg(long, default_value_t = 16)]
    pub setup_concurrency: usize,
}

/// `--kind`.
#[derive(Debug, Clone, Copy, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// `/ws/v1/customer`.
    Customer,
    /// `/ws/v1/agent`.
    Staff,
}

/// Runs `idle`.
pub async fn run(target: &Target, args: &IdleArgs, server_pids: &[u32]) -> anyhow::Result<Report> {
    if server_pids.is_empty() {
        bail!("idle measures the server's memory: pass --server-pid");
    }
    let fixture = Fixture::new(target, false).await?;
    let tokens: Vec<String> = match args.kind {
        Kind::Customer => fixture
            .visitors(args.sockets, args.setup_concurrency)
            .await?
            .into_iter()
            .map(|v| v.token)
            .collect(),
        Kind::Staff => {
            let staff = fixture.staff(1, "agent", 1).await?;
            let token = staff.first().map(|s| s.token.clone()).unwrap_or_default();
            vec![token; args.sockets]
        }
    };
    // Let the setup's allocations settle before the baseline.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = sys::sample_sum(server_pids)?;
    let ended = Arc::new(AtomicU64::new(0));
    let mut connect = Latencies::default();
    let started = Instant::now();
    let kind = args.kind;
    let opened: Vec<(tokio::task::JoinHandle<()>, Duration)> =
        futures_util::stream::iter(tokens.iter().enumerate())
            .map(|(i, t)| {
                let (fixture, ended) = (&fixture, ended.clone());
                async move {
                    let (who, api) = match kind {
                        Kind::Customer => (Audience::Customer(t), fixture.customer_api(i)),
                        Kind::Staff => (Audience::Staff(t), fixture.staff_api(i)),
                    };
                    let t0 = Instant::now();
                    let s = client::connect(api, who, fixture.source(i)).await?;
                    let took = t0.elapsed();
                    let mut stream = s.stream;
                    // Keep the write half alive: dropping it would not close the
                    // socket, but keeping it makes the intent plain.
                    let sink = s.sink;
                    let task = tokio::spawn(async move {
                        let _sink = sink;
                        // Reading answers the server's pings (tungstenite queues
                        // the pong and flushes it on the next read).
                        while let Some(Ok(m)) = stream.next().await {
                            if matches!(m, Message::Close(_)) {
                                break;
                            }
                        }
                        ended.fetch_add(1, Ordering::Relaxed);
                    });
                    anyhow::Ok((task, took))
                }
            })
            .buffer_unordered(args.connect_concurrency.max(1))
            .try_collect()
            .await?;
    let open_s = started.elapsed().as_secs_f64();
    for (_, took) in &opened {
        connect.record("connect (tcp + upgrade + hello)", *took);
    }
    let at_open = sys::sample_sum(server_pids)?;
    tokio::time::sleep(Duration::from_secs_f64(args.hold_s)).await;
    let after = sys::sample_sum(server_pids)?;
    let n = opened.len() as f64;
    let mut report = Report::new("idle", serde_json::to_value(args)?);
    report.latencies = connect.rows();
    report.figure("sockets open", n, "");
    report.figure("open rate", n / open_s.max(1e-9), "sockets/s");
    report.figure("server rss before", before.rss_kib as f64 / 1024.0, "MiB");
    report.figure(
        "server rss all open",
        at_open.rss_kib as f64 / 1024.0,
        "MiB",
    );
    report.figure(
        "server rss after hold",
        after.rss_kib as f64 / 1024.0,
        "MiB",
    );
    let per = (after.rss_kib as f64 - before.rss_kib as f64) / n.max(1.0);
    report.figure("server rss per connection", per, "KiB");
    let cpu_hold = after.cpu.saturating_sub(at_open.cpu).as_secs_f64();
    report.figure(
        "server cpu while idle",
        100.0 * cpu_hold / args.hold_s.max(1e-9),
        "% of one core",
    );
    let gone = ended.load(Ordering::Relaxed);
    if gone > 0 {
        report
            .failures
            .push(format!("{gone} idle sockets were closed by the server"));
    }
    for (t, _) in opened {
        t.abort();
    }
    Ok(report)
}
