//! `presence.set` bursts: frames of one socket are processed in the order
//! they were sent (protocol §1), so the answers come back in that order and
//! the status left stored, and seen last by the team's queue, is the last
//! one asked for — never an earlier one whose write happened to finish late.

use std::time::Duration;

use serde_json::{Value, json};

use crate::on_both;
use crate::routing::{online, team};
use crate::ws_client::{WAIT, Ws};

/// Frames per burst.
const BURST: usize = 30;

/// Statuses cycled through; each round starts one further, so the rounds
/// end in different statuses and the last two frames of a burst differ.
const STATUSES: [&str; 3] = ["online", "away", "offline"];

/// How long the queue's watcher must stay quiet before its view counts as
/// settled.
const QUIET: Duration = Duration::from_millis(300);

/// Reads `sup`'s frames until no frame came for [`QUIET`] and the last
/// `presence` of `agent` shows `status`; fails if that does not happen
/// within [`WAIT`].
async fn queue_settles_on(sup: &mut Ws, agent: i64, status: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut last: Option<String> = None;
    loop {
        match tokio::time::timeout(QUIET, sup.next_frame()).await {
            Ok(Some(f)) => {
                if f["type"] == "presence" && f["agent_id"] == agent {
                    last = f["status"].as_str().map(str::to_owned);
                }
            }
            Ok(None) => panic!("the supervisor's socket ended"),
            Err(_) if last.as_deref() == Some(status) => return,
            Err(_) => {}
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the queue's last presence of agent {agent} is {last:?}, not {status}"
        );
    }
}

on_both! {
    async fn a_burst_of_presence_set_is_answered_and_stored_in_order(app) {
        let admin = app.admin_token().await;
        let t = team(&app, &admin, json!({"name": "Support", "auto_assign": false})).await;
        let agent = app
            .create_user(&admin, "agent", json!({"team_ids": [t]}))
            .await;
        online(&app, &agent).await;
        let mut sup = Ws::agent(&app, &admin).await;
        sup.send(json!({"type": "queue.watch", "team_id": t})).await;
        sup.recv_type("queue.snapshot").await;
        let mut ws = Ws::agent(&app, &agent.token).await;

        for round in 0..5 {
            let sent: Vec<(String, &str)> = (0..BURST)
                .map(|i| (format!("r{round}-{i}"), STATUSES[(i + round) % STATUSES.len()]))
                .collect();
            // All sent before any answer is read, so the server has them
            // all in hand at once.
            for (r, status) in &sent {
                ws.send(json!({"type": "presence.set", "ref": r, "status": status}))
                    .await;
            }
            for (r, status) in &sent {
                let answer = ws.recv_answer().await;
                assert_eq!(answer["type"], "ok", "round {round}, {status}: {answer}");
                assert_eq!(answer["ref"], r.as_str(), "round {round}: answers out of order");
            }

            let (_, last) = sent[BURST - 1];
            let me: Value = app.get("/api/v1/me", &agent.token).await.json().await.unwrap();
            assert_eq!(
                me["status"], last,
                "round {round}: stored status is not the last one sent"
            );
            queue_settles_on(&mut sup, agent.id, last).await;
        }
    }
}
