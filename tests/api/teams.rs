//! Teams: create, read, change, delete, members, fallback rules.

use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both;

on_both! {
    async fn two_fallbacks_set_at_once_cannot_make_a_circle(app) {
        // Each change passes the cycle check against the other's old state
        // unless the checks are serial: PostgreSQL answered 200 to both
        // A → B and B → A sent at once, and overflow then went round.
        let admin = app.admin_token().await;
        for round in 0..8 {
            let a = app.create_team(&admin, &format!("A{round}")).await;
            let b = app.create_team(&admin, &format!("B{round}")).await;
            let (pa, pb) = (format!("/api/v1/teams/{a}"), format!("/api/v1/teams/{b}"));
            let (ra, rb) = tokio::join!(
                app.patch(&pa, &admin, json!({"fallback_team_id": b})),
                app.patch(&pb, &admin, json!({"fallback_team_id": a})),
            );
            let statuses = [ra.status().as_u16(), rb.status().as_u16()];
            assert!(statuses.contains(&200) && statuses.contains(&422), "round {round}: {statuses:?}");
            let fa: Value = app.get(&format!("/api/v1/teams/{a}"), &admin).await.json().await.unwrap();
            let fb: Value = app.get(&format!("/api/v1/teams/{b}"), &admin).await.json().await.unwrap();
            assert!(fa["fallback_team_id"].is_null() || fb["fallback_team_id"].is_null(), "round {round}: {fa} {fb}");
        }
    }

    async fn reopening_a_conversation_whose_team_was_deleted_queues_it_where_a_new_one_would_go(app) {
        // The store sets a deleted team's conversations to no team; their
        // actors remembered the old id, and reopening answered 500 (a
        // foreign key) until the actor went away.
        let admin = app.admin_token().await;
        let support = app.create_team(&admin, "Support").await;
        let temp = app.create_team(&admin, "Temp").await;
        let (id, _) = crate::realtime::widget_session(&app, json!({"issue_type": "Temp"})).await;
        let path = format!("/api/v1/conversations/{id}");
        let c: Value = app.get(&path, &admin).await.json().await.unwrap();
        assert_eq!(c["team_id"], temp);
        assert_eq!(app.post(&format!("{path}/close"), &admin, json!({})).await.status(), 200);
        assert_eq!(app.delete(&format!("/api/v1/teams/{temp}"), &admin).await.status(), 204);
        let res = app.post(&format!("{path}/reopen"), &admin, json!({})).await;
        assert_eq!(res.status(), 200);
        let c: Value = res.json().await.unwrap();
        assert_eq!((c["state"].as_str(), c["team_id"].as_i64()), (Some("queued"), Some(support)), "{c}");
        let c: Value = app.get(&path, &admin).await.json().await.unwrap();
        assert_eq!(c["team_id"], support);
    }

    async fn an_admin_creates_reads_and_lists_teams(app) {
        let admin = app.admin_token().await;
        let fb = app.create_team(&admin, "Tier 2").await;
        let res = app.post("/api/v1/teams", &admin, json!({
            "name": "Tier 1", "fallback_team_id": fb, "overflow_after_s": 120, "auto_assign": false
        })).await;
        assert_eq!(res.status(), 201);
        let t: Value = res.json().await.unwrap();
        assert_eq!(t["name"], "Tier 1");
        assert_eq!(t["fallback_team_id"], fb);
        assert_eq!(t["overflow_after_s"], 120);
        assert_eq!(t["auto_assign"], false);
        let id = t["id"].as_i64().unwrap();
        let agent = app.create_user(&admin, "agent", json!({"team_ids": [id]})).await;
        let got: Value = app.get(&format!("/api/v1/teams/{id}"), &agent.token).await.json().await.unwrap();
        assert_eq!(got["member_ids"], json!([agent.id]));
        let list: Value = app.get("/api/v1/teams?limit=1", &agent.token).await.json().await.unwrap();
        assert_eq!(list["items"].as_array().unwrap().len(), 1);
        let next = list["next_cursor"].as_str().unwrap();
        let list2: Value = app.get(&format!("/api/v1/teams?limit=1&cursor={next}"), &agent.token).await.json().await.unwrap();
        assert_eq!(list2["items"][0]["id"], id);
        assert!(list2["next_cursor"].is_null());
    }

    async fn team_names_are_unique_and_validated(app) {
        let admin = app.admin_token().await;
        app.create_team(&admin, "Support").await;
        let dup = app.post("/api/v1/teams", &admin, json!({"name": "Support"})).await;
        assert_problem(dup, 409, "conflict").await;
        let blank = app.post("/api/v1/teams", &admin, json!({"name": "  "})).await;
        assert_problem(blank, 422, "bad_request").await;
        let overflow = app.post("/api/v1/teams", &admin, json!({"name": "X", "overflow_after_s": 0})).await;
        assert_problem(overflow, 422, "bad_request").await;
        let missing_fb = app.post("/api/v1/teams", &admin, json!({"name": "Y", "fallback_team_id": 4242})).await;
        assert_problem(missing_fb, 422, "bad_request").await;
        assert_eq!(app.count("teams").await, 1);
    }

    async fn a_fallback_loop_is_refused(app) {
        let admin = app.admin_token().await;
        let a = app.create_team(&admin, "A").await;
        let b = app.create_team(&admin, "B").await;
        let ok = app.patch(&format!("/api/v1/teams/{a}"), &admin, json!({"fallback_team_id": b})).await;
        assert_eq!(ok.status(), 200);
        let looped = app.patch(&format!("/api/v1/teams/{b}"), &admin, json!({"fallback_team_id": a})).await;
        assert_problem(looped, 422, "bad_request").await;
        let own = app.patch(&format!("/api/v1/teams/{a}"), &admin, json!({"fallback_team_id": a})).await;
        assert_problem(own, 422, "bad_request").await;
        // null clears it; an absent field leaves it alone.
        let renamed: Value = app.patch(&format!("/api/v1/teams/{a}"), &admin, json!({"name": "A2"})).await.json().await.unwrap();
        assert_eq!(renamed["fallback_team_id"], b);
        let cleared: Value = app.patch(&format!("/api/v1/teams/{a}"), &admin, json!({"fallback_team_id": null})).await.json().await.unwrap();
        assert!(cleared["fallback_team_id"].is_null());
    }

    async fn members_are_replaced_and_must_exist(app) {
        let admin = app.admin_token().await;
        let t = app.create_team(&admin, "T").await;
        let u1 = app.create_user(&admin, "agent", json!({})).await;
        let u2 = app.create_user(&admin, "agent", json!({})).await;
        let res = app.put(&format!("/api/v1/teams/{t}/members"), &admin, json!({"user_ids": [u2.id, u1.id, u1.id]})).await;
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["member_ids"], json!([u1.id, u2.id]));
        let bad = app.put(&format!("/api/v1/teams/{t}/members"), &admin, json!({"user_ids": [u1.id, 987654]})).await;
        assert_problem(bad, 422, "bad_request").await;
        let after: Value = app.get(&format!("/api/v1/teams/{t}"), &admin).await.json().await.unwrap();
        assert_eq!(after["member_ids"], json!([u1.id, u2.id]));
    }

    async fn deleting_a_team_clears_fallbacks_and_memberships(app) {
        let admin = app.admin_token().await;
        let a = app.create_team(&admin, "A").await;
        let b = app.create_team(&admin, "B").await;
        app.patch(&format!("/api/v1/teams/{a}"), &admin, json!({"fallback_team_id": b})).await;
        let u = app.create_user(&admin, "agent", json!({"team_ids": [b]})).await;
        assert_eq!(app.delete(&format!("/api/v1/teams/{b}"), &admin).await.status(), 204);
        assert_problem(app.get(&format!("/api/v1/teams/{b}"), &admin).await, 404, "not_found").await;
        let a_now: Value = app.get(&format!("/api/v1/teams/{a}"), &admin).await.json().await.unwrap();
        assert!(a_now["fallback_team_id"].is_null());
        let u_now: Value = app.get(&format!("/api/v1/users/{}", u.id), &admin).await.json().await.unwrap();
        assert_eq!(u_now["teams"], json!([]));
        assert_problem(app.delete(&format!("/api/v1/teams/{b}"), &admin).await, 404, "not_found").await;
    }
}
