//! Agents who are gone without a socket closing: a user deactivated while
//! it holds conversations but has no open socket loses them to the queue at
//! once (through the conversation actors, so another free agent gets them),
//! not only when a socket of it closes.
//!
//! The set-ups use a team with auto-assign on (the default), so a requeued
//! conversation goes straight to the free agent; `requeue_after_s` is long
//! (600 s), so only the deactivation can requeue within the test.
//!
//! After a restart of a single node (SQLite, no Redis), agents stored
//! present whose sockets died with the old process are treated as if their
//! last socket had just closed: `offline` after the grace period, their
//! conversations requeued after `requeue_after_s`, unless they reconnect
//! first. The old process is stood in for by a first app in which the
//! agent never had a socket (so no timer of it runs there); a second app
//! then starts on the same data directory.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both_with;
use crate::realtime::widget_session;
use crate::routing::{conversation, eventually, loads, online, team};
use crate::ws_client::Ws;

/// A team (auto-assign on), agent `a` holding two conversations accepted
/// over REST with no socket left open, and agent `b` online and free with
/// its socket (returned) open.
async fn holder_without_socket(app: &TestApp, admin: &str) -> (TestUser, TestUser, Ws, [i64; 2]) {
    let t = team(app, admin, json!({"name": "Support"})).await;
    let a = app
        .create_user(admin, "agent", json!({"team_ids": [t], "capacity": 2}))
        .await;
    // Nobody is online yet: both conversations wait in the queue.
    let (c1, _) = widget_session(app, json!({})).await;
    let (c2, _) = widget_session(app, json!({})).await;
    let ws = Ws::agent(app, &a.token).await;
    accept_over_rest(app, &a, [c1, c2]).await;
    drop(ws);
    let b = app
        .create_user(admin, "agent", json!({"team_ids": [t], "capacity": 2}))
        .await;
    let wb = Ws::agent(app, &b.token).await;
    online(app, &b).await;
    for c in [c1, c2] {
        let now = eventually(app, admin, c, "still a's", |x| x["state"] == "assigned").await;
        assert_eq!(now["assignee_id"], a.id, "{now}");
    }
    (a, b, wb, [c1, c2])
}

/// Both conversations end assigned to `b`, none to `a`.
async fn both_go_to(app: &TestApp, admin: &str, a: &TestUser, b: &TestUser, cs: [i64; 2]) {
    for c in cs {
        let now: Value = eventually(app, admin, c, "given to the free agent", |x| {
            x["state"] == "assigned" && x["assignee_id"] == b.id
        })
        .await;
        assert_ne!(now["assignee_id"], a.id);
    }
    // Nothing is left assigned to the deactivated user.
    assert_eq!(loads(app).await, vec![(b.id, 2)]);
}

on_both_with! { |s| {
        s.realtime.requeue_after_s = 600;
    };
    async fn deactivating_an_agent_without_a_socket_requeues_its_conversations(app) {
        let admin = app.admin_token().await;
        let (a, b, _wb, cs) = holder_without_socket(&app, &admin).await;
        let res = app
            .post(&format!("/api/v1/users/{}/deactivate", a.id), &admin, json!({}))
            .await;
        assert_eq!(res.status(), 200);
        both_go_to(&app, &admin, &a, &b, cs).await;
    }

    async fn patching_an_agent_inactive_without_a_socket_requeues_its_conversations(app) {
        let admin = app.admin_token().await;
        let (a, b, _wb, cs) = holder_without_socket(&app, &admin).await;
        let res = app
            .patch(&format!("/api/v1/users/{}", a.id), &admin, json!({"active": false}))
            .await;
        assert_eq!(res.status(), 200);
        both_go_to(&app, &admin, &a, &b, cs).await;
    }
}

/// `agent` accepts each of `conversations` over REST.
async fn accept_over_rest(app: &TestApp, agent: &TestUser, conversations: [i64; 2]) {
    for c in conversations {
        let res = app
            .post(
                &format!("/api/v1/conversations/{c}/accept"),
                &agent.token,
                json!({}),
            )
            .await;
        assert_eq!(res.status(), 200, "accept {c}");
    }
}

/// Grace 1 s, requeue 2 s: the agent is offline before anything is requeued.
fn short_timers(s: &mut switchboard::config::Settings) {
    s.realtime.presence_grace_s = 1;
    s.realtime.requeue_after_s = 2;
}

/// A second app on `first`'s data directory (and so its SQLite database and
/// token secret), as after a restart.
async fn restarted(first: &TestApp) -> TestApp {
    let mut settings = test_settings(first.data_dir.path(), None);
    short_timers(&mut settings);
    // The data directory stays `first`'s; this one only keeps the field.
    run_app(settings, tempfile::tempdir().expect("temp dir")).await
}

/// In the "old process": a team without auto-assign and an agent stored
/// `online` holding two conversations, which never had a socket there.
async fn present_before_restart(app: &TestApp, admin: &str) -> (TestUser, [i64; 2]) {
    let t = team(app, admin, json!({"name": "Support", "auto_assign": false})).await;
    let a = app
        .create_user(admin, "agent", json!({"team_ids": [t], "capacity": 2}))
        .await;
    online(app, &a).await;
    let (c1, _) = widget_session(app, json!({})).await;
    let (c2, _) = widget_session(app, json!({})).await;
    accept_over_rest(app, &a, [c1, c2]).await;
    (a, [c1, c2])
}

async fn status_of(app: &TestApp, admin: &str, user: i64) -> Value {
    let res = app.get(&format!("/api/v1/users/{user}"), admin).await;
    assert_eq!(res.status(), 200);
    res.json::<Value>().await.unwrap()["status"].clone()
}

#[actix_web::test]
async fn after_a_restart_an_agent_stored_online_without_a_socket_goes_offline_and_loses_its_conversations()
 {
    let first = spawn_app_with(Backend::Sqlite, short_timers)
        .await
        .expect("sqlite app");
    let admin = first.admin_token().await;
    let (a, cs) = present_before_restart(&first, &admin).await;
    // Nothing in the first app ends this: the agent never had a socket.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(status_of(&first, &admin, a.id).await, "online");
    let app = restarted(&first).await;
    let admin = app.admin_token().await;
    let mut offline = false;
    for _ in 0..60 {
        if status_of(&app, &admin, a.id).await == "offline" {
            offline = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(offline, "the agent stayed present after the restart");
    for c in cs {
        let back = eventually(&app, &admin, c, "requeued", |x| x["state"] == "queued").await;
        assert!(back["assignee_id"].is_null(), "{back}");
    }
    let _ = app.db.clone().close().await;
    first.finish().await;
}

#[actix_web::test]
async fn after_a_restart_an_agent_who_reconnects_within_the_grace_period_keeps_its_conversations() {
    let first = spawn_app_with(Backend::Sqlite, short_timers)
        .await
        .expect("sqlite app");
    let admin = first.admin_token().await;
    let (a, cs) = present_before_restart(&first, &admin).await;
    let app = restarted(&first).await;
    let _ws = Ws::agent(&app, &a.token).await;
    // Past both timers.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let admin = app.admin_token().await;
    assert_eq!(status_of(&app, &admin, a.id).await, "online");
    for c in cs {
        let now = conversation(&app, &admin, c).await;
        assert_eq!(now["state"], "assigned", "{now}");
        assert_eq!(now["assignee_id"], a.id, "{now}");
    }
    let _ = app.db.clone().close().await;
    first.finish().await;
}
