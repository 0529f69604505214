//! The caller's own account.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both;

on_both! {
    async fn me_shows_teams_skills_capacity_and_status(app) {
        let admin = app.admin_token().await;
        let t = app.create_team(&admin, "Billing").await;
        let u = app.create_user(&admin, "agent", json!({"team_ids": [t], "skills": {"billing": 3}, "capacity": 4})).await;
        let me: Value = app.get("/api/v1/me", &u.token).await.json().await.unwrap();
        assert_eq!(me["id"], u.id);
        assert_eq!(me["teams"], json!([{"id": t, "name": "Billing"}]));
        assert_eq!(me["skills"], json!({"billing": 3}));
        assert_eq!(me["capacity"], 4);
        assert_eq!(me["status"], "offline");
        assert_eq!(me["role"], "agent");
    }

    async fn patch_me_changes_name_and_status_and_refuses_bad_values_whole(app) {
        let admin = app.admin_token().await;
        let u = app.create_user(&admin, "agent", json!({})).await;
        let res = app.patch("/api/v1/me", &u.token, json!({"name": "New Name", "status": "online"})).await;
        assert_eq!(res.status(), 200);
        let me: Value = res.json().await.unwrap();
        assert_eq!(me["name"], "New Name");
        assert_eq!(me["status"], "online");
        let bad = app.patch("/api/v1/me", &u.token, json!({"name": "Other", "status": "busy"})).await;
        let body = assert_problem(bad, 422, "bad_request").await;
        assert_eq!(body["errors"][0]["field"], "status");
        let me: Value = app.get("/api/v1/me", &u.token).await.json().await.unwrap();
        assert_eq!(me["name"], "New Name");
        // Role and capacity are not the user's to change.
        let sneaky = app.patch("/api/v1/me", &u.token, json!({"role": "admin"})).await;
        assert_problem(sneaky, 422, "bad_request").await;
    }

    async fn changing_my_password_needs_the_current_one_and_ends_other_sessions(app) {
        let admin = app.admin_token().await;
        let u = app.create_user(&admin, "agent", json!({})).await;
        let wrong = app.post("/api/v1/me/password", &u.token, json!({"current_password": "nope-nope", "new_password": "another-pass"})).await;
        assert_problem(wrong, 422, "bad_request").await;
        let weak = app.post("/api/v1/me/password", &u.token, json!({"current_password": USER_PASSWORD, "new_password": "short"})).await;
        assert_problem(weak, 422, "bad_request").await;
        let res = app.post("/api/v1/me/password", &u.token, json!({"current_password": USER_PASSWORD, "new_password": "another-pass"})).await;
        assert_eq!(res.status(), 200);
        let pair: Value = res.json().await.unwrap();
        assert_eq!(app.get("/api/v1/me", pair["access_token"].as_str().unwrap()).await.status(), 200);
        assert_problem(app.get("/api/v1/me", &u.token).await, 401, "unauthorized").await;
        let old_refresh = app.send(Method::POST, "/api/v1/auth/refresh", None, Some(&json!({"refresh_token": u.refresh_token}))).await;
        assert_problem(old_refresh, 401, "unauthorized").await;
        assert_eq!(app.login_response(&u.email, "another-pass").await.status(), 200);
    }
}
