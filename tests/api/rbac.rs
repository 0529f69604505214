//! Every route checks its role: no credentials → 401, a lesser role → 403,
//! and a refused call changes nothing.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Min {
    Public,
    Agent,
    Supervisor,
    Admin,
}

/// One route: method, path template (`{uid}`, `{tid}`, `{sid}` are filled
/// in), a valid body, and the least role that may call it.
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub body: Option<fn() -> Value>,
    pub min: Min,
}

const fn r(method: Method, path: &'static str, body: Option<fn() -> Value>, min: Min) -> Route {
    Route {
        method,
        path,
        body,
        min,
    }
}

/// Every route the server has. The OpenAPI test checks the document against it.
#[rustfmt::skip]
pub fn routes() -> Vec<Route> {
    use Min::*;
    vec![
        r(Method::GET, "/healthz", None, Public),
        r(Method::GET, "/readyz", None, Public),
        r(Method::GET, "/api/v1/openapi.json", None, Public),
        r(Method::POST, "/api/v1/auth/login", Some(|| json!({"email": "x@y.z", "password": "p"})), Public),
        r(Method::POST, "/api/v1/auth/refresh", Some(|| json!({"refresh_token": "x"})), Public),
        r(Method::POST, "/api/v1/auth/logout", Some(|| json!({"refresh_token": "x"})), Public),
        r(Method::GET, "/api/v1/me", None, Agent),
        r(Method::PATCH, "/api/v1/me", Some(|| json!({"status": "away"})), Agent),
        r(Method::POST, "/api/v1/me/password", Some(|| json!({"current_password": "x", "new_password": "yyyyyyyy"})), Agent),
        r(Method::POST, "/api/v1/users", Some(|| json!({"email": "new@test.local", "password": "password-1", "name": "New", "role": "agent"})), Admin),
        r(Method::GET, "/api/v1/users", None, Supervisor),
        r(Method::GET, "/api/v1/users/{uid}", None, Supervisor),
        r(Method::PATCH, "/api/v1/users/{uid}", Some(|| json!({"capacity": 9})), Admin),
        r(Method::POST, "/api/v1/users/{uid}/deactivate", None, Admin),
        r(Method::POST, "/api/v1/users/{uid}/password", Some(|| json!({"password": "password-2"})), Admin),
        r(Method::PUT, "/api/v1/users/{uid}/teams", Some(|| json!({"team_ids": []})), Admin),
        r(Method::PUT, "/api/v1/users/{uid}/skills", Some(|| json!({"skills": {"billing": 2}})), Admin),
        r(Method::POST, "/api/v1/teams", Some(|| json!({"name": "Intruders"})), Admin),
        r(Method::GET, "/api/v1/teams", None, Agent),
        r(Method::GET, "/api/v1/teams/{tid}", None, Agent),
        r(Method::PATCH, "/api/v1/teams/{tid}", Some(|| json!({"name": "Renamed"})), Admin),
        r(Method::DELETE, "/api/v1/teams/{tid}", None, Admin),
        r(Method::PUT, "/api/v1/teams/{tid}/members", Some(|| json!({"user_ids": []})), Admin),
        r(Method::POST, "/api/v1/skills", Some(|| json!({"name": "intrusion"})), Admin),
        r(Method::GET, "/api/v1/skills", None, Agent),
        r(Method::DELETE, "/api/v1/skills/{sid}", None, Admin),
        r(Method::POST, "/api/v1/widget/sessions", Some(|| json!({"name": "Visitor"})), Public),
        r(Method::GET, "/api/v1/conversations", None, Agent),
        r(Method::GET, "/api/v1/conversations/{cid}", None, Agent),
        r(Method::GET, "/api/v1/conversations/{cid}/messages", None, Agent),
        r(Method::POST, "/api/v1/conversations/{cid}/accept", None, Agent),
        r(Method::POST, "/api/v1/conversations/{cid}/assign", Some(|| json!({"agent_id": 1})), Supervisor),
        r(Method::POST, "/api/v1/conversations/{cid}/transfer", Some(|| json!({"team_id": 1})), Agent),
        r(Method::POST, "/api/v1/conversations/{cid}/close", Some(|| json!({})), Agent),
        r(Method::POST, "/api/v1/conversations/{cid}/reopen", None, Agent),
        r(Method::GET, "/api/v1/conversations/{cid}/notes", None, Agent),
        r(Method::POST, "/api/v1/conversations/{cid}/notes", Some(|| json!({"text": "internal"})), Agent),
        r(Method::GET, "/api/v1/routing-rules", None, Supervisor),
        r(Method::POST, "/api/v1/routing-rules", Some(|| json!({"name": "Spanish", "conditions": {"language": "es"}})), Admin),
        r(Method::GET, "/api/v1/routing-rules/{rid}", None, Supervisor),
        r(Method::PATCH, "/api/v1/routing-rules/{rid}", Some(|| json!({"priority": 5})), Admin),
        r(Method::DELETE, "/api/v1/routing-rules/{rid}", None, Admin),
        r(Method::POST, "/api/v1/widget/init", Some(|| json!({})), Public),
        r(Method::POST, "/api/v1/widget/offline-messages", Some(|| json!({"email": "v@example.com", "text": "hello?"})), Public),
        r(Method::GET, "/api/v1/widget/settings", None, Agent),
        r(Method::PUT, "/api/v1/widget/settings", Some(|| json!({"title": "Help", "welcome_message": "Hi", "primary_color": "#112233", "logo_url": null, "position": "left", "pre_chat_fields": [], "offline_message": "Away"})), Admin),
        r(Method::GET, "/api/v1/teams/{tid}/business-hours", None, Agent),
        r(Method::PUT, "/api/v1/teams/{tid}/business-hours", Some(|| json!({"timezone": "UTC", "schedule": {"mon": [["09:00", "17:00"]]}})), Admin),
        r(Method::DELETE, "/api/v1/teams/{tid}/business-hours", None, Admin),
        r(Method::GET, "/api/v1/teams/{tid}/triage", None, Agent),
        r(Method::PUT, "/api/v1/teams/{tid}/triage", Some(|| json!({"welcome": "Hi!", "steps": [{"key": "order", "type": "question", "prompt": "Order?"}]})), Admin),
        r(Method::DELETE, "/api/v1/teams/{tid}/triage", None, Admin),
        r(Method::GET, "/api/v1/reports/sla-breaches", None, Supervisor),
        r(Method::GET, "/api/v1/conversations/{cid}/transcript", None, Agent),
        // These three take the visitor token, not a staff role: their 401s
        // and access rules are pinned in `widget_visitor.rs`.
        r(Method::GET, "/api/v1/widget/conversation", None, Public),
        r(Method::POST, "/api/v1/widget/csat", Some(|| json!({"score": 5})), Public),
        r(Method::GET, "/api/v1/widget/transcript", None, Public),
        r(Method::GET, "/api/v1/tags", None, Agent),
        r(Method::POST, "/api/v1/tags", Some(|| json!({"name": "intruder"})), Admin),
        r(Method::PATCH, "/api/v1/tags/{gid}", Some(|| json!({"color": "#123456"})), Admin),
        r(Method::DELETE, "/api/v1/tags/{gid}", None, Admin),
        r(Method::PUT, "/api/v1/conversations/{cid}/tags", Some(|| json!({"tags": ["vip"]})), Agent),
        r(Method::POST, "/api/v1/conversations/{cid}/tags", Some(|| json!({"tags": ["vip"]})), Agent),
        r(Method::DELETE, "/api/v1/conversations/{cid}/tags/{name}", None, Agent),
        r(Method::GET, "/api/v1/macros", None, Agent),
        r(Method::POST, "/api/v1/macros", Some(|| json!({"title": "Hello", "content": "Hi there"})), Agent),
        r(Method::GET, "/api/v1/macros/{mid}", None, Agent),
        r(Method::PATCH, "/api/v1/macros/{mid}", Some(|| json!({"title": "Hello again"})), Agent),
        r(Method::DELETE, "/api/v1/macros/{mid}", None, Agent),
        r(Method::GET, "/api/v1/visitors/{vid}", None, Agent),
        r(Method::GET, "/api/v1/conversation-previews?ids=1", None, Agent),
        r(Method::GET, "/api/v1/agents", None, Agent),
    ]
}

/// A tag, a macro and the conversation's visitor for the dashboard routes:
/// (tag id, macro id, visitor id).
async fn dashboard_fixtures(app: &TestApp, admin: &str, cid: i64) -> (i64, i64, i64) {
    let tag: Value = app
        .post("/api/v1/tags", admin, json!({"name": "vip"}))
        .await
        .json()
        .await
        .unwrap();
    let m: Value = app
        .post(
            "/api/v1/macros",
            admin,
            json!({"title": "Greeting", "content": "Hello!"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let c: Value = app
        .get(&format!("/api/v1/conversations/{cid}"), admin)
        .await
        .json()
        .await
        .unwrap();
    (
        tag["id"].as_i64().unwrap(),
        m["id"].as_i64().unwrap(),
        c["visitor"]["id"].as_i64().unwrap(),
    )
}

/// Rows that any successful write would change.
async fn snapshot(app: &TestApp) -> Vec<i64> {
    let mut out = Vec::new();
    for t in [
        "users",
        "teams",
        "team_members",
        "skills",
        "agent_skills",
        "audit_log",
        "refresh_tokens",
        "triage_flows",
        "tags",
        "conversation_tags",
        "macros",
    ] {
        out.push(app.count(t).await);
    }
    out
}

on_both! {
    async fn every_route_refuses_missing_credentials_and_lesser_roles(app) {
        let admin = app.admin_token().await;
        let tid = app.create_team(&admin, "Support").await;
        let target = app.create_user(&admin, "agent", json!({"team_ids": [tid], "skills": {"billing": 1}})).await;
        let sid = app.get("/api/v1/skills", &admin).await.json::<Value>().await.unwrap()["items"][0]["id"].as_i64().unwrap();
        let agent = app.create_user(&admin, "agent", json!({"team_ids": [tid]})).await;
        let supervisor = app.create_user(&admin, "supervisor", json!({"team_ids": [tid]})).await;
        let (cid, _) = crate::realtime::widget_session(&app, json!({"issue_type": "Support"})).await;
        let rid = app.post("/api/v1/routing-rules", &admin, json!({"name": "Default"})).await.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
        let (gid, mid, vid) = dashboard_fixtures(&app, &admin, cid).await;
        let fill = |p: &str| p.replace("{uid}", &target.id.to_string()).replace("{tid}", &tid.to_string()).replace("{sid}", &sid.to_string()).replace("{cid}", &cid.to_string()).replace("{rid}", &rid.to_string())
            .replace("{gid}", &gid.to_string()).replace("{mid}", &mid.to_string()).replace("{vid}", &vid.to_string()).replace("{name}", "vip");

        let before = snapshot(&app).await;
        for route in routes() {
            let path = fill(route.path);
            let body = route.body.map(|b| b());
            if route.min > Min::Public {
                let res = app.send(route.method.clone(), &path, None, body.as_ref()).await;
                assert_eq!(res.status(), 401, "{} {path} without credentials", route.method);
                assert_problem(res, 401, "unauthorized").await;
            }
            for (who, token, level) in [("agent", &agent.token, Min::Agent), ("supervisor", &supervisor.token, Min::Supervisor)] {
                if level < route.min {
                    let res = app.send(route.method.clone(), &path, Some(token), body.as_ref()).await;
                    assert_eq!(res.status(), 403, "{} {path} as {who}", route.method);
                    assert_problem(res, 403, "forbidden").await;
                }
            }
        }
        assert_eq!(snapshot(&app).await, before, "a refused call changed the store");
    }
}

/// Routes whose body has required fields (`{}` must be refused).
fn needs_fields(route: &Route) -> bool {
    let path = route.path;
    matches!(
        (route.method.as_str(), path),
        ("POST", "/api/v1/auth/login")
            | ("POST", "/api/v1/auth/refresh")
            | ("POST", "/api/v1/auth/logout")
            | ("POST", "/api/v1/me/password")
            | ("POST", "/api/v1/users")
            | ("POST", "/api/v1/users/{uid}/password")
            | ("PUT", "/api/v1/users/{uid}/teams")
            | ("PUT", "/api/v1/users/{uid}/skills")
            | ("POST", "/api/v1/teams")
            | ("PUT", "/api/v1/teams/{tid}/members")
            | ("POST", "/api/v1/skills")
            | ("POST", "/api/v1/conversations/{cid}/assign")
            | ("POST", "/api/v1/conversations/{cid}/notes")
            | ("POST", "/api/v1/routing-rules")
            | ("POST", "/api/v1/widget/offline-messages")
            | ("PUT", "/api/v1/widget/settings")
            | ("PUT", "/api/v1/teams/{tid}/business-hours")
            | ("PUT", "/api/v1/teams/{tid}/triage")
            | ("POST", "/api/v1/widget/csat")
            | ("POST", "/api/v1/tags")
            | ("PUT", "/api/v1/conversations/{cid}/tags")
            | ("POST", "/api/v1/conversations/{cid}/tags")
            | ("POST", "/api/v1/macros")
    )
}

on_both! {
    async fn every_route_refuses_bad_input_without_changing_anything(app) {
        let admin = app.admin_token().await;
        let tid = app.create_team(&admin, "Support").await;
        let target = app.create_user(&admin, "agent", json!({"team_ids": [tid], "skills": {"billing": 1}})).await;
        let sid = app.get("/api/v1/skills", &admin).await.json::<Value>().await.unwrap()["items"][0]["id"].as_i64().unwrap();
        let (cid, _) = crate::realtime::widget_session(&app, json!({"issue_type": "Support"})).await;
        let rid = app.post("/api/v1/routing-rules", &admin, json!({"name": "Default"})).await.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
        let (gid, mid, vid) = dashboard_fixtures(&app, &admin, cid).await;
        let fill = |p: &str, unknown: bool| {
            let (u, t, s, c, r) = if unknown {
                ("987654".to_owned(), "987654".to_owned(), "987654".to_owned(), "987654".to_owned(), "987654".to_owned())
            } else {
                (target.id.to_string(), tid.to_string(), sid.to_string(), cid.to_string(), rid.to_string())
            };
            let (g, m, v, n) = if unknown {
                ("987654".to_owned(), "987654".to_owned(), "987654".to_owned(), "nonesuch")
            } else {
                (gid.to_string(), mid.to_string(), vid.to_string(), "vip")
            };
            p.replace("{uid}", &u).replace("{tid}", &t).replace("{sid}", &s).replace("{cid}", &c).replace("{rid}", &r)
                .replace("{gid}", &g).replace("{mid}", &m).replace("{vid}", &v).replace("{name}", n)
        };
        let before = snapshot(&app).await;
        let conversations_before = app.count("conversations").await;
        for route in routes() {
            let path = fill(route.path, false);
            let url = format!("{}{}", app.address, path);
            let raw = |body: String| {
                app.client
                    .request(route.method.clone(), &url)
                    .bearer_auth(&admin)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
            };
            if route.body.is_some() {
                let what = format!("{} {path}", route.method);
                let res = raw("{\"broken".into()).await.unwrap();
                assert_eq!(res.status(), 400, "malformed JSON on {what}");
                assert_problem(res, 400, "bad_request").await;
                let res = raw("\"not an object\"".into()).await.unwrap();
                assert_eq!(res.status(), 422, "wrong type on {what}");
                assert_problem(res, 422, "bad_request").await;
                let res = raw(format!("{{\"pad\": \"{}\"}}", "x".repeat(70_000))).await.unwrap();
                assert_eq!(res.status(), 413, "oversize on {what}");
                assert_problem(res, 413, "too_large").await;
                if needs_fields(&route) {
                    let res = raw("{}".into()).await.unwrap();
                    assert_eq!(res.status(), 422, "missing fields on {what}");
                    assert_problem(res, 422, "bad_request").await;
                }
            }
            if route.path.contains('{') {
                let unknown = fill(route.path, true);
                let body = route.body.map(|b| b());
                let res = app.send(route.method.clone(), &unknown, Some(&admin), body.as_ref()).await;
                assert_eq!(res.status(), 404, "unknown id on {} {unknown}", route.method);
                assert_problem(res, 404, "not_found").await;
            }
        }
        assert_eq!(snapshot(&app).await, before, "a refused call changed the store");
        assert_eq!(app.count("conversations").await, conversations_before);
    }
}
