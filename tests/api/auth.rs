//! Login, refresh rotation, logout, deactivation and login rate limits.

use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both;

on_both! {
    async fn login_returns_tokens_and_the_user(app) {
        let body = app.login("  ADMIN@test.local ", ADMIN_PASSWORD).await;
        assert!(body["access_token"].as_str().unwrap().len() > 20);
        assert!(body["refresh_token"].as_str().unwrap().len() > 20);
        assert_eq!(body["expires_in"], 900);
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["user"]["email"], ADMIN_EMAIL);
        assert_eq!(body["user"]["role"], "admin");
        assert!(body["user"]["id"].is_i64());
        assert!(body["user"]["name"].is_string());
    }

    async fn a_wrong_password_and_an_unknown_email_get_the_same_401(app) {
        let wrong = app.login_response(ADMIN_EMAIL, "not-the-password").await;
        let a = assert_problem(wrong, 401, "unauthorized").await;
        let unknown = app.login_response("nobody@test.local", "whatever-pass").await;
        let b = assert_problem(unknown, 401, "unauthorized").await;
        assert_eq!(a["detail"], b["detail"]);
    }

    async fn refresh_rotates_and_a_reused_token_ends_the_session(app) {
        let first = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let r1 = first["refresh_token"].as_str().unwrap();
        let res = app.send(reqwest::Method::POST, "/api/v1/auth/refresh", None, Some(&json!({"refresh_token": r1}))).await;
        assert_eq!(res.status(), 200);
        let second: Value = res.json().await.unwrap();
        let r2 = second["refresh_token"].as_str().unwrap();
        assert_ne!(r1, r2);
        let access2 = second["access_token"].as_str().unwrap();
        assert_eq!(app.get("/api/v1/me", access2).await.status(), 200);

        // Replaying the used token is theft or a bug: the whole session ends.
        let replay = app.send(reqwest::Method::POST, "/api/v1/auth/refresh", None, Some(&json!({"refresh_token": r1}))).await;
        assert_problem(replay, 401, "unauthorized").await;
        let after = app.send(reqwest::Method::POST, "/api/v1/auth/refresh", None, Some(&json!({"refresh_token": r2}))).await;
        assert_problem(after, 401, "unauthorized").await;
        assert_problem(app.get("/api/v1/me", access2).await, 401, "unauthorized").await;
    }

    async fn logout_ends_the_session_for_refresh_and_access_tokens(app) {
        let s1 = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let s2 = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let res = app.send(reqwest::Method::POST, "/api/v1/auth/logout", None, Some(&json!({"refresh_token": s1["refresh_token"]}))).await;
        assert_eq!(res.status(), 204);
        let refresh = app.send(reqwest::Method::POST, "/api/v1/auth/refresh", None, Some(&json!({"refresh_token": s1["refresh_token"]}))).await;
        assert_problem(refresh, 401, "unauthorized").await;
        assert_problem(app.get("/api/v1/me", s1["access_token"].as_str().unwrap()).await, 401, "unauthorized").await;
        // The other session is untouched.
        assert_eq!(app.get("/api/v1/me", s2["access_token"].as_str().unwrap()).await.status(), 200);
    }

    async fn a_deactivated_user_cannot_log_in_refresh_or_use_its_token(app) {
        let admin = app.admin_token().await;
        let agent = app.create_user(&admin, "agent", json!({})).await;
        assert_eq!(app.get("/api/v1/me", &agent.token).await.status(), 200);
        let res = app.post(&format!("/api/v1/users/{}/deactivate", agent.id), &admin, json!({})).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.json::<Value>().await.unwrap()["active"], false);
        let me = app.get("/api/v1/me", &agent.token).await;
        assert_problem(me, 401, "unauthorized").await;
        let refresh = app.send(reqwest::Method::POST, "/api/v1/auth/refresh", None, Some(&json!({"refresh_token": agent.refresh_token}))).await;
        assert_problem(refresh, 401, "unauthorized").await;
        let login = app.login_response(&agent.email, USER_PASSWORD).await;
        assert_problem(login, 401, "unauthorized").await;
        // Reactivation lets the user back in.
        let res = app.patch(&format!("/api/v1/users/{}", agent.id), &admin, json!({"active": true})).await;
        assert_eq!(res.status(), 200);
        assert_eq!(app.login_response(&agent.email, USER_PASSWORD).await.status(), 200);
    }

    async fn a_forged_or_garbage_token_gets_401(app) {
        let token = app.admin_token().await;
        let mut forged = token.clone();
        forged.pop();
        forged.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert_problem(app.get("/api/v1/me", &forged).await, 401, "unauthorized").await;
        assert_problem(app.get("/api/v1/me", "not.a.jwt").await, 401, "unauthorized").await;
        let res = app.client.get(format!("{}/api/v1/me", app.address)).header("Authorization", "Basic abc").send().await.unwrap();
        let www = res.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(www.as_deref(), Some("Bearer"));
        assert_problem(res, 401, "unauthorized").await;
    }
}

mod rate_limits {
    use super::*;

    async fn limited_app(backend: Backend) -> Option<TestApp> {
        spawn_app_with(backend, |s| {
            s.limits.login_per_account_per_minute = 3;
            s.limits.login_per_ip_per_minute = 6;
        })
        .await
    }

    #[actix_web::test]
    async fn login_is_limited_per_account_with_retry_after() {
        let app = limited_app(Backend::Sqlite).await.unwrap();
        for _ in 0..3 {
            assert_eq!(
                app.login_response(ADMIN_EMAIL, "wrong-password")
                    .await
                    .status(),
                401
            );
        }
        // Even the right password is refused now, and nothing is checked.
        let res = app.login_response(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let retry: u64 = res
            .headers()
            .get("retry-after")
            .unwrap()
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
        assert_problem(res, 429, "rate_limited").await;
        // Another account from the same IP still works.
        assert_eq!(
            app.login_response("other@test.local", "whatever-pass")
                .await
                .status(),
            401
        );
        app.finish().await;
    }

    #[actix_web::test]
    async fn login_is_limited_per_ip_across_accounts() {
        let app = limited_app(Backend::Sqlite).await.unwrap();
        for i in 0..6 {
            let res = app
                .login_response(&format!("u{i}@test.local"), "whatever-pass")
                .await;
            assert_eq!(res.status(), 401);
        }
        let res = app.login_response("u9@test.local", "whatever-pass").await;
        assert!(res.headers().contains_key("retry-after"));
        assert_problem(res, 429, "rate_limited").await;
        app.finish().await;
    }
}
