//! Work conservation after an admin's changes (invariant 5), and the
//! public routes' flood limits.
//!
//! Each conservation test starts with a conversation waiting that no
//! online agent can take, makes ONE change that gives an agent room for
//! it, and checks that the conversation goes to that agent and that the
//! agent's socket is told. The queue's one-second tick re-plans from its
//! in-memory view only (no store read), so a change the queue was not told
//! about would leave the conversation waiting: these tests would fail.

use std::path::Path;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both;
use crate::realtime::widget_session;
use crate::routing::{conversation, eventually, loads, online, team};
use crate::ws_client::{Ended, Ws};

/// How long a conversation is watched to prove it waits.
const STILL: Duration = Duration::from_millis(400);

/// The `conversation.assigned` frame for `id` on `ws` (assignments of
/// other conversations are skipped, at most a few).
async fn assigned_frame(ws: &mut Ws, id: i64) -> Value {
    let mut seen = Vec::new();
    for _ in 0..5 {
        let f = ws.recv_type("conversation.assigned").await;
        if f["conversation"]["id"] == id {
            return f;
        }
        seen.push(f["conversation"]["id"].clone());
    }
    panic!("no conversation.assigned for {id}; got it for {seen:?}");
}

/// Asserts `id` is still waiting after a while (nobody can take it).
async fn still_waiting(app: &TestApp, admin: &str, id: i64, why: &str) {
    tokio::time::sleep(STILL).await;
    let c = conversation(app, admin, id).await;
    assert_eq!(c["state"], "queued", "{why}: {c}");
    assert!(c["assignee_id"].is_null(), "{why}: {c}");
}

on_both! {
    async fn raising_a_full_agents_capacity_assigns_the_waiting_conversation_to_it(app) {
        let admin = app.admin_token().await;
        let t = team(&app, &admin, json!({"name": "Support"})).await;
        let a = app.create_user(&admin, "agent", json!({"team_ids": [t], "capacity": 1})).await;
        let mut wa = Ws::agent(&app, &a.token).await;
        online(&app, &a).await;
        let (c1, _) = widget_session(&app, json!({})).await;
        eventually(&app, &admin, c1, "assigned", |c| c["assignee_id"] == a.id).await;
        assigned_frame(&mut wa, c1).await;
        let (c2, _) = widget_session(&app, json!({})).await;
        still_waiting(&app, &admin, c2, "the only agent is full").await;
        wa.expect_no("conversation.assigned", Duration::from_millis(100)).await;

        let res = app.patch(&format!("/api/v1/users/{}", a.id), &admin, json!({"capacity": 2})).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.json::<Value>().await.unwrap()["capacity"], 2);

        let c = eventually(&app, &admin, c2, "assigned to the agent", |c| c["state"] == "assigned").await;
        assert_eq!(c["assignee_id"], a.id);
        let f = assigned_frame(&mut wa, c2).await;
        assert_eq!(f["conversation"]["assignee_id"], a.id);
        assert_eq!(loads(&app).await, vec![(a.id, 2)], "exactly the new capacity");
    }

    async fn granting_the_required_skill_assigns_the_waiting_conversation(app) {
        let admin = app.admin_token().await;
        let t = team(&app, &admin, json!({"name": "Support"})).await;
        let res = app.post("/api/v1/routing-rules", &admin, json!({
            "name": "German", "conditions": {"language": "de"}, "team_id": t,
            "required_skills": {"language:de": 2}
        })).await;
        assert_eq!(res.status(), 201);
        // Online with room, but below the level the conversation needs.
        let a = app.create_user(&admin, "agent", json!({
            "team_ids": [t], "capacity": 2, "skills": {"language:de": 1}
        })).await;
        let mut wa = Ws::agent(&app, &a.token).await;
        online(&app, &a).await;
        let (c, _) = widget_session(&app, json!({"language": "de"})).await;
        still_waiting(&app, &admin, c, "level 1 < 2").await;

        let res = app.put(&format!("/api/v1/users/{}/skills", a.id), &admin,
            json!({"skills": {"language:de": 2}})).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.json::<Value>().await.unwrap()["skills"]["language:de"], 2);

        let got = eventually(&app, &admin, c, "assigned", |c| c["state"] == "assigned").await;
        assert_eq!(got["assignee_id"], a.id);
        let f = assigned_frame(&mut wa, c).await;
        assert_eq!(f["conversation"]["assignee_id"], a.id);
    }

    async fn adding_an_online_agent_to_the_conversations_team_assigns_it(app) {
        an_agent_joining_the_team_takes_the_waiting_conversation(&app, Join::TeamMembers).await;
    }

    async fn setting_an_online_agents_teams_to_the_conversations_team_assigns_it(app) {
        an_agent_joining_the_team_takes_the_waiting_conversation(&app, Join::UserTeams).await;
    }

    async fn deleting_the_skill_a_conversation_waits_for_lets_a_free_agent_take_it(app) {
        // The requirement goes with the skill (conversation_skills cascade),
        // so by the store the online agent with room is now eligible.
        let admin = app.admin_token().await;
        let t = team(&app, &admin, json!({"name": "Support"})).await;
        let res = app.post("/api/v1/routing-rules", &admin, json!({
            "name": "Klingon", "conditions": {"language": "tlh"}, "team_id": t,
            "required_skills": {"language:tlh": 2}
        })).await;
        assert_eq!(res.status(), 201);
        let a = app.create_user(&admin, "agent", json!({"team_ids": [t], "capacity": 2})).await;
        let mut wa = Ws::agent(&app, &a.token).await;
        online(&app, &a).await;
        let (c, _) = widget_session(&app, json!({"language": "tlh"})).await;
        still_waiting(&app, &admin, c, "nobody speaks Klingon").await;
        let skills: Value = app.get("/api/v1/skills", &admin).await.json().await.unwrap();
        let skill = skills["items"].as_array().unwrap().iter()
            .find(|s| s["name"] == "language:tlh").expect("the rule's skill is in the catalogue")["id"].clone();

        assert_eq!(app.delete(&format!("/api/v1/skills/{skill}"), &admin).await.status(), 204);
        assert_eq!(app.count("conversation_skills").await, 0, "the requirement went with the skill");

        let got = eventually(&app, &admin, c, "assigned", |c| c["state"] == "assigned").await;
        assert_eq!(got["assignee_id"], a.id);
        assert_eq!(assigned_frame(&mut wa, c).await["conversation"]["assignee_id"], a.id);
    }

    async fn a_transfer_to_another_team_frees_the_agent_for_the_next_waiting_conversation(app) {
        // The agent is in Sales and Billing with one slot, holding a Sales
        // conversation; a Billing one waits. Transferring the Sales one to
        // a third team (nobody there) frees the slot: Billing's queue must
        // use it at once.
        let admin = app.admin_token().await;
        let sales = team(&app, &admin, json!({"name": "Sales"})).await;
        let billing = team(&app, &admin, json!({"name": "Billing"})).await;
        let escalations = team(&app, &admin, json!({"name": "Escalations"})).await;
        let a = app.create_user(&admin, "agent", json!({"team_ids": [sales, billing], "capacity": 1})).await;
        let mut wa = Ws::agent(&app, &a.token).await;
        online(&app, &a).await;
        let (s, _) = widget_session(&app, json!({"issue_type": "Sales"})).await;
        eventually(&app, &admin, s, "assigned", |c| c["assignee_id"] == a.id).await;
        assigned_frame(&mut wa, s).await;
        let (b, _) = widget_session(&app, json!({"issue_type": "Billing"})).await;
        assert_eq!(conversation(&app, &admin, b).await["team_id"], billing);
        still_waiting(&app, &admin, b, "the agent is full").await;

        let res = app.post(&format!("/api/v1/conversations/{s}/transfer"), &a.token,
            json!({"team_id": escalations, "note": "needs a specialist"})).await;
        assert_eq!(res.status(), 200);
        let moved: Value = res.json().await.unwrap();
        assert_eq!((moved["state"].clone(), moved["team_id"].clone()), (json!("queued"), json!(escalations)));

        let got = eventually(&app, &admin, b, "assigned", |c| c["state"] == "assigned").await;
        assert_eq!(got["assignee_id"], a.id);
        let f = assigned_frame(&mut wa, b).await;
        assert_eq!(f["conversation"]["assignee_id"], a.id);
        assert_eq!(loads(&app).await, vec![(a.id, 1)]);
        assert_eq!(conversation(&app, &admin, s).await["state"], "queued", "nobody in Escalations");
    }

    async fn a_transfer_to_another_agent_frees_the_holder_for_the_next_waiting_conversation(app) {
        let admin = app.admin_token().await;
        let t = team(&app, &admin, json!({"name": "Support", "auto_assign": false})).await;
        let a = app.create_user(&admin, "agent", json!({"team_ids": [t], "capacity": 1})).await;
        let colleague = app.create_user(&admin, "agent", json!({"capacity": 1})).await;
        let (held, _) = widget_session(&app, json!({})).await;
        let (waiting, _) = widget_session(&app, json!({})).await;
        let res = app.post(&format!("/api/v1/conversations/{held}/accept"), &a.token, json!({})).await;
        assert_eq!(res.status(), 200);
        let mut wa = Ws::agent(&app, &a.token).await;
        online(&app, &a).await;
        let res = app.patch(&format!("/api/v1/teams/{t}"), &admin, json!({"auto_assign": true})).await;
        assert_eq!(res.status(), 200);
        still_waiting(&app, &admin, waiting, "the only member is full").await;

        let res = app.post(&format!("/api/v1/conversations/{held}/transfer"), &a.token,
            json!({"agent_id": colleague.id})).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.json::<Value>().await.unwrap()["assignee_id"], colleague.id);

        let got = eventually(&app, &admin, waiting, "assigned", |c| c["state"] == "assigned").await;
        assert_eq!(got["assignee_id"], a.id);
        let f = assigned_frame(&mut wa, waiting).await;
        assert_eq!(f["conversation"]["assignee_id"], a.id);
        assert_eq!(loads(&app).await, vec![(a.id, 1), (colleague.id, 1)]);
    }

    async fn new_widget_sessions_past_the_per_ip_limit_get_429_and_create_nothing(app) {
        // The test profile keeps the default budget; read it so the test
        // follows the configuration.
        let n = test_settings(Path::new("."), None).limits.widget_sessions_per_ip_per_minute;
        assert!((1..=50).contains(&n), "a budget a test can spend: {n}");
        let (conversations, visitors) = (app.count("conversations").await, app.count("visitors").await);
        for i in 0..n {
            let res = app.send(Method::POST, "/api/v1/widget/sessions", None, Some(&json!({"name": format!("v{i}")}))).await;
            assert_eq!(res.status(), 201, "session {i} of {n}");
        }
        let res = app.send(Method::POST, "/api/v1/widget/sessions", None, Some(&json!({"name": "one too many"}))).await;
        let retry = res.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let p = assert_problem(res, 429, "rate_limited").await;
        let secs: u64 = retry.as_deref().and_then(|r| r.parse().ok())
            .unwrap_or_else(|| panic!("Retry-After in whole seconds: {retry:?} {p}"));
        assert!((1..=60).contains(&secs), "Retry-After {secs}");
        // Offline messages share the budget (docs/protocol.md §1.6 table).
        let res = app.send(Method::POST, "/api/v1/widget/offline-messages", None,
            Some(&json!({"email": "x@example.com", "text": "hi"}))).await;
        assert_problem(res, 429, "rate_limited").await;
        assert_eq!(app.count("conversations").await - conversations, i64::from(n));
        assert_eq!(app.count("visitors").await - visitors, i64::from(n));
    }
}

/// How an agent is added to a team.
#[derive(Debug, Clone, Copy)]
enum Join {
    /// `PUT /teams/{id}/members`.
    TeamMembers,
    /// `PUT /users/{id}/teams`.
    UserTeams,
}

/// An online agent with room, in another team, is added to the team where
/// a conversation waits (nobody else there): it gets the conversation.
async fn an_agent_joining_the_team_takes_the_waiting_conversation(app: &TestApp, how: Join) {
    let admin = app.admin_token().await;
    let support = team(app, &admin, json!({"name": "Support"})).await;
    let other = team(app, &admin, json!({"name": "Other"})).await;
    let a = app
        .create_user(&admin, "agent", json!({"team_ids": [other], "capacity": 2}))
        .await;
    let mut ws1 = Ws::agent(app, &a.token).await;
    online(app, &a).await;
    let (c, customer) = widget_session(app, json!({"issue_type": "Support"})).await;
    assert_eq!(conversation(app, &admin, c).await["team_id"], support);
    still_waiting(app, &admin, c, "the team has nobody").await;

    let res = match how {
        Join::TeamMembers => {
            app.put(
                &format!("/api/v1/teams/{support}/members"),
                &admin,
                json!({"user_ids": [a.id]}),
            )
            .await
        }
        Join::UserTeams => {
            app.put(
                &format!("/api/v1/users/{}/teams", a.id),
                &admin,
                json!({"team_ids": [other, support]}),
            )
            .await
        }
    };
    assert_eq!(res.status(), 200, "{how:?}");

    // The socket connected with the old teams is told to reconnect
    // (docs/protocol.md §1.7); it may or may not see the assignment first.
    let (frames, ended) = ws1.frames_until_end().await;
    assert_eq!(ended, Ended::Closed(Some(1012)), "{frames:?}");
    let mut ws2 = Ws::agent(app, &a.token).await;
    let queued_at_connect = conversation(app, &admin, c).await["state"] == "queued";
    let got = eventually(app, &admin, c, "assigned", |c| c["state"] == "assigned").await;
    assert_eq!(got["assignee_id"], a.id);
    if queued_at_connect {
        // Assigned while the new socket was open: it is told.
        let f = assigned_frame(&mut ws2, c).await;
        assert_eq!(f["conversation"]["assignee_id"], a.id);
    }
    // Either way the agent's socket follows the conversation now.
    let mut cust = Ws::customer(app, &customer).await;
    cust.say(None, "m1", "hello?").await;
    let m = ws2.recv_type("message.new").await;
    assert_eq!(m["message"]["conversation_id"], c, "{m}");
    assert_eq!(loads(app).await, vec![(a.id, 1)]);
}

#[actix_web::test]
async fn a_low_widget_session_limit_from_the_settings_is_applied() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.limits.widget_sessions_per_ip_per_minute = 2;
    })
    .await
    .unwrap();
    for i in 0..2 {
        let (id, _) = widget_session(&app, json!({"name": format!("v{i}")})).await;
        assert!(id > 0);
    }
    let res = app
        .send(
            Method::POST,
            "/api/v1/widget/sessions",
            None,
            Some(&json!({})),
        )
        .await;
    assert!(res.headers().contains_key("retry-after"));
    assert_problem(res, 429, "rate_limited").await;
    assert_eq!(app.count("conversations").await, 2);
    app.finish().await;
}
