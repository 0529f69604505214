//! `inbox`: one agent holds N conversations (seeded through the public API:
//! widget session, accept, close; the last few stay open), then the agent's
//! inbox (`GET /api/v1/conversations?assignee_id=me…`) is timed on a fixed
//! schedule, from the intended request time.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use futures_util::{StreamExt, TryStreamExt};
use reqwest::Method;
use serde::Serialize;
use serde_json::{Value, json};

use super::assign::lock;
use super::{Pacer, Probe};
use crate::fixture::{Fixture, PASSWORD, Target};
use crate::schedule::{Schedule, Spacing};
use crate::stats::{Latencies, Report};

/// Options of `inbox`.
#[derive(Debug, Clone, Args, Serialize)]
pub struct InboxArgs {
    /// Conversations to seed for the agent (all but `open` closed).
    #[arg(long, default_value_t = 1000)]
    pub conversations: usize,
    /// How many of them stay assigned (open); at most the capacity, 50.
    #[arg(long, default_value_t = 20)]
    pub open: usize,
    /// Reuse an agent seeded by an earlier run (its e-mail is in that run's
    /// notes) instead of seeding.
    #[arg(long)]
    pub agent_email: Option<String>,
    /// Requests per second while timing.
    #[arg(long, default_value_t = 20.0)]
    pub rate: f64,
    /// Requests per query.
    #[arg(long, default_value_t = 400)]
    pub requests: usize,
    /// Seeding calls in flight.
    #[arg(long, default_value_t = 8)]
    pub setup_concurrency: usize,
}

/// The inbox queries timed (the protocol's parameter is `assignee_id`;
/// `assignee` is an alias).
const QUERIES: [&str; 2] = [
    "/api/v1/conversations?assignee_id=me",
    "/api/v1/conversations?assignee_id=me&state=assigned",
];

/// Runs `inbox`.
pub async fn run(
    target: &Target,
    args: &InboxArgs,
    server_pids: &[u32],
    seed: u64,
) -> anyhow::Result<Report> {
    let fixture = Arc::new(Fixture::new(target, false).await?);
    let mut report = Report::new("inbox", serde_json::to_value(args)?);
    let agent = match &args.agent_email {
        Some(email) => fixture.api.login(email, PASSWORD).await?,
        None => {
            let agent = fixture
                .staff(1, "agent", 50)
                .await?
                .into_iter()
                .next()
                .context("no agent created")?;
            let open = args.open.min(50).min(args.conversations);
            let t0 = Instant::now();
            seed_inbox(
                &fixture,
                &agent.token,
                args.conversations,
                open,
                args.setup_concurrency,
            )
            .await?;
            let secs = t0.elapsed().as_secs_f64();
            report.figure(
                "seed rate",
                args.conversations as f64 / secs.max(1e-9),
                "conversations/s",
            );
            report.notes.push(format!(
                "seeded agent: {}-agent0@bench.invalid (reuse with --agent-email)",
                fixture.run
            ));
            agent
        }
    };
    let probe = Probe::start(server_pids);
    let lat = Arc::new(Mutex::new(Latencies::default()));
    let bad = Arc::new(Mutex::new(Vec::<String>::new()));
    for (q, path) in QUERIES.iter().enumerate() {
        let mut schedule = Schedule::new(Spacing::Fixed, args.rate, seed.wrapping_add(q as u64));
        let duration = Duration::from_secs_f64(args.requests as f64 / args.rate.max(1e-9));
        let start = Instant::now();
        let mut calls = Vec::new();
        let mut pacer = Pacer::new();
        while let Some(offset) = schedule.next_before(duration) {
            let intended = start + offset;
            pacer.until(intended).await;
            let (fixture, token, lat, bad) = (
                fixture.clone(),
                agent.token.clone(),
                lat.clone(),
                bad.clone(),
            );
            let agent_id = agent.id;
            calls.push(tokio::spawn(async move {
                match fixture
                    .staff_api(0)
                    .call(Method::GET, path, Some(&token), None)
                    .await
                {
                    Ok((200, v)) => {
                        lock(&lat).record(&format!("GET {path}"), intended.elapsed());
                        if let Some(why) = check_page(&v, agent_id) {
                            lock(&bad).push(why);
                        }
                    }
                    Ok((status, _)) => lock(&bad).push(format!("{path} answered {status}")),
                    Err(e) => lock(&bad).push(format!("{path}: {e:#}")),
                }
            }));
        }
        for c in calls {
            let _ = c.await;
        }
    }
    report.latencies = lock(&lat).rows();
    probe.finish(&mut report, None);
    let bad = lock(&bad);
    if !bad.is_empty() {
        report
            .failures
            .push(format!("{} bad answers (first: {})", bad.len(), bad[0]));
    }
    Ok(report)
}

/// Why a page is wrong: empty, or holding someone else's conversation.
fn check_page(v: &Value, agent_id: i64) -> Option<String> {
    let items = v["items"].as_array()?;
    if items.is_empty() {
        return Some("an empty inbox".to_string());
    }
    items
        .iter()
        .find(|c| c["assignee_id"].as_i64() != Some(agent_id))
        .map(|c| format!("conversation {} is not the agent's", c["id"]))
}

/// Gives the agent `n` conversations: each a widget session the agent
/// accepts, all but the last `open` closed again (capacity caps the open ones).
async fn seed_inbox(
    fixture: &Fixture,
    token: &str,
    n: usize,
    open: usize,
    concurrency: usize,
) -> anyhow::Result<()> {
    let closed = n - open;
    let one = |close: bool| async move {
        let v = fixture.api.widget_session(&fixture.team_name).await?;
        let id = v.conversation_id;
        fixture
            .api
            .ok(
                Method::POST,
                &format!("/api/v1/conversations/{id}/accept"),
                Some(token),
                None,
            )
            .await?;
        if close {
            fixture
                .api
                .ok(
                    Method::POST,
                    &format!("/api/v1/conversations/{id}/close"),
                    Some(token),
                    Some(&json!({})),
                )
                .await?;
        }
        anyhow::Ok(())
    };
    futures_util::stream::iter(0..closed)
        .map(|_| one(true))
        .buffer_unordered(concurrency.max(1))
        .try_collect::<Vec<()>>()
        .await?;
    // The open ones last, so they are the newest and the first page shows them.
    futures_util::stream::iter(0..open)
        .map(|_| one(false))
        .buffer_unordered(concurrency.max(1))
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_of_the_agents_own_conversations_passes_and_anything_else_is_named() {
        let ok = json!({"items": [{"id": 1, "assignee_id": 7}, {"id": 2, "assignee_id": 7}], "next_cursor": null});
        assert_eq!(check_page(&ok, 7), None);
        let other = json!({"items": [{"id": 1, "assignee_id": 7}, {"id": 2, "assignee_id": 8}]});
        assert_eq!(
            check_page(&other, 7),
            Some("conversation 2 is not the agent's".to_string())
        );
        assert_eq!(
            check_page(&json!({"items": []}), 7),
            Some("an empty inbox".to_string())
        );
    }
}
