//! What the dashboard reads besides the conversation routes: visitor
//! profiles (least privilege), last-message previews, the staff directory,
//! and the plan of the "Mine" inbox query.

use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both;
use crate::realtime::{scene, widget_session};
use crate::ws_client::Ws;

on_both! {
    async fn last_messages_of_thousands_of_conversations_are_read_in_bounded_queries(app) {
        // A visitor profile asks for the last message of every conversation
        // under the visitor's e-mail, which the public widget can multiply;
        // in one query, a thousand of them overflowed the stack of the
        // thread building it and took the whole server down.
        use sea_orm::EntityTrait;
        let (id, token) = widget_session(&app, json!({"name": "Ana"})).await;
        let mut customer = Ws::customer(&app, &token).await;
        let sent = customer.say(None, "c1", "hello").await;
        let row = entity::conversations::Entity::find_by_id(id).one(&app.db).await.unwrap().unwrap();
        assert_eq!(row.last_seq, 1);
        let mut rows: Vec<_> = (1..=3_000)
            .map(|i| entity::conversations::Model { id: id + i, ..row.clone() })
            .collect();
        rows.push(row);
        let last = switchboard::store::inbox::last_messages(&app.db, &rows).await.unwrap();
        assert_eq!(last.len(), 1, "only the one that exists has a message");
        assert_eq!(last[&id].id, sent["message"]["id"].as_i64().unwrap());
    }

    async fn a_visitor_profile_shows_only_conversations_the_caller_may_read(app) {
        let s = scene(&app).await;
        // Another conversation with the same e-mail (a new widget session is
        // a new visitor), handled and closed by the scene's agent…
        let (other, other_token) = widget_session(&app, json!({"name": "Ana", "email": "ANA@example.com", "issue_type": "support"})).await;
        let mut agent_ws = Ws::agent(&app, &s.agent.token).await;
        agent_ws.send(json!({"type": "conversation.accept", "conversation_id": other, "ref": "a"})).await;
        agent_ws.recv_all(&["ok", "conversation.assigned"]).await;
        let mut customer = Ws::customer(&app, &other_token).await;
        customer.say(None, "c1", &"é".repeat(250)).await;
        agent_ws.say(Some(other), "a1", "Sorted, bye!").await;
        agent_ws.send(json!({"type": "conversation.close", "conversation_id": other, "reason": "resolved", "ref": "c"})).await;
        agent_ws.recv_type("ok").await;
        // …and one with another e-mail, which is not hers.
        let (stranger, _) = widget_session(&app, json!({"name": "Zed", "email": "zed@example.com"})).await;

        let conv: Value = app.get(&format!("/api/v1/conversations/{}", s.conversation), &s.agent.token).await.json().await.unwrap();
        let visitor = conv["visitor"]["id"].as_i64().unwrap();
        let path = format!("/api/v1/visitors/{visitor}");

        // The scene's agent may read both of Ana's (its own closed one and
        // the one queued in its team).
        let res = app.get(&path, &s.agent.token).await;
        assert_eq!(res.status(), 200);
        let p: Value = res.json().await.unwrap();
        assert_eq!(p["name"], "Ana");
        assert_eq!(p["email"], "ana@example.com");
        let ids: Vec<i64> = p["conversations"].as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect();
        assert_eq!(ids, vec![other, s.conversation], "newest first, strangers left out");
        assert!(!ids.contains(&stranger));
        assert_eq!(p["other_conversations"], 0);
        let old = &p["conversations"][0];
        assert_eq!(old["state"], "closed");
        assert_eq!(old["closed_reason"], "resolved");
        assert_ne!(old["visitor_id"], visitor, "tied by e-mail, not by visitor");
        assert_eq!(old["last_message"]["text"], "Sorted, bye!");
        assert_eq!(old["last_message"]["sender"]["kind"], "agent");
        assert_eq!(old["last_message"]["truncated"], false);
        assert!(p["conversations"][1]["last_message"].is_null(), "no message yet");

        // A teammate sees the queued one only, and learns one more exists.
        let teammate = app.create_user(&s.admin, "agent", json!({"team_ids": [s.team]})).await;
        let p: Value = app.get(&path, &teammate.token).await.json().await.unwrap();
        assert_eq!(p["conversations"].as_array().unwrap().len(), 1);
        assert_eq!(p["conversations"][0]["id"], s.conversation);
        assert_eq!(p["other_conversations"], 1);

        // Someone who may read none of this visitor's own conversations
        // gets 404, like for a visitor that does not exist; even if it may
        // read another conversation with the same e-mail.
        let elsewhere = app.create_team(&s.admin, "Elsewhere").await;
        let outsider = app.create_user(&s.admin, "agent", json!({"team_ids": [elsewhere]})).await;
        assert_problem(app.get(&path, &outsider.token).await, 404, "not_found").await;
        let other_visitor = old["visitor_id"].as_i64().unwrap();
        assert_problem(app.get(&format!("/api/v1/visitors/{other_visitor}"), &teammate.token).await, 404, "not_found").await;
        assert_problem(app.get("/api/v1/visitors/987654", &s.admin).await, 404, "not_found").await;
        assert_problem(app.get("/api/v1/visitors/abc", &s.admin).await, 404, "not_found").await;
        // The admin sees everything of hers.
        let p: Value = app.get(&path, &s.admin).await.json().await.unwrap();
        assert_eq!(p["conversations"].as_array().unwrap().len(), 2);
        assert!(p.get("user_agent").is_some(), "nullable, always present: {p}");
    }

    async fn previews_give_each_readable_conversations_last_message(app) {
        let s = scene(&app).await;
        let mut customer = Ws::customer(&app, &s.visitor_token).await;
        customer.say(None, "c1", "first").await;
        let long = format!("{}tail", "x".repeat(300));
        customer.say(None, "c2", &long).await;
        let (silent, _) = widget_session(&app, json!({"issue_type": "support"})).await;
        app.create_team(&s.admin, "Elsewhere").await;
        let (hidden, hidden_token) = widget_session(&app, json!({"issue_type": "Elsewhere"})).await;
        Ws::customer(&app, &hidden_token).await.say(None, "h", "secret").await;

        let path = format!("/api/v1/conversation-previews?ids={hidden},{},{silent},{}", s.conversation, s.conversation);
        let p: Value = app.get(&path, &s.agent.token).await.json().await.unwrap();
        let items = p["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "no duplicate, no empty, nothing outside the scope: {p}");
        assert_eq!(items[0]["conversation_id"], s.conversation);
        let m = &items[0]["last_message"];
        assert_eq!(m["seq"], 2);
        assert_eq!(m["sender"]["kind"], "customer");
        assert_eq!(m["truncated"], true);
        assert_eq!(m["text"].as_str().unwrap().chars().count(), 200);
        // The admin reads the other team's too.
        let p: Value = app.get(&format!("/api/v1/conversation-previews?ids={hidden}"), &s.admin).await.json().await.unwrap();
        assert_eq!(p["items"][0]["last_message"]["text"], "secret");
        for bad in ["", "ids=", "ids=1,,2", "ids=a", "ids=0", "ids=1&x=2",
                    &format!("ids={}", (1..=201).map(|n| n.to_string()).collect::<Vec<_>>().join(","))] {
            let res = app.get(&format!("/api/v1/conversation-previews?{bad}"), &s.agent.token).await;
            assert_problem(res, 422, "bad_request").await;
        }
    }

    async fn the_directory_lists_active_staff_with_load_for_any_role(app) {
        let s = scene(&app).await;
        let other = app.create_team(&s.admin, "Other").await;
        let bruno = app.create_user(&s.admin, "supervisor", json!({"team_ids": [s.team, other], "capacity": 5})).await;
        let gone = app.create_user(&s.admin, "agent", json!({"team_ids": [s.team]})).await;
        app.post(&format!("/api/v1/users/{}/deactivate", gone.id), &s.admin, json!({})).await;
        app.post(&format!("/api/v1/conversations/{}/assign", s.conversation), &s.admin, json!({"agent_id": s.agent.id})).await;

        let res = app.get("/api/v1/agents", &s.agent.token).await;
        assert_eq!(res.status(), 200, "agents may read it");
        let all: Value = res.json().await.unwrap();
        let ids: Vec<i64> = all["items"].as_array().unwrap().iter().map(|a| a["id"].as_i64().unwrap()).collect();
        assert!(!ids.contains(&gone.id), "deactivated users are left out");
        assert_eq!(ids.len(), 3, "admin, agent, supervisor: {all}");
        let me = all["items"].as_array().unwrap().iter().find(|a| a["id"] == s.agent.id).unwrap();
        assert_eq!(me["load"], 1);
        assert_eq!(me["capacity"], 3);
        assert_eq!(me["role"], "agent");
        assert_eq!(me["team_ids"], json!([s.team]));
        assert!(me.get("email").is_none(), "no e-mail addresses in the directory");
        let team: Value = app.get(&format!("/api/v1/agents?team_id={other}"), &s.agent.token).await.json().await.unwrap();
        assert_eq!(team["items"].as_array().unwrap().len(), 1);
        assert_eq!(team["items"][0]["id"], bruno.id);
        assert_eq!(team["items"][0]["load"], 0);
        for bad in ["team_id=x", "role=agent"] {
            assert_problem(app.get(&format!("/api/v1/agents?{bad}"), &s.agent.token).await, 422, "bad_request").await;
        }
    }
}

/// The "Mine" tab asks for the caller's open conversations; SQLite answers
/// it from `idx_conversations_assignee_id_state` in id order, without
/// scanning the table or sorting.
#[actix_web::test]
async fn the_mine_query_uses_the_assignee_index_without_a_sort() {
    use sea_orm::{ConnectionTrait, DbBackend, QueryTrait, Statement};
    use switchboard::domain::access::StaffScope;
    use switchboard::domain::conversation::ConversationState;
    use switchboard::domain::{Role, TeamId, UserId};
    use switchboard::store::conversations::{ConversationFilter, list_query};

    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let scope = StaffScope {
        user: UserId(7),
        role: Role::Agent,
        teams: vec![TeamId(1), TeamId(2)],
    };
    let filter = ConversationFilter {
        state: Some(ConversationState::Assigned),
        team: None,
        assignee: Some(UserId(7)),
        tag: None,
        unread: None,
        search: None,
        before_id: None,
        limit: 51,
    };
    let stmt = list_query(&scope, &filter).build(DbBackend::Sqlite);
    let plan = app
        .db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            format!("EXPLAIN QUERY PLAN {}", stmt.sql),
            stmt.values.map(|v| v.0).unwrap_or_default(),
        ))
        .await
        .unwrap();
    let plan: Vec<String> = plan
        .iter()
        .map(|r| r.try_get::<String>("", "detail").unwrap())
        .collect();
    assert!(
        plan.iter()
            .any(|d| d.contains("idx_conversations_assignee_id_state")),
        "{plan:?}"
    );
    assert!(!plan.iter().any(|d| d.contains("TEMP B-TREE")), "{plan:?}");
    assert!(!plan.iter().any(|d| d.starts_with("SCAN")), "{plan:?}");
    // All of an agent's conversations (any state), newest first: a range
    // of `idx_conversations_assignee_id_id`, no sort of them all.
    let all = ConversationFilter {
        state: None,
        ..filter
    };
    let stmt = list_query(&scope, &all).build(DbBackend::Sqlite);
    let plan: Vec<String> = app
        .db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            format!("EXPLAIN QUERY PLAN {}", stmt.sql),
            stmt.values.map(|v| v.0).unwrap_or_default(),
        ))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<String>("", "detail").unwrap())
        .collect();
    assert!(
        plan.iter()
            .any(|d| d.contains("idx_conversations_assignee_id_id")),
        "{plan:?}"
    );
    assert!(!plan.iter().any(|d| d.contains("TEMP B-TREE")), "{plan:?}");
    app.finish().await;
}
