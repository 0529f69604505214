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

    async fn unknown_routes_are_404_problems(app) {
        let res = app.send(Method::GET, "/api/v1/nope", None, None).await;
        assert_problem(res, 404, "not_found").await;
        // (`/` itself redirects to the staff app, see assets.rs.)
        let res = app.send(Method::GET, "/nope", None, None).await;
        assert_problem(res, 404, "not_found").await;
    }
}
