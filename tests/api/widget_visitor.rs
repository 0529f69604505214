//! The widget visitor's own routes (visitor token as Bearer): its
//! conversation after a reload, the CSAT rating, transcripts; the visitor
//! facts agents see (`user_agent`, `page_url`); CORS for embedding sites.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both;
use crate::ws_client::Ws;

/// A widget session; returns (conversation id, visitor token).
async fn session(app: &TestApp, body: Value) -> (i64, String) {
    crate::realtime::widget_session(app, body).await
}

/// A visitor-authenticated request.
async fn as_visitor(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> reqwest::Response {
    app.send(method, path, Some(token), body.as_ref()).await
}

/// A team that takes conversations by hand, with one agent in it.
async fn desk(app: &TestApp) -> (String, i64, TestUser) {
    let admin = app.admin_token().await;
    let res = app
        .post(
            "/api/v1/teams",
            &admin,
            json!({"name": "Support", "auto_assign": false}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let team = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let agent = app
        .create_user(&admin, "agent", json!({"team_ids": [team]}))
        .await;
    (admin, team, agent)
}

/// Polls `GET /widget/conversation` until `done` holds (the read marks are
/// stored right after their receipt goes out); bounded, never a bare sleep.
async fn widget_conversation_until(
    app: &TestApp,
    token: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let mut last = Value::Null;
    for _ in 0..100 {
        let res = as_visitor(app, Method::GET, "/api/v1/widget/conversation", token, None).await;
        assert_eq!(res.status(), 200);
        last = res.json().await.unwrap();
        if done(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("condition never held; last answer {last}");
}

on_both! {
    async fn a_closed_conversation_is_rated_once_and_staff_see_the_rating(app) {
        let (admin, _team, agent) = desk(&app).await;
        let (cid, token) = session(&app, json!({"name": "Ana", "issue_type": "Support"})).await;
        let (other_cid, other_token) = session(&app, json!({"name": "Eve", "issue_type": "Support"})).await;
        let rate = |token: String, body: Value| {
            let app = &app;
            async move { as_visitor(app, Method::POST, "/api/v1/widget/csat", &token, Some(body)).await }
        };

        let early = rate(token.clone(), json!({"score": 5})).await;
        let body = assert_problem(early, 409, "conflict").await;
        assert!(body["detail"].as_str().unwrap().contains("ended"), "{body}");

        let accepted = app.post(&format!("/api/v1/conversations/{cid}/accept"), &agent.token, json!({})).await;
        assert_eq!(accepted.status(), 200);
        let mut customer = Ws::customer(&app, &token).await;
        customer.send(json!({"type": "conversation.close", "ref": "end"})).await;
        assert_eq!(customer.recv_type("ok").await["ref"], "end");

        for bad in [
            json!({"score": 0}),
            json!({"score": 6}),
            json!({"score": -1}),
            json!({"score": 4, "comment": "x".repeat(1001)}),
            json!({"score": 4, "comment": "bell \u{7}"}),
        ] {
            let res = rate(token.clone(), bad.clone()).await;
            let body = assert_problem(res, 422, "bad_request").await;
            assert!(body["errors"].as_array().is_some_and(|e| !e.is_empty()), "{bad}: {body}");
        }
        for bad in [json!({"score": "5"}), json!({"score": 4.5}), json!({}), json!({"score": 3, "stars": 3})] {
            let res = rate(token.clone(), bad.clone()).await;
            assert_problem(res, 422, "bad_request").await;
        }
        assert_eq!(app.count("csat_ratings").await, 0, "refused ratings stored nothing");

        // Nobody else can rate it: no token, a staff token, a forged one.
        let res = app.send(Method::POST, "/api/v1/widget/csat", None, Some(&json!({"score": 1}))).await;
        assert_problem(res, 401, "unauthorized").await;
        let res = rate(admin.clone(), json!({"score": 1})).await;
        assert_problem(res, 401, "unauthorized").await;
        let res = rate(format!("{token}x"), json!({"score": 1})).await;
        assert_problem(res, 401, "unauthorized").await;
        // Another visitor's token only ever reaches its own (open) conversation.
        let res = rate(other_token.clone(), json!({"score": 1})).await;
        assert_problem(res, 409, "conflict").await;
        assert_eq!(app.count("csat_ratings").await, 0);

        let res = rate(token.clone(), json!({"score": 4, "comment": "  Quick and kind.\nThanks!  "})).await;
        assert_eq!(res.status(), 201);
        let given: Value = res.json().await.unwrap();
        assert_eq!(given["score"], 4);
        assert_eq!(given["comment"], "Quick and kind.\nThanks!");
        let again = rate(token.clone(), json!({"score": 1})).await;
        let body = assert_problem(again, 409, "conflict").await;
        assert!(body["detail"].as_str().unwrap().contains("already"), "{body}");

        let staff: Value = app.get(&format!("/api/v1/conversations/{cid}"), &admin).await.json().await.unwrap();
        assert_eq!(staff["csat"]["score"], 4);
        assert_eq!(staff["csat"]["comment"], "Quick and kind.\nThanks!");
        assert!(staff["csat"]["created_at"].is_string());
        let mine: Value = app.get(&format!("/api/v1/conversations/{cid}"), &agent.token).await.json().await.unwrap();
        assert_eq!(mine["csat"]["score"], 4, "the agent who held it sees it too");
        let unrated: Value = app.get(&format!("/api/v1/conversations/{other_cid}"), &admin).await.json().await.unwrap();
        assert!(unrated["csat"].is_null());
        let list: Value = app.get("/api/v1/conversations", &admin).await.json().await.unwrap();
        let item = list["items"].as_array().unwrap().iter().find(|c| c["id"] == cid).unwrap().clone();
        assert_eq!(item["csat"]["score"], 4, "lists carry it too");
        let seen = widget_conversation_until(&app, &token, |c| c["state"] == "closed").await;
        assert_eq!(seen["csat"]["score"], 4);
        assert_eq!(app.count("csat_ratings").await, 1);
    }

    async fn a_rating_reaches_the_followers_live_and_no_one_else(app) {
        let (admin, _team, agent) = desk(&app).await;
        let (cid, token) = session(&app, json!({"name": "Ana", "issue_type": "Support"})).await;
        assert_eq!(app.post(&format!("/api/v1/conversations/{cid}/accept"), &agent.token, json!({})).await.status(), 200);
        // The agent's socket follows the conversation it holds; an agent of
        // another team follows nothing of it.
        let mut staff = Ws::agent(&app, &agent.token).await;
        let elsewhere = app.create_team(&admin, "Elsewhere").await;
        let outsider = app.create_user(&admin, "agent", json!({"team_ids": [elsewhere]})).await;
        let mut outsider_ws = Ws::agent(&app, &outsider.token).await;
        let mut customer = Ws::customer(&app, &token).await;
        customer.send(json!({"type": "conversation.close", "ref": "end"})).await;
        assert_eq!(customer.recv_type("ok").await["ref"], "end");
        let closed = staff.recv_type("conversation.updated").await;
        assert_eq!(closed["conversation"]["state"], "closed");
        assert!(closed["conversation"]["csat"].is_null(), "{closed}");

        let res = as_visitor(&app, Method::POST, "/api/v1/widget/csat", &token, Some(json!({"score": 4, "comment": "Kind"}))).await;
        assert_eq!(res.status(), 201);
        let rated = staff.recv_type("conversation.updated").await;
        assert_eq!(rated["conversation"]["id"], cid);
        assert_eq!(rated["conversation"]["state"], "closed", "a rating changes no state");
        assert_eq!(rated["conversation"]["csat"]["score"], 4);
        assert_eq!(rated["conversation"]["csat"]["comment"], "Kind");
        // The visitor's own socket (another tab) hears of it too.
        let seen = customer.recv_type("conversation.updated").await;
        assert_eq!(seen["conversation"]["csat"]["score"], 4);
        outsider_ws.expect_no("conversation.updated", Duration::from_millis(300)).await;

        // A refused second rating pushes nothing.
        let again = as_visitor(&app, Method::POST, "/api/v1/widget/csat", &token, Some(json!({"score": 1}))).await;
        assert_problem(again, 409, "conflict").await;
        staff.expect_no("conversation.updated", Duration::from_millis(300)).await;
    }

    async fn transcripts_hold_every_message_escaped_and_never_an_internal_note(app) {
        let (admin, team, agent) = desk(&app).await;
        let (cid, token) = session(&app, json!({"name": "Ana & Co", "issue_type": "Support"})).await;
        let (_other, other_token) = session(&app, json!({"name": "Eve", "issue_type": "Support"})).await;
        assert_eq!(app.post(&format!("/api/v1/conversations/{cid}/accept"), &agent.token, json!({})).await.status(), 200);
        let mut customer = Ws::customer(&app, &token).await;
        let mut staff = Ws::agent(&app, &agent.token).await;
        customer.say(None, "c1", "<script>alert('x')</script> & my order\nsecond line").await;
        staff.say(Some(cid), "a1", "Hello **Ana**, checking now").await;
        let note = app.post(&format!("/api/v1/conversations/{cid}/notes"), &agent.token, json!({"text": "SECRET internal note"})).await;
        assert_eq!(note.status(), 201);

        let res = as_visitor(&app, Method::GET, "/api/v1/widget/transcript", &token, None).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "text/plain; charset=utf-8");
        let disposition = res.headers()["content-disposition"].to_str().unwrap().to_owned();
        assert!(disposition.starts_with("attachment"), "{disposition}");
        assert!(disposition.contains(&format!("conversation-{cid}.txt")), "{disposition}");
        assert_eq!(res.headers()["cache-control"], "no-store");
        let text = res.text().await.unwrap();
        assert!(text.contains("Ana & Co: <script>alert('x')</script> & my order\n    second line"), "{text}");
        assert!(text.contains("(agent): Hello **Ana**, checking now"), "{text}");
        assert!(!text.contains("SECRET"), "{text}");

        let res = as_visitor(&app, Method::GET, "/api/v1/widget/transcript?format=html", &token, None).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "text/html; charset=utf-8");
        assert!(res.headers()["content-disposition"].to_str().unwrap().contains(".html"));
        let page = res.text().await.unwrap();
        assert!(page.starts_with("<!doctype html>"), "{page}");
        assert!(page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; my order"), "{page}");
        assert!(page.contains("Ana &amp; Co"), "{page}");
        assert!(!page.contains("<script>"), "{page}");
        assert!(!page.contains("SECRET"), "{page}");

        for bad in ["?format=pdf", "?format=", "?fmt=text"] {
            let res = as_visitor(&app, Method::GET, &format!("/api/v1/widget/transcript{bad}"), &token, None).await;
            assert_problem(res, 422, "bad_request").await;
        }
        let res = app.send(Method::GET, "/api/v1/widget/transcript", None, None).await;
        assert_problem(res, 401, "unauthorized").await;
        let res = as_visitor(&app, Method::GET, "/api/v1/widget/transcript", &admin, None).await;
        assert_problem(res, 401, "unauthorized").await;
        // Another visitor gets its own, empty conversation, never this one.
        let theirs = as_visitor(&app, Method::GET, "/api/v1/widget/transcript", &other_token, None).await.text().await.unwrap();
        assert!(!theirs.contains("my order") && theirs.contains("(no messages)"), "{theirs}");

        // Staff: the same access rule as the conversation itself.
        let res = app.get(&format!("/api/v1/conversations/{cid}/transcript?format=html"), &admin).await;
        assert_eq!(res.status(), 200);
        let page = res.text().await.unwrap();
        assert!(page.contains("checking now") && !page.contains("SECRET"));
        let res = app.get(&format!("/api/v1/conversations/{cid}/transcript"), &agent.token).await;
        assert_eq!(res.status(), 200);
        let other_team = app.create_team(&admin, "Elsewhere").await;
        assert_ne!(other_team, team);
        let outsider = app.create_user(&admin, "agent", json!({"team_ids": [other_team]})).await;
        let res = app.get(&format!("/api/v1/conversations/{cid}/transcript"), &outsider.token).await;
        assert_problem(res, 404, "not_found").await;
        let res = app.get(&format!("/api/v1/conversations/{cid}/transcript?format=doc"), &admin).await;
        assert_problem(res, 422, "bad_request").await;
        let res = app.send(Method::GET, &format!("/api/v1/conversations/{cid}/transcript"), Some(&token), None).await;
        assert_problem(res, 401, "unauthorized").await;
    }

    async fn a_reloaded_widget_learns_state_agent_read_marks_and_unread(app) {
        let (_admin, _team, agent) = desk(&app).await;
        let (cid, token) = session(&app, json!({"name": "Ana", "issue_type": "Support"})).await;
        let start = widget_conversation_until(&app, &token, |_| true).await;
        assert_eq!(start["conversation_id"], cid);
        assert_eq!(start["state"], "queued");
        assert_eq!(start["last_seq"], 0);
        assert!(start["agent"].is_null());
        assert!(start["csat"].is_null());
        assert_eq!(start["offline"], false);

        let agent_row: Value = app.get("/api/v1/me", &agent.token).await.json().await.unwrap();
        assert_eq!(app.post(&format!("/api/v1/conversations/{cid}/accept"), &agent.token, json!({})).await.status(), 200);
        let mut customer = Ws::customer(&app, &token).await;
        let mut staff = Ws::agent(&app, &agent.token).await;
        customer.say(None, "c1", "hello").await;
        staff.say(Some(cid), "a1", "hi, how can I help?").await;
        staff.send(json!({"type": "read", "conversation_id": cid, "up_to_seq": 1})).await;
        let now = widget_conversation_until(&app, &token, |c| c["agent_read_seq"] == 1).await;
        assert_eq!(now["state"], "assigned");
        assert_eq!(now["agent"]["id"], agent.id);
        assert_eq!(now["agent"]["name"], agent_row["name"]);
        assert_eq!(now["last_seq"], 2);
        assert_eq!(now["unread"], 1);
        assert_eq!(now["customer_read_seq"], 0);
        customer.send(json!({"type": "read", "up_to_seq": 2})).await;
        let read = widget_conversation_until(&app, &token, |c| c["customer_read_seq"] == 2).await;
        assert_eq!(read["unread"], 0);

        for bad in [None, Some("not-a-token"), Some(agent.token.as_str())] {
            let res = app.send(Method::GET, "/api/v1/widget/conversation", bad, None).await;
            assert_problem(res, 401, "unauthorized").await;
        }
    }

    async fn the_visitor_panel_gets_user_agent_and_page_url_and_bad_urls_are_refused(app) {
        let admin = app.admin_token().await;
        let long_ua = format!("Mozilla/5.0 (X11; Linux x86_64) {}", "é".repeat(600));
        let res = app.client.post(format!("{}/api/v1/widget/sessions", app.address))
            .header("user-agent", &long_ua)
            .json(&json!({"name": "Ana", "page_url": "https://shop.example/checkout?step=2#pay"}))
            .send().await.unwrap();
        assert_eq!(res.status(), 201);
        let created: Value = res.json().await.unwrap();
        let ua = created["conversation"]["visitor"]["user_agent"].as_str().unwrap().to_owned();
        assert_eq!(ua.chars().count(), 512, "truncated to 512 characters");
        assert!(long_ua.starts_with(&ua));
        let cid = created["conversation_id"].as_i64().unwrap();
        let c: Value = app.get(&format!("/api/v1/conversations/{cid}"), &admin).await.json().await.unwrap();
        assert_eq!(c["visitor"]["user_agent"], json!(ua));
        assert_eq!(c["visitor"]["page_url"], "https://shop.example/checkout?step=2#pay");

        let res = app.client.post(format!("{}/api/v1/widget/offline-messages", app.address))
            .header("user-agent", "TestBrowser/1.0")
            .json(&json!({"email": "ana@example.com", "text": "call me", "page_url": "http://shop.example/"}))
            .send().await.unwrap();
        assert_eq!(res.status(), 201);
        let left: Value = res.json().await.unwrap();
        let c: Value = app.get(&format!("/api/v1/conversations/{}", left["conversation_id"]), &admin).await.json().await.unwrap();
        assert_eq!(c["visitor"]["user_agent"], "TestBrowser/1.0");
        assert_eq!(c["visitor"]["page_url"], "http://shop.example/");

        let (plain, _) = session(&app, json!({})).await;
        let c: Value = app.get(&format!("/api/v1/conversations/{plain}"), &admin).await.json().await.unwrap();
        assert!(c["visitor"]["page_url"].is_null());

        let before = (app.count("visitors").await, app.count("conversations").await);
        for bad in [
            json!("javascript:alert(1)"),
            json!("ftp://shop.example/"),
            json!("https://"),
            json!("https:///path"),
            json!("http://shop.example/a b"),
            json!("https://shop.example/<script>"),
            json!(format!("https://shop.example/{}", "a".repeat(1000))),
            json!(42),
        ] {
            for route in ["/api/v1/widget/sessions", "/api/v1/widget/offline-messages"] {
                let body = json!({"email": "ana@example.com", "text": "hi", "page_url": bad});
                let body = if route.ends_with("sessions") { json!({"page_url": body["page_url"]}) } else { body };
                let res = app.send(Method::POST, route, None, Some(&body)).await;
                assert_problem(res, 422, "bad_request").await;
            }
        }
        assert_eq!((app.count("visitors").await, app.count("conversations").await), before);
    }

    async fn the_public_widget_routes_answer_other_origins_and_staff_routes_do_not(app) {
        let origin = "https://shop.example";
        let pre = app.client.request(Method::OPTIONS, format!("{}/api/v1/widget/sessions", app.address))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type, authorization")
            .send().await.unwrap();
        assert_eq!(pre.status(), 204);
        assert_eq!(pre.headers()["access-control-allow-origin"], "*");
        assert!(pre.headers()["access-control-allow-headers"].to_str().unwrap().contains("authorization"));
        assert!(pre.headers()["access-control-allow-methods"].to_str().unwrap().contains("POST"));
        assert_eq!(app.count("conversations").await, 0, "a preflight starts nothing");

        let res = app.client.post(format!("{}/api/v1/widget/sessions", app.address))
            .header("origin", origin).json(&json!({"name": "Ana"})).send().await.unwrap();
        assert_eq!(res.status(), 201);
        assert_eq!(res.headers()["access-control-allow-origin"], "*");
        let res = app.client.post(format!("{}/api/v1/widget/sessions", app.address))
            .header("origin", origin).json(&json!({"email": "nope"})).send().await.unwrap();
        assert_eq!(res.headers()["access-control-allow-origin"], "*", "errors are readable too");
        assert_problem(res, 422, "bad_request").await;
        let res = app.client.get(format!("{}/api/v1/widget/conversation", app.address))
            .header("origin", origin).send().await.unwrap();
        assert_eq!(res.headers()["access-control-allow-origin"], "*");
        assert!(res.headers()["access-control-expose-headers"].to_str().unwrap().contains("content-disposition"));
        assert_problem(res, 401, "unauthorized").await;

        let admin = app.admin_token().await;
        let res = app.client.get(format!("{}/api/v1/widget/settings", app.address))
            .header("origin", origin).bearer_auth(&admin).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert!(res.headers().get("access-control-allow-origin").is_none(), "staff routes stay same-origin");
        let res = app.client.get(format!("{}/api/v1/users", app.address))
            .header("origin", origin).bearer_auth(&admin).send().await.unwrap();
        assert!(res.headers().get("access-control-allow-origin").is_none());

        let js = app.client.get(format!("{}/widget/switchboard.js", app.address))
            .header("origin", origin).send().await.unwrap();
        assert_eq!(js.status(), 200);
        assert_eq!(js.headers()["access-control-allow-origin"], "*", "modules load cross-origin");
        let packed = app.client.get(format!("{}/widget/widget.js", app.address))
            .header("accept-encoding", "gzip").send().await.unwrap();
        assert_eq!(packed.status(), 200);
        assert_eq!(packed.headers()["content-encoding"], "gzip", "the widget goes out compressed");
        let page = app.client.get(format!("{}/app/", app.address)).send().await.unwrap();
        assert!(page.headers().get("access-control-allow-origin").is_none());
    }
}
