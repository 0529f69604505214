//! Admin REST for users.

use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both;

on_both! {
    async fn two_admins_deactivating_each_other_at_once_leave_one(app) {
        // Each counted two active admins before either wrote: PostgreSQL
        // let both through and left none.
        let mut survivor = app.admin_token().await;
        let me: Value = app.get("/api/v1/me", &survivor).await.json().await.unwrap();
        let mut survivor_id = me["id"].as_i64().unwrap();
        for round in 0..6 {
            let other = app.create_user(&survivor, "admin", json!({})).await;
            let (a, b) = (format!("/api/v1/users/{}/deactivate", other.id), format!("/api/v1/users/{survivor_id}/deactivate"));
            let (ra, rb) = tokio::join!(
                app.post(&a, &survivor, json!({})),
                app.post(&b, &other.token, json!({})),
            );
            let statuses = [ra.status().as_u16(), rb.status().as_u16()];
            // The loser is refused as the last admin (409), or, when the
            // winner's commit came first, no longer signed in (401).
            assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "round {round}: {statuses:?}");
            assert!(statuses.iter().all(|s| [200, 401, 409].contains(s)), "round {round}: {statuses:?}");
            let admins: i64 = {
                use sea_orm::{ConnectionTrait, Statement};
                let row = app.db.query_one_raw(Statement::from_string(app.db.get_database_backend(),
                    "SELECT COUNT(*) AS n FROM users WHERE role = 'admin' AND active")).await.unwrap().unwrap();
                row.try_get("", "n").unwrap()
            };
            assert_eq!(admins, 1, "round {round}");
            if statuses[1] == 200 {
                survivor = other.token.clone();
                survivor_id = other.id;
            }
        }
    }

    async fn an_admin_creates_a_user_with_teams_skills_and_capacity(app) {
        let admin = app.admin_token().await;
        let sales = app.create_team(&admin, "Sales").await;
        let res = app.post("/api/v1/users", &admin, json!({
            "email": "Ana@Example.com", "password": "secret-pass", "name": "Ana",
            "role": "agent", "capacity": 5, "team_ids": [sales, sales],
            "skills": {"language:es": 3, "Billing": 2}
        })).await;
        assert_eq!(res.status(), 201);
        let u: Value = res.json().await.unwrap();
        assert_eq!(u["email"], "ana@example.com");
        assert_eq!(u["role"], "agent");
        assert_eq!(u["capacity"], 5);
        assert_eq!(u["status"], "offline");
        assert_eq!(u["active"], true);
        assert_eq!(u["teams"], json!([{"id": sales, "name": "Sales"}]));
        assert_eq!(u["skills"], json!({"billing": 2, "language:es": 3}));
        assert!(u.get("password_hash").is_none() && u.get("password").is_none());
        // The new user can log in and sees the same through /me.
        let pair = app.login("ana@example.com", "secret-pass").await;
        let me: Value = app.get("/api/v1/me", pair["access_token"].as_str().unwrap()).await.json().await.unwrap();
        assert_eq!(me["skills"], u["skills"]);
        assert_eq!(me["teams"], u["teams"]);
    }

    async fn a_duplicate_email_is_409_and_creates_nothing(app) {
        let admin = app.admin_token().await;
        app.create_user(&admin, "agent", json!({})).await;
        let before = app.count("users").await;
        let res = app.post("/api/v1/users", &admin, json!({
            "email": "ADMIN@test.local", "password": "secret-pass", "name": "Dup", "role": "agent"
        })).await;
        assert_problem(res, 409, "conflict").await;
        assert_eq!(app.count("users").await, before);
    }

    async fn invalid_fields_are_each_named_and_nothing_is_created(app) {
        let admin = app.admin_token().await;
        let before = (app.count("users").await, app.count("skills").await);
        let res = app.post("/api/v1/users", &admin, json!({
            "email": "not-an-email", "password": "short", "name": "<b>x</b>",
            "role": "agent", "capacity": 0, "skills": {"bad skill": 9}
        })).await;
        let body = assert_problem(res, 422, "bad_request").await;
        let fields: Vec<&str> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        for f in ["email", "password", "name", "capacity", "skills.bad skill"] {
            assert!(fields.contains(&f), "{f} not in {fields:?}");
        }
        assert_eq!((app.count("users").await, app.count("skills").await), before);
    }

    async fn an_unknown_team_rolls_the_whole_create_back(app) {
        let admin = app.admin_token().await;
        let before = (app.count("users").await, app.count("skills").await, app.count("audit_log").await);
        let res = app.post("/api/v1/users", &admin, json!({
            "email": "x@test.local", "password": "secret-pass", "name": "X", "role": "agent",
            "team_ids": [424242], "skills": {"brand-new-skill": 1}
        })).await;
        let body = assert_problem(res, 422, "bad_request").await;
        assert_eq!(body["errors"][0]["field"], "team_ids");
        assert_eq!((app.count("users").await, app.count("skills").await, app.count("audit_log").await), before);
    }

    async fn users_list_in_pages_with_a_cursor_and_filters(app) {
        let admin = app.admin_token().await;
        for _ in 0..4 {
            app.create_user(&admin, "agent", json!({})).await;
        }
        app.create_user(&admin, "supervisor", json!({})).await;
        let mut seen = Vec::new();
        let mut path = "/api/v1/users?limit=2".to_owned();
        loop {
            let page: Value = app.get(&path, &admin).await.json().await.unwrap();
            let items = page["items"].as_array().unwrap();
            assert!(items.len() <= 2);
            seen.extend(items.iter().map(|u| u["id"].as_i64().unwrap()));
            match page["next_cursor"].as_str() {
                Some(c) => path = format!("/api/v1/users?limit=2&cursor={c}"),
                None => break,
            }
        }
        assert_eq!(seen.len(), 6);
        let mut sorted = seen.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted, seen, "pages overlap or are out of order");
        let agents: Value = app.get("/api/v1/users?role=agent", &admin).await.json().await.unwrap();
        assert_eq!(agents["items"].as_array().unwrap().len(), 4);
        assert!(agents["next_cursor"].is_null());
        let bad = app.get("/api/v1/users?cursor=garbage", &admin).await;
        assert_problem(bad, 422, "bad_request").await;
        let bad = app.get("/api/v1/users?limit=0", &admin).await;
        assert_problem(bad, 422, "bad_request").await;
        let bad = app.get("/api/v1/users?role=root", &admin).await;
        assert_problem(bad, 422, "bad_request").await;
    }

    async fn a_supervisor_sees_only_members_of_its_own_teams(app) {
        let admin = app.admin_token().await;
        let a = app.create_team(&admin, "A").await;
        let b = app.create_team(&admin, "B").await;
        let sup = app.create_user(&admin, "supervisor", json!({"team_ids": [a]})).await;
        let mate = app.create_user(&admin, "agent", json!({"team_ids": [a]})).await;
        let stranger = app.create_user(&admin, "agent", json!({"team_ids": [b]})).await;
        let list: Value = app.get("/api/v1/users", &sup.token).await.json().await.unwrap();
        let ids: Vec<i64> = list["items"].as_array().unwrap().iter().map(|u| u["id"].as_i64().unwrap()).collect();
        assert!(ids.contains(&mate.id) && ids.contains(&sup.id), "{ids:?}");
        assert!(!ids.contains(&stranger.id), "{ids:?}");
        assert_eq!(app.get(&format!("/api/v1/users/{}", mate.id), &sup.token).await.status(), 200);
        let hidden = app.get(&format!("/api/v1/users/{}", stranger.id), &sup.token).await;
        assert_problem(hidden, 404, "not_found").await;
        let other_team: Value = app.get(&format!("/api/v1/users?team_id={b}"), &sup.token).await.json().await.unwrap();
        assert_eq!(other_team["items"], json!([]));
    }

    async fn an_admin_updates_role_capacity_name_and_email(app) {
        let admin = app.admin_token().await;
        let u = app.create_user(&admin, "agent", json!({})).await;
        let res = app.patch(&format!("/api/v1/users/{}", u.id), &admin, json!({
            "role": "supervisor", "capacity": 8, "name": "Renamed", "email": "renamed@test.local"
        })).await;
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["role"], "supervisor");
        assert_eq!(body["capacity"], 8);
        assert_eq!(body["name"], "Renamed");
        assert_eq!(body["email"], "renamed@test.local");
        // The live role counts at once, even with an older token.
        assert_eq!(app.get("/api/v1/users", &u.token).await.status(), 200);
        let clash = app.patch(&format!("/api/v1/users/{}", u.id), &admin, json!({"email": ADMIN_EMAIL})).await;
        assert_problem(clash, 409, "conflict").await;
        let bad = app.patch(&format!("/api/v1/users/{}", u.id), &admin, json!({"capacity": 51, "name": "ok"})).await;
        assert_problem(bad, 422, "bad_request").await;
        let after: Value = app.get(&format!("/api/v1/users/{}", u.id), &admin).await.json().await.unwrap();
        assert_eq!(after["name"], "Renamed", "a refused update changed a field");
        assert_eq!(after["capacity"], 8);
    }

    async fn the_last_active_admin_cannot_be_demoted_or_deactivated(app) {
        let admin = app.admin_token().await;
        let me: Value = app.get("/api/v1/me", &admin).await.json().await.unwrap();
        let id = me["id"].as_i64().unwrap();
        let demote = app.patch(&format!("/api/v1/users/{id}"), &admin, json!({"role": "agent"})).await;
        assert_problem(demote, 409, "conflict").await;
        let off = app.post(&format!("/api/v1/users/{id}/deactivate"), &admin, json!({})).await;
        assert_problem(off, 409, "conflict").await;
        // With a second admin it is allowed.
        let other = app.create_user(&admin, "admin", json!({})).await;
        let demote = app.patch(&format!("/api/v1/users/{id}"), &other.token, json!({"role": "agent"})).await;
        assert_eq!(demote.status(), 200);
    }

    async fn a_password_reset_works_and_ends_the_users_sessions(app) {
        let admin = app.admin_token().await;
        let u = app.create_user(&admin, "agent", json!({})).await;
        let res = app.post(&format!("/api/v1/users/{}/password", u.id), &admin, json!({"password": "brand-new-pass"})).await;
        assert_eq!(res.status(), 204);
        assert_problem(app.get("/api/v1/me", &u.token).await, 401, "unauthorized").await;
        assert_eq!(app.login_response(&u.email, USER_PASSWORD).await.status(), 401);
        assert_eq!(app.login_response(&u.email, "brand-new-pass").await.status(), 200);
        let short = app.post(&format!("/api/v1/users/{}/password", u.id), &admin, json!({"password": "short"})).await;
        assert_problem(short, 422, "bad_request").await;
    }

    async fn teams_and_skills_of_a_user_are_replaced_whole(app) {
        let admin = app.admin_token().await;
        let a = app.create_team(&admin, "A").await;
        let b = app.create_team(&admin, "B").await;
        let u = app.create_user(&admin, "agent", json!({"team_ids": [a], "skills": {"billing": 2}})).await;
        let res = app.put(&format!("/api/v1/users/{}/teams", u.id), &admin, json!({"team_ids": [b]})).await;
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["teams"], json!([{"id": b, "name": "B"}]));
        let res = app.put(&format!("/api/v1/users/{}/skills", u.id), &admin, json!({"skills": {"language:pt": 4}})).await;
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["skills"], json!({"language:pt": 4}));
        let bad = app.put(&format!("/api/v1/users/{}/skills", u.id), &admin, json!({"skills": {"x": 0}})).await;
        assert_problem(bad, 422, "bad_request").await;
        let bad = app.put(&format!("/api/v1/users/{}/teams", u.id), &admin, json!({"team_ids": [99999]})).await;
        assert_problem(bad, 422, "bad_request").await;
        let after: Value = app.get(&format!("/api/v1/users/{}", u.id), &admin).await.json().await.unwrap();
        assert_eq!(after["skills"], json!({"language:pt": 4}));
        assert_eq!(after["teams"], json!([{"id": b, "name": "B"}]));
    }

    async fn unknown_and_malformed_user_ids_are_404(app) {
        let admin = app.admin_token().await;
        for path in ["/api/v1/users/999999", "/api/v1/users/abc", "/api/v1/users/-1", "/api/v1/users/99999999999999999999999"] {
            assert_problem(app.get(path, &admin).await, 404, "not_found").await;
        }
        let res = app.patch("/api/v1/users/999999", &admin, json!({"name": "x"})).await;
        assert_problem(res, 404, "not_found").await;
        let res = app.post("/api/v1/users/999999/deactivate", &admin, json!({})).await;
        assert_problem(res, 404, "not_found").await;
    }

    async fn user_changes_are_audited(app) {
        let admin = app.admin_token().await;
        let u = app.create_user(&admin, "agent", json!({})).await;
        app.patch(&format!("/api/v1/users/{}", u.id), &admin, json!({"capacity": 4})).await;
        let entries = switchboard::store::audit::for_target(&app.db, "user", u.id).await.unwrap();
        let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, vec!["user.update", "user.create"]);
        assert_eq!(entries[0].details["changed"], json!(["capacity"]));
        assert!(entries[0].actor_id.is_some());
        assert_eq!(entries[0].ip.as_deref(), Some("127.0.0.1"));
    }
}
