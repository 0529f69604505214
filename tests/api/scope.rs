//! Object scope over REST and sockets: who may touch which conversation
//! (invariant 6), and capacity on the manual assignment paths (invariant 4).

use std::time::Duration;

use reqwest::Method;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both;
use crate::realtime::widget_session;
use crate::ws_client::Ws;

/// Two teams that take conversations by hand: A and a teammate in T1, an
/// agent and a supervisor of T2 only, and one conversation of T1 that A
/// holds, with a customer message, a note and the tag `vip`.
struct Fixture {
    admin: String,
    t1: i64,
    t2: i64,
    a: TestUser,
    mate: TestUser,
    outsider: TestUser,
    sup2: TestUser,
    conv: i64,
    visitor_token: String,
}

async fn manual_team(app: &TestApp, admin: &str, name: &str) -> i64 {
    let res = app
        .post(
            "/api/v1/teams",
            admin,
            json!({"name": name, "auto_assign": false}),
        )
        .await;
    assert_eq!(res.status(), 201);
    res.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
}

async fn fixture(app: &TestApp) -> Fixture {
    let admin = app.admin_token().await;
    let t1 = manual_team(app, &admin, "Support").await;
    let t2 = manual_team(app, &admin, "Elsewhere").await;
    let a = app
        .create_user(&admin, "agent", json!({"team_ids": [t1]}))
        .await;
    let mate = app
        .create_user(&admin, "agent", json!({"team_ids": [t1]}))
        .await;
    let outsider = app
        .create_user(&admin, "agent", json!({"team_ids": [t2]}))
        .await;
    let sup2 = app
        .create_user(&admin, "supervisor", json!({"team_ids": [t2]}))
        .await;
    let (conv, visitor_token) =
        widget_session(app, json!({"name": "Ana", "issue_type": "support"})).await;
    let res = app
        .post(
            &format!("/api/v1/conversations/{conv}/accept"),
            &a.token,
            json!({}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let mut customer = Ws::customer(app, &visitor_token).await;
    customer.say(None, "c1", "hello").await;
    let res = app
        .post(
            &format!("/api/v1/conversations/{conv}/notes"),
            &admin,
            json!({"text": "VIP"}),
        )
        .await;
    assert_eq!(res.status(), 201);
    for tag in ["vip", "urgent"] {
        let res = app.post("/api/v1/tags", &admin, json!({"name": tag})).await;
        assert_eq!(res.status(), 201);
    }
    let res = app
        .put(
            &format!("/api/v1/conversations/{conv}/tags"),
            &admin,
            json!({"tags": ["vip"]}),
        )
        .await;
    assert_eq!(res.status(), 200);
    Fixture {
        admin,
        t1,
        t2,
        a,
        mate,
        outsider,
        sup2,
        conv,
        visitor_token,
    }
}

/// (state, assignee, team, version) of a conversation, from the store.
async fn row(app: &TestApp, id: i64) -> (String, Option<i64>, Option<i64>, i64) {
    let r = app
        .db
        .query_one_raw(Statement::from_string(
            app.db.get_database_backend(),
            format!(
                "SELECT state, assignee_id, team_id, version FROM conversations WHERE id = {id}"
            ),
        ))
        .await
        .unwrap()
        .unwrap();
    (
        r.try_get("", "state").unwrap(),
        r.try_get("", "assignee_id").unwrap(),
        r.try_get("", "team_id").unwrap(),
        r.try_get("", "version").unwrap(),
    )
}

/// Everything a refused call must leave as it was: the admin's view of the
/// conversation, its row, and the rows that hang off it.
async fn state_of(app: &TestApp, admin: &str, id: i64) -> Value {
    let view: Value = app
        .get(&format!("/api/v1/conversations/{id}"), admin)
        .await
        .json()
        .await
        .unwrap();
    let (state, assignee, team, version) = row(app, id).await;
    json!({
        "view": view,
        "row": [state, assignee, team, version],
        "messages": app.count("messages").await,
        "notes": app.count("notes").await,
        "conversation_tags": app.count("conversation_tags").await,
    })
}

/// Conversations the store has assigned to `agent`.
async fn load(app: &TestApp, agent: i64) -> i64 {
    let r = app
        .db
        .query_one_raw(Statement::from_string(
            app.db.get_database_backend(),
            format!(
                "SELECT COUNT(*) AS n FROM conversations WHERE state = 'assigned' AND assignee_id = {agent}"
            ),
        ))
        .await
        .unwrap()
        .unwrap();
    r.try_get::<i64>("", "n").unwrap()
}

/// What each caller gets: (status, code).
type Want = (u16, &'static str);
const NF: Want = (404, "not_found");

/// One conversation route: method, path after `/api/v1/conversations/{id}`,
/// body, and the answer for (an agent of T2, A's teammate, a supervisor of
/// T2).
struct Call {
    method: Method,
    path: &'static str,
    body: Option<Value>,
    want: [Want; 3],
}

#[rustfmt::skip]
fn calls(f: &Fixture) -> Vec<Call> {
    let c = |method: Method, path: &'static str, body: Option<Value>, want: [Want; 3]| Call { method, path, body, want };
    vec![
        c(Method::GET, "", None, [NF; 3]),
        c(Method::GET, "/messages", None, [NF; 3]),
        c(Method::GET, "/messages?after_seq=0", None, [NF; 3]),
        c(Method::GET, "/notes", None, [NF; 3]),
        c(Method::POST, "/notes", Some(json!({"text": "I was here"})), [NF; 3]),
        // A member of the conversation's team learns it was taken (§7.7).
        c(Method::POST, "/accept", Some(json!({})), [NF, (409, "conflict"), NF]),
        c(Method::POST, "/assign", Some(json!({"agent_id": f.mate.id})), [NF; 3]),
        c(Method::POST, "/assign", Some(json!({"agent_id": f.outsider.id})), [NF; 3]),
        c(Method::POST, "/transfer", Some(json!({"team_id": f.t2, "note": "mine now"})), [NF; 3]),
        c(Method::POST, "/transfer", Some(json!({"agent_id": f.mate.id})), [NF; 3]),
        c(Method::POST, "/close", Some(json!({})), [NF; 3]),
        c(Method::POST, "/reopen", None, [NF; 3]),
        c(Method::PUT, "/tags", Some(json!({"tags": ["urgent"]})), [NF; 3]),
        c(Method::POST, "/tags", Some(json!({"tags": ["urgent"]})), [NF; 3]),
        c(Method::DELETE, "/tags/vip", None, [NF; 3]),
        c(Method::GET, "/transcript", None, [NF; 3]),
        c(Method::GET, "/transcript?format=html", None, [NF; 3]),
    ]
}

on_both! {
    async fn rest_conversation_routes_answer_404_to_whoever_may_not_see_an_assigned_conversation(app) {
        let f = fixture(&app).await;
        let before = state_of(&app, &f.admin, f.conv).await;
        assert_eq!(before["row"][0], "assigned");
        assert_eq!(before["row"][1], f.a.id);
        assert_eq!(before["view"]["tags"], json!(["vip"]));
        assert_eq!((before["messages"].as_i64(), before["notes"].as_i64()), (Some(1), Some(1)));
        let callers = [("agent of T2", &f.outsider), ("teammate of A", &f.mate), ("supervisor of T2", &f.sup2)];
        for call in calls(&f) {
            let path = format!("/api/v1/conversations/{}{}", f.conv, call.path);
            for ((who, user), (status, code)) in callers.iter().zip(call.want) {
                let res = app.send(call.method.clone(), &path, Some(&user.token), call.body.as_ref()).await;
                assert_eq!(res.status().as_u16(), status, "{} {path} as {who}", call.method);
                assert_problem(res, status, code).await;
                assert_eq!(state_of(&app, &f.admin, f.conv).await, before, "{} {path} as {who} changed something", call.method);
            }
        }
        // The list does not leak it either.
        for (who, user) in callers {
            let list: Value = app.get("/api/v1/conversations", &user.token).await.json().await.unwrap();
            assert_eq!(list["items"], json!([]), "{who}");
        }
        // The assignee reaches the same routes (the fixture is sound).
        let res = app.get(&format!("/api/v1/conversations/{}/notes", f.conv), &f.a.token).await;
        assert_eq!(res.status(), 200);
        // Closed, it is still the assignee's only: the others may not read or reopen it.
        let res = app.post(&format!("/api/v1/conversations/{}/close", f.conv), &f.a.token, json!({})).await;
        assert_eq!(res.status(), 200);
        let before = state_of(&app, &f.admin, f.conv).await;
        assert_eq!(before["row"][0], "closed");
        for (method, path, body) in [
            (Method::GET, "", None),
            (Method::GET, "/messages", None),
            (Method::GET, "/notes", None),
            (Method::POST, "/notes", Some(json!({"text": "late"}))),
            (Method::POST, "/reopen", None),
            (Method::POST, "/tags", Some(json!({"tags": ["urgent"]}))),
            (Method::GET, "/transcript", None),
        ] {
            let path = format!("/api/v1/conversations/{}{path}", f.conv);
            for (who, user) in callers {
                let res = app.send(method.clone(), &path, Some(&user.token), body.as_ref()).await;
                assert_eq!(res.status(), 404, "{method} {path} as {who} (closed)");
                assert_problem(res, 404, "not_found").await;
                assert_eq!(state_of(&app, &f.admin, f.conv).await, before, "{method} {path} as {who} (closed)");
            }
        }
        assert_eq!(app.get(&format!("/api/v1/conversations/{}/transcript", f.conv), &f.a.token).await.status(), 200);
    }

    async fn ws_reading_events_from_a_teammate_of_the_assignee_are_answered_as_missing(app) {
        let f = fixture(&app).await;
        let before = state_of(&app, &f.admin, f.conv).await;
        let mut ws = Ws::agent(&app, &f.mate.token).await;
        for (i, frame) in [
            json!({"type": "resume", "conversation_id": f.conv, "after_seq": 0}),
            json!({"type": "typing", "conversation_id": f.conv, "is_typing": true}),
            json!({"type": "read", "conversation_id": f.conv, "up_to_seq": 1}),
            json!({"type": "message.send", "conversation_id": f.conv, "client_msg_id": "m1", "text": "hi"}),
            json!({"type": "conversation.close", "conversation_id": f.conv}),
            json!({"type": "conversation.accept", "conversation_id": f.conv}),
        ].into_iter().enumerate() {
            let mut frame = frame;
            frame["ref"] = json!(format!("r{i}"));
            ws.send(frame.clone()).await;
            let e = ws.recv_type("error").await;
            // Accept by a member of the team: conflict (§3.5); the rest
            // not_found, as the conversation is out of the teammate's sight.
            let want = if i == 5 { "conflict" } else { "not_found" };
            assert_eq!((e["code"].as_str(), e["ref"].as_str()), (Some(want), Some(format!("r{i}").as_str())), "{frame}: {e}");
            assert_eq!(state_of(&app, &f.admin, f.conv).await, before, "{frame}");
        }
        ws.expect_no("message.new", Duration::from_millis(300)).await;
        let r = app.db.query_one_raw(Statement::from_string(app.db.get_database_backend(),
            format!("SELECT agent_last_read_seq AS n FROM conversations WHERE id = {}", f.conv))).await.unwrap().unwrap();
        assert_eq!(r.try_get::<i64>("", "n").unwrap(), 0, "the teammate's read moved nothing");
    }

    async fn rest_visible_conversation_but_forbidden_action_is_403_and_changes_nothing(app) {
        let f = fixture(&app).await;
        // A queued conversation of T1: the teammate may read it, not move or close it.
        let (queued, _) = widget_session(&app, json!({"name": "Bob", "issue_type": "support"})).await;
        let q = format!("/api/v1/conversations/{queued}");
        assert_eq!(app.get(&q, &f.mate.token).await.status(), 200);
        let before = state_of(&app, &f.admin, queued).await;
        assert_eq!(before["row"][0], "queued");
        for (path, body) in [
            ("/assign", json!({"agent_id": f.mate.id})),
            ("/transfer", json!({"team_id": f.t2, "note": "not mine"})),
            ("/transfer", json!({"agent_id": f.mate.id})),
            ("/close", json!({})),
        ] {
            let res = app.post(&format!("{q}{path}"), &f.mate.token, body).await;
            assert_problem(res, 403, "forbidden").await;
            assert_eq!(state_of(&app, &f.admin, queued).await, before, "{path} by the teammate");
        }
        // The outsider may not see it at all.
        assert_problem(app.get(&q, &f.outsider.token).await, 404, "not_found").await;
        assert_problem(app.post(&format!("{q}/accept"), &f.outsider.token, json!({})).await, 404, "not_found").await;
        assert_eq!(state_of(&app, &f.admin, queued).await, before);
        // The assignee of a conversation is an agent: it may not assign it.
        let held = format!("/api/v1/conversations/{}", f.conv);
        let before = state_of(&app, &f.admin, f.conv).await;
        let res = app.post(&format!("{held}/assign"), &f.a.token, json!({"agent_id": f.mate.id})).await;
        assert_problem(res, 403, "forbidden").await;
        assert_eq!(state_of(&app, &f.admin, f.conv).await, before);
    }

    async fn ws_assign_and_transfer_by_staff_without_the_right_get_an_error_and_change_nothing(app) {
        let f = fixture(&app).await;
        let before = state_of(&app, &f.admin, f.conv).await;
        let missing = 987_654;
        for (who, user) in [("agent of T2", &f.outsider), ("teammate of A", &f.mate), ("supervisor of T2", &f.sup2)] {
            let mut ws = Ws::agent(&app, &user.token).await;
            // None of them may see A's conversation: it is answered as missing.
            for (i, (frame, code)) in [
                (json!({"type": "conversation.assign", "conversation_id": f.conv, "agent_id": user.id}), "not_found"),
                (json!({"type": "conversation.assign", "conversation_id": f.conv, "agent_id": f.mate.id}), "not_found"),
                (json!({"type": "conversation.transfer", "conversation_id": f.conv, "team_id": f.t2, "note": "mine now"}), "not_found"),
                (json!({"type": "conversation.transfer", "conversation_id": f.conv, "agent_id": user.id}), "not_found"),
                (json!({"type": "conversation.assign", "conversation_id": missing, "agent_id": user.id}), "not_found"),
                (json!({"type": "conversation.transfer", "conversation_id": missing, "team_id": f.t2}), "not_found"),
            ].into_iter().enumerate() {
                let mut frame = frame;
                frame["ref"] = json!(format!("r{i}"));
                ws.send(frame.clone()).await;
                let answer = ws.recv_answer().await;
                assert_eq!((answer["type"].as_str(), answer["code"].as_str(), answer["ref"].as_str()),
                    (Some("error"), Some(code), Some(format!("r{i}").as_str())), "{frame} as {who}: {answer}");
                assert_eq!(state_of(&app, &f.admin, f.conv).await, before, "{frame} as {who} changed something");
            }
        }
        assert_eq!(app.count("conversations").await, 1, "no conversation made for a missing id");
        // A conversation the teammate may see (queued in T1) but not move:
        // forbidden, and nothing changes.
        let (queued, _) = widget_session(&app, json!({"name": "Bob", "issue_type": "support"})).await;
        let before = state_of(&app, &f.admin, queued).await;
        let mut ws = Ws::agent(&app, &f.mate.token).await;
        for (i, frame) in [
            json!({"type": "conversation.assign", "conversation_id": queued, "agent_id": f.mate.id}),
            json!({"type": "conversation.transfer", "conversation_id": queued, "team_id": f.t2}),
        ].into_iter().enumerate() {
            let mut frame = frame;
            frame["ref"] = json!(format!("q{i}"));
            ws.send(frame.clone()).await;
            let answer = ws.recv_answer().await;
            assert_eq!((answer["code"].as_str(), answer["ref"].as_str()), (Some("forbidden"), Some(format!("q{i}").as_str())), "{frame}: {answer}");
            assert_eq!(state_of(&app, &f.admin, queued).await, before, "{frame} changed something");
        }
    }

    async fn ws_a_supervisor_may_not_watch_a_team_that_is_not_theirs(app) {
        let f = fixture(&app).await;
        let mut ws = Ws::agent(&app, &f.sup2.token).await;
        ws.send(json!({"type": "queue.watch", "team_id": f.t1, "ref": "w1"})).await;
        let e = ws.recv_answer().await;
        assert_eq!((e["type"].as_str(), e["code"].as_str(), e["ref"].as_str()), (Some("error"), Some("forbidden"), Some("w1")), "{e}");
        // Nothing of T1's queue reaches it afterwards, though T1's queue changes.
        widget_session(&app, json!({"name": "Bob", "issue_type": "support"})).await;
        ws.send(json!({"type": "ping", "ref": "p"})).await;
        loop {
            let fr = ws.recv().await;
            assert!(fr["type"] != "queue.update" && fr["type"] != "queue.snapshot", "{fr}");
            if fr["type"] == "pong" { break; }
        }
        ws.expect_no("queue.snapshot", Duration::from_millis(500)).await;
        // Its own team: a snapshot of T2, which does not hold T1's conversations.
        ws.send(json!({"type": "queue.watch", "team_id": f.t2, "ref": "w2"})).await;
        let snap = ws.recv_type("queue.snapshot").await;
        assert_eq!(snap["team_id"], f.t2, "{snap}");
        assert_eq!(snap["waiting"], json!([]), "{snap}");
        // The agent of T2 is refused the same way.
        let mut agent = Ws::agent(&app, &f.outsider.token).await;
        agent.send(json!({"type": "queue.watch", "team_id": f.t1, "ref": "w3"})).await;
        let e = agent.recv_answer().await;
        assert_eq!((e["code"].as_str(), e["ref"].as_str()), (Some("forbidden"), Some("w3")), "{e}");
    }

    async fn ws_the_old_agent_may_not_send_a_new_message_after_a_transfer_away(app) {
        let f = fixture(&app).await;
        let mut a = Ws::agent(&app, &f.a.token).await;
        let mut mate = Ws::agent(&app, &f.mate.token).await;
        let mut customer = Ws::customer(&app, &f.visitor_token).await;
        let first = a.say(Some(f.conv), "a-1", "from A").await;
        assert_eq!(app.count("messages").await, 2);
        // An admin transfers it to the teammate.
        let res = app.post(&format!("/api/v1/conversations/{}/transfer", f.conv), &f.admin, json!({"agent_id": f.mate.id})).await;
        assert_eq!(res.status(), 200);
        mate.recv_type("conversation.assigned").await;
        customer.recv_type("conversation.assigned").await;
        a.send(json!({"type": "message.send", "conversation_id": f.conv, "client_msg_id": "a-2", "text": "still mine?", "ref": "a2"})).await;
        let e = a.recv_answer().await;
        // The teammate's now, and out of A's sight.
        assert_eq!((e["type"].as_str(), e["code"].as_str(), e["ref"].as_str()), (Some("error"), Some("not_found"), Some("a2")), "{e}");
        assert_eq!(app.count("messages").await, 2);
        customer.expect_no("message.new", Duration::from_millis(400)).await;
        // A resend of what A had stored is still its message (§5.4), nothing new.
        let again = a.say(Some(f.conv), "a-1", "from A").await;
        assert_eq!(again["message"], first["message"]);
        assert_eq!(app.count("messages").await, 2);
        // Transferred back to T1's queue: A may read it again, but not write.
        let res = app.post(&format!("/api/v1/conversations/{}/transfer", f.conv), &f.admin, json!({"team_id": f.t1})).await;
        assert_eq!(res.status(), 200);
        assert_eq!(row(&app, f.conv).await.0, "queued");
        assert_eq!(app.get(&format!("/api/v1/conversations/{}", f.conv), &f.a.token).await.status(), 200);
        a.send(json!({"type": "message.send", "conversation_id": f.conv, "client_msg_id": "a-3", "text": "back?", "ref": "a3"})).await;
        let e = a.recv_answer().await;
        assert_eq!((e["type"].as_str(), e["code"].as_str(), e["ref"].as_str()), (Some("error"), Some("forbidden"), Some("a3")), "{e}");
        assert_eq!(app.count("messages").await, 2);
        let (state, assignee, team, _) = row(&app, f.conv).await;
        assert_eq!((state.as_str(), assignee, team), ("queued", None, Some(f.t1)));
    }

    async fn manual_assign_and_transfer_to_an_agent_at_capacity_is_409_and_changes_nothing(app) {
        let admin = app.admin_token().await;
        let t1 = manual_team(&app, &admin, "Support").await;
        let full = app.create_user(&admin, "agent", json!({"team_ids": [t1], "capacity": 1})).await;
        let a = app.create_user(&admin, "agent", json!({"team_ids": [t1], "capacity": 5})).await;
        let sup = app.create_user(&admin, "supervisor", json!({"team_ids": [t1]})).await;
        let mut ids = Vec::new();
        for name in ["One", "Two", "Three"] {
            ids.push(widget_session(&app, json!({"name": name, "issue_type": "support"})).await.0);
        }
        let (c1, c2, c3) = (ids[0], ids[1], ids[2]);
        for (c, token) in [(c1, &full.token), (c2, &a.token)] {
            let res = app.post(&format!("/api/v1/conversations/{c}/accept"), token, json!({})).await;
            assert_eq!(res.status(), 200);
        }
        assert_eq!(load(&app, full.id).await, 1);
        let before2 = state_of(&app, &admin, c2).await;
        let before3 = state_of(&app, &admin, c3).await;
        assert_eq!(before3["row"][0], "queued");
        let refused = [
            (c3, &admin, "/assign", json!({"agent_id": full.id})),
            (c2, &admin, "/assign", json!({"agent_id": full.id})),
            (c2, &admin, "/transfer", json!({"agent_id": full.id, "note": "take this"})),
            (c3, &admin, "/transfer", json!({"agent_id": full.id})),
            (c3, &sup.token, "/assign", json!({"agent_id": full.id})),
            (c2, &sup.token, "/transfer", json!({"agent_id": full.id, "note": "take this"})),
            // Already the assignee.
            (c1, &admin, "/assign", json!({"agent_id": full.id})),
        ];
        for (c, token, path, body) in &refused {
            let res = app.post(&format!("/api/v1/conversations/{c}{path}"), token, body.clone()).await;
            assert_problem(res, 409, "conflict").await;
            assert_eq!(state_of(&app, &admin, c2).await, before2, "{path} {body} on {c}");
            assert_eq!(state_of(&app, &admin, c3).await, before3, "{path} {body} on {c}");
            assert_eq!(load(&app, full.id).await, 1, "{path} {body} on {c}");
        }
        // The same over a socket.
        let mut ws = Ws::agent(&app, &admin).await;
        for (i, frame) in [
            json!({"type": "conversation.assign", "conversation_id": c3, "agent_id": full.id}),
            json!({"type": "conversation.transfer", "conversation_id": c2, "agent_id": full.id, "note": "take this"}),
        ].into_iter().enumerate() {
            let mut frame = frame;
            frame["ref"] = json!(format!("r{i}"));
            ws.send(frame.clone()).await;
            let e = ws.recv_answer().await;
            assert_eq!((e["type"].as_str(), e["code"].as_str()), (Some("error"), Some("conflict")), "{frame}: {e}");
            assert_eq!(state_of(&app, &admin, c2).await, before2);
            assert_eq!(state_of(&app, &admin, c3).await, before3);
        }
        // Room made: the same assign goes through, and then it is full again.
        let res = app.post(&format!("/api/v1/conversations/{c1}/close"), &admin, json!({})).await;
        assert_eq!(res.status(), 200);
        let res = app.post(&format!("/api/v1/conversations/{c3}/assign"), &admin, json!({"agent_id": full.id})).await;
        assert_eq!(res.status(), 200);
        let res = app.post(&format!("/api/v1/conversations/{c2}/transfer"), &admin, json!({"agent_id": full.id})).await;
        assert_problem(res, 409, "conflict").await;
        assert_eq!(load(&app, full.id).await, 1);
        assert_eq!(row(&app, c2).await.1, Some(a.id));
    }

    async fn rest_scope_follows_current_memberships_and_role(app) {
        let f = fixture(&app).await;
        let (queued, _) = widget_session(&app, json!({"name": "Bob", "issue_type": "support"})).await;
        let q = format!("/api/v1/conversations/{queued}");
        assert_eq!(app.get(&q, &f.mate.token).await.status(), 200);
        assert_problem(app.get(&q, &f.outsider.token).await, 404, "not_found").await;
        // The teammate moves to T2, the outsider to T1: REST follows at once.
        let res = app.put(&format!("/api/v1/users/{}/teams", f.mate.id), &f.admin, json!({"team_ids": [f.t2]})).await;
        assert_eq!(res.status(), 200);
        let res = app.put(&format!("/api/v1/users/{}/teams", f.outsider.id), &f.admin, json!({"team_ids": [f.t1]})).await;
        assert_eq!(res.status(), 200);
        let before = state_of(&app, &f.admin, queued).await;
        assert_problem(app.get(&q, &f.mate.token).await, 404, "not_found").await;
        assert_problem(app.post(&format!("{q}/accept"), &f.mate.token, json!({})).await, 404, "not_found").await;
        assert_problem(app.post(&format!("{q}/notes"), &f.mate.token, json!({"text": "x"})).await, 404, "not_found").await;
        assert_eq!(state_of(&app, &f.admin, queued).await, before);
        assert_eq!(app.get(&q, &f.outsider.token).await.status(), 200);
        // A supervisor of T1 sees A's conversation; demoted to agent, no longer.
        let sup1 = app.create_user(&f.admin, "supervisor", json!({"team_ids": [f.t1]})).await;
        let held = format!("/api/v1/conversations/{}", f.conv);
        assert_eq!(app.get(&held, &sup1.token).await.status(), 200);
        let res = app.patch(&format!("/api/v1/users/{}", sup1.id), &f.admin, json!({"role": "agent"})).await;
        assert_eq!(res.status(), 200);
        let before = state_of(&app, &f.admin, f.conv).await;
        assert_problem(app.get(&held, &sup1.token).await, 404, "not_found").await;
        assert_problem(app.post(&format!("{held}/close"), &sup1.token, json!({})).await, 404, "not_found").await;
        assert_problem(app.post(&format!("{held}/transfer"), &sup1.token, json!({"team_id": f.t2})).await, 404, "not_found").await;
        assert_eq!(state_of(&app, &f.admin, f.conv).await, before);
    }

    async fn a_reopen_does_not_hand_back_to_a_last_agent_at_capacity(app) {
        let admin = app.admin_token().await;
        let t1 = manual_team(&app, &admin, "Support").await;
        let agent = app.create_user(&admin, "agent", json!({"team_ids": [t1], "capacity": 1})).await;
        crate::routing::online(&app, &agent).await;
        let (c1, _) = widget_session(&app, json!({"name": "One", "issue_type": "support"})).await;
        let (c2, _) = widget_session(&app, json!({"name": "Two", "issue_type": "support"})).await;
        let path = |c: i64, what: &str| format!("/api/v1/conversations/{c}/{what}");
        assert_eq!(app.post(&path(c1, "accept"), &agent.token, json!({})).await.status(), 200);
        assert_eq!(app.post(&path(c1, "close"), &agent.token, json!({})).await.status(), 200);
        assert_eq!(app.post(&path(c2, "accept"), &agent.token, json!({})).await.status(), 200);
        let res = app.post(&path(c1, "reopen"), &admin, json!({})).await;
        assert_eq!(res.status(), 200);
        let (state, assignee, team, _) = row(&app, c1).await;
        assert_eq!((state.as_str(), assignee, team), ("queued", None, Some(t1)), "handed back over capacity");
        assert_eq!(load(&app, agent.id).await, 1);
        // With room, the same reopen hands it back (the fixture is sound).
        assert_eq!(app.post(&path(c2, "close"), &agent.token, json!({})).await.status(), 200);
        assert_eq!(app.post(&path(c2, "reopen"), &admin, json!({})).await.status(), 200);
        assert_eq!(row(&app, c2).await.1, Some(agent.id));
    }

    async fn simultaneous_manual_assignments_never_overrun_capacity(app) {
        let admin = app.admin_token().await;
        let t1 = manual_team(&app, &admin, "Support").await;
        let target = app.create_user(&admin, "agent", json!({"team_ids": [t1], "capacity": 2})).await;
        let holder = app.create_user(&admin, "agent", json!({"team_ids": [t1], "capacity": 10})).await;
        let mut queued = Vec::new();
        let mut held = Vec::new();
        for i in 0..8 {
            let (c, _) = widget_session(&app, json!({"name": format!("V{i}"), "issue_type": "support"})).await;
            if i % 2 == 0 {
                queued.push(c);
            } else {
                let res = app.post(&format!("/api/v1/conversations/{c}/accept"), &holder.token, json!({})).await;
                assert_eq!(res.status(), 200);
                held.push(c);
            }
        }
        let paths: Vec<String> = queued.iter().map(|c| format!("/api/v1/conversations/{c}/assign"))
            .chain(held.iter().map(|c| format!("/api/v1/conversations/{c}/transfer"))).collect();
        let calls = paths.iter().map(|p| app.post(p, &admin, json!({"agent_id": target.id})));
        let answers = futures_util::future::join_all(calls).await;
        let statuses: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
        assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 2, "{statuses:?}");
        assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 6, "{statuses:?}");
        assert_eq!(load(&app, target.id).await, 2);
        let moved = statuses[queued.len()..].iter().filter(|s| **s == 200).count() as i64;
        assert_eq!(load(&app, holder.id).await, 4 - moved);
    }
}
