//! The skill catalogue.

use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both;

on_both! {
    async fn skills_are_created_listed_and_deleted(app) {
        let admin = app.admin_token().await;
        let res = app.post("/api/v1/skills", &admin, json!({"name": "Language:ES"})).await;
        assert_eq!(res.status(), 201);
        let s: Value = res.json().await.unwrap();
        assert_eq!(s["name"], "language:es");
        let dup = app.post("/api/v1/skills", &admin, json!({"name": "language:es"})).await;
        assert_problem(dup, 409, "conflict").await;
        let bad = app.post("/api/v1/skills", &admin, json!({"name": "no spaces"})).await;
        assert_problem(bad, 422, "bad_request").await;
        let u = app.create_user(&admin, "agent", json!({"skills": {"language:es": 2}})).await;
        let list: Value = app.get("/api/v1/skills", &u.token).await.json().await.unwrap();
        assert_eq!(list["items"].as_array().unwrap().len(), 1);
        let id = s["id"].as_i64().unwrap();
        assert_eq!(app.delete(&format!("/api/v1/skills/{id}"), &admin).await.status(), 204);
        let me: Value = app.get("/api/v1/me", &u.token).await.json().await.unwrap();
        assert_eq!(me["skills"], json!({}));
        assert_problem(app.delete(&format!("/api/v1/skills/{id}"), &admin).await, 404, "not_found").await;
    }
}
