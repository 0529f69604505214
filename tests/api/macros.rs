//! Macros: personal ones for their owner only, global ones for everyone
//! to use and admins to write; search by title; bad input changes nothing.

use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both;

fn titles(v: &Value) -> Vec<String> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["title"].as_str().unwrap().to_owned())
        .collect()
}

on_both! {
    async fn personal_macros_are_their_owners_and_global_ones_everyones(app) {
        let admin = app.admin_token().await;
        let ana = app.create_user(&admin, "agent", json!({})).await;
        let bruno = app.create_user(&admin, "agent", json!({})).await;
        let res = app.post("/api/v1/macros", &admin, json!({"title": "Refund policy", "content": "Refunds take 5 days.", "scope": "global"})).await;
        assert_eq!(res.status(), 201);
        let global: Value = res.json().await.unwrap();
        assert_eq!(global["scope"], "global");
        assert!(global["owner_id"].is_null());
        let res = app.post("/api/v1/macros", &ana.token, json!({"title": "  greeting ", "content": "Hi {{name}}!\nHow can I help?"})).await;
        assert_eq!(res.status(), 201);
        let mine: Value = res.json().await.unwrap();
        assert_eq!(mine["scope"], "personal");
        assert_eq!(mine["owner_id"], ana.id);
        assert_eq!(mine["title"], "greeting");
        assert_eq!(mine["content"], "Hi {{name}}!\nHow can I help?");

        // Ana sees hers and the global one, sorted by title ignoring case.
        let list: Value = app.get("/api/v1/macros", &ana.token).await.json().await.unwrap();
        assert_eq!(titles(&list), ["greeting", "Refund policy"]);
        let list: Value = app.get("/api/v1/macros?scope=personal", &ana.token).await.json().await.unwrap();
        assert_eq!(titles(&list), ["greeting"]);
        let list: Value = app.get("/api/v1/macros?scope=global", &ana.token).await.json().await.unwrap();
        assert_eq!(titles(&list), ["Refund policy"]);
        let list: Value = app.get("/api/v1/macros?q=REF", &ana.token).await.json().await.unwrap();
        assert_eq!(titles(&list), ["Refund policy"]);
        let list: Value = app.get("/api/v1/macros?q=%25", &ana.token).await.json().await.unwrap();
        assert_eq!(titles(&list), Vec::<String>::new(), "a typed % is literal");
        // Bruno sees only the global one, and Ana's is not there for him.
        let list: Value = app.get("/api/v1/macros", &bruno.token).await.json().await.unwrap();
        assert_eq!(titles(&list), ["Refund policy"]);
        let ana_macro = format!("/api/v1/macros/{}", mine["id"]);
        assert_problem(app.get(&ana_macro, &bruno.token).await, 404, "not_found").await;
        assert_problem(app.patch(&ana_macro, &bruno.token, json!({"title": "mine now"})).await, 404, "not_found").await;
        assert_problem(app.delete(&ana_macro, &bruno.token).await, 404, "not_found").await;
        // Not even an admin reads someone's personal macro.
        assert_problem(app.get(&ana_macro, &admin).await, 404, "not_found").await;

        // Ana edits and deletes her own.
        let edited: Value = app.patch(&ana_macro, &ana.token, json!({"content": "Hello!"})).await.json().await.unwrap();
        assert_eq!(edited["content"], "Hello!");
        assert_eq!(edited["title"], "greeting");
        assert_eq!(app.delete(&ana_macro, &ana.token).await.status(), 204);
        assert_problem(app.get(&ana_macro, &ana.token).await, 404, "not_found").await;

        // Agents use global macros but do not change them; admins do.
        let global_path = format!("/api/v1/macros/{}", global["id"]);
        assert_eq!(app.get(&global_path, &bruno.token).await.status(), 200);
        assert_problem(app.patch(&global_path, &bruno.token, json!({"title": "x"})).await, 403, "forbidden").await;
        assert_problem(app.delete(&global_path, &bruno.token).await, 403, "forbidden").await;
        assert_problem(app.post("/api/v1/macros", &bruno.token, json!({"title": "t", "content": "c", "scope": "global"})).await, 403, "forbidden").await;
        let renamed: Value = app.patch(&global_path, &admin, json!({"title": "Refunds"})).await.json().await.unwrap();
        assert_eq!(renamed["title"], "Refunds");
        assert_eq!(app.count("macros").await, 1);
    }

    async fn bad_macros_are_refused_and_change_nothing(app) {
        let admin = app.admin_token().await;
        let agent = app.create_user(&admin, "agent", json!({})).await;
        let res = app.post("/api/v1/macros", &agent.token, json!({"title": "t", "content": "c"})).await;
        let m: Value = res.json().await.unwrap();
        let path = format!("/api/v1/macros/{}", m["id"]);
        for body in [json!({"title": "", "content": "c"}), json!({"title": "t", "content": "  \n "}),
                     json!({"title": "x".repeat(81), "content": "c"}), json!({"title": "t", "content": "c".repeat(4001)}),
                     json!({"title": "a\u{7}", "content": "c"}), json!({"title": "t", "content": "c", "scope": "team"}),
                     json!({"title": "t", "content": "c", "owner_id": 1})] {
            assert_problem(app.post("/api/v1/macros", &agent.token, body).await, 422, "bad_request").await;
        }
        let both = app.patch(&path, &agent.token, json!({"title": "", "content": ""})).await;
        let p = assert_problem(both, 422, "bad_request").await;
        assert_eq!(p["errors"].as_array().unwrap().len(), 2, "every problem at once: {p}");
        assert_problem(app.patch(&path, &agent.token, json!({"scope": "global"})).await, 422, "bad_request").await;
        for q in ["limit=0", "limit=201", "scope=team", &format!("q={}", "q".repeat(101)), "owner=1"] {
            assert_problem(app.get(&format!("/api/v1/macros?{q}"), &agent.token).await, 422, "bad_request").await;
        }
        let kept: Value = app.get(&path, &agent.token).await.json().await.unwrap();
        assert_eq!((kept["title"].as_str(), kept["content"].as_str()), (Some("t"), Some("c")));
        assert_eq!(app.count("macros").await, 1);
    }
}
