//! Bad input gets a clear problem+json answer and changes nothing.

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;
use crate::on_both;

on_both! {
    async fn malformed_wrong_typed_missing_unknown_and_oversize_bodies_are_refused(app) {
        let admin = app.admin_token().await;
        let before = app.count("users").await;
        let url = format!("{}/api/v1/users", app.address);
        let raw = |body: String, ct: &'static str| {
            app.client.post(&url).bearer_auth(&admin).header("content-type", ct).body(body).send()
        };
        let res = raw("{\"email\": ".into(), "application/json").await.unwrap();
        assert_problem(res, 400, "bad_request").await;
        let res = raw("not json at all".into(), "application/json").await.unwrap();
        assert_problem(res, 400, "bad_request").await;
        let res = raw("{}".into(), "text/plain").await.unwrap();
        assert_problem(res, 400, "bad_request").await;
        let res = app.post("/api/v1/users", &admin, json!({"email": 5, "password": "secret-pass", "name": "N", "role": "agent"})).await;
        assert_problem(res, 422, "bad_request").await;
        let res = app.post("/api/v1/users", &admin, json!({"password": "secret-pass", "name": "N", "role": "agent"})).await;
        let body = assert_problem(res, 422, "bad_request").await;
        assert!(body["detail"].as_str().unwrap().contains("email"), "{body}");
        let res = app.post("/api/v1/users", &admin, json!({"email": "a@b.co", "password": "secret-pass", "name": "N", "role": "agent", "is_root": true})).await;
        let body = assert_problem(res, 422, "bad_request").await;
        assert!(body["detail"].as_str().unwrap().contains("is_root"), "{body}");
        let res = app.post("/api/v1/users", &admin, json!({"email": "a@b.co", "password": "secret-pass", "name": "N", "role": "root"})).await;
        assert_problem(res, 422, "bad_request").await;
        let huge = json!({"email": "a@b.co", "password": "secret-pass", "name": "x".repeat(100_000), "role": "agent"});
        let res = app.post("/api/v1/users", &admin, huge).await;
        assert_problem(res, 413, "too_large").await;
        assert_eq!(app.count("users").await, before);
    }

    async fn a_nul_character_anywhere_in_a_request_is_refused_and_changes_nothing(app) {
        let admin = app.admin_token().await;
        let before = app.count("macros").await;
        // On PostgreSQL a NUL reached the INSERT and came back as a 500; on
        // SQLite it was stored.
        let res = app.post("/api/v1/macros", &admin, json!({"title": "t", "content": "a\u{0}b", "scope": "global"})).await;
        let body = assert_problem(res, 400, "bad_request").await;
        assert!(body["detail"].as_str().unwrap().contains("NUL"), "{body}");
        let res = app.post("/api/v1/macros", &admin, json!({"title": "t", "content": "c", "scope": "global", "x\u{0}": 1})).await;
        assert_problem(res, 400, "bad_request").await;
        assert_eq!(app.count("macros").await, before);
        let res = app.get("/api/v1/macros?q=a%00", &admin).await;
        assert_problem(res, 400, "bad_request").await;
        let res = app.get("/api/v1/conversations/%00", &admin).await;
        assert_problem(res, 400, "bad_request").await;
        // A public widget route: refused the same way, still readable cross-origin.
        let conversations = app.count("conversations").await;
        let res = app.client.post(format!("{}/api/v1/widget/sessions", app.address))
            .header("origin", "https://shop.example")
            .json(&json!({"name": "Ana", "custom_fields": {"plan": "\u{0}"}}))
            .send().await.unwrap();
        assert_eq!(res.headers().get("access-control-allow-origin").map(|v| v.to_str().unwrap()), Some("*"));
        assert_problem(res, 400, "bad_request").await;
        assert_eq!(app.count("conversations").await, conversations);
        // A backslash followed by "u0000" is text like any other.
        let res = app.post("/api/v1/macros", &admin, json!({"title": "t", "content": "a\\u0000b", "scope": "global"})).await;
        assert_eq!(res.status(), 201);
        let res = app.get("/api/v1/macros?q=%2500", &admin).await;
        assert_eq!(res.status(), 200);
    }

    async fn unknown_routes_are_404_problems(app) {
        let res = app.send(Method::GET, "/api/v1/nope", None, None).await;
        assert_problem(res, 404, "not_found").await;
        let res = app.send(Method::GET, "/nope", None, None).await;
        assert_problem(res, 404, "not_found").await;
        let res = app.send(Method::POST, "/app/", None, None).await;
        assert_problem(res, 404, "not_found").await;
    }
}
