//! Tags: the admin catalogue, tags on conversations (staff with access),
//! the change reaching followers as `conversation.updated`, and the inbox
//! filter by tag.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both;
use crate::realtime::{scene, widget_session};
use crate::ws_client::Ws;

async fn create_tag(app: &TestApp, admin: &str, name: &str) -> Value {
    let res = app.post("/api/v1/tags", admin, json!({"name": name})).await;
    assert_eq!(res.status(), 201, "create tag {name}");
    res.json().await.unwrap()
}

on_both! {
    async fn an_admin_keeps_the_tag_catalogue_and_staff_read_it(app) {
        let admin = app.admin_token().await;
        let res = app.post("/api/v1/tags", &admin, json!({"name": "  VIP  Customer ", "color": "#FF8800"})).await;
        assert_eq!(res.status(), 201);
        let vip: Value = res.json().await.unwrap();
        assert_eq!(vip["name"], "vip customer", "trimmed, squeezed, lower-cased");
        assert_eq!(vip["color"], "#ff8800");
        create_tag(&app, &admin, "billing").await;
        let agent = app.create_user(&admin, "agent", json!({})).await;
        let list: Value = app.get("/api/v1/tags", &agent.token).await.json().await.unwrap();
        let names: Vec<&str> = list["items"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["billing", "vip customer"]);

        let id = vip["id"].as_i64().unwrap();
        let renamed: Value = app.patch(&format!("/api/v1/tags/{id}"), &admin, json!({"name": "VIP"})).await.json().await.unwrap();
        assert_eq!(renamed["name"], "vip");
        assert_eq!(renamed["color"], "#ff8800", "an absent colour stays");
        let cleared: Value = app.patch(&format!("/api/v1/tags/{id}"), &admin, json!({"color": null})).await.json().await.unwrap();
        assert!(cleared["color"].is_null());
        assert_eq!(app.delete(&format!("/api/v1/tags/{id}"), &admin).await.status(), 204);
        assert_problem(app.delete(&format!("/api/v1/tags/{id}"), &admin).await, 404, "not_found").await;
        assert_eq!(app.count("tags").await, 1);
    }

    async fn bad_tags_are_refused_and_change_nothing(app) {
        let admin = app.admin_token().await;
        let billing = create_tag(&app, &admin, "billing").await;
        let before = app.count("tags").await;
        let audit_before = app.count("audit_log").await;
        for body in [json!({"name": ""}), json!({"name": "<b>"}), json!({"name": "x".repeat(41)}),
                     json!({"name": "ok", "color": "orange"}), json!({"name": "ok", "extra": 1})] {
            let res = app.post("/api/v1/tags", &admin, body.clone()).await;
            assert_problem(res, 422, "bad_request").await;
        }
        assert_problem(app.post("/api/v1/tags", &admin, json!({"name": "Billing"})).await, 409, "conflict").await;
        let id = billing["id"].as_i64().unwrap();
        let other = create_tag(&app, &admin, "other").await;
        let taken = app.patch(&format!("/api/v1/tags/{}", other["id"]), &admin, json!({"name": "billing"})).await;
        assert_problem(taken, 409, "conflict").await;
        assert_problem(app.patch(&format!("/api/v1/tags/{id}"), &admin, json!({"color": "#12"})).await, 422, "bad_request").await;
        assert_problem(app.patch("/api/v1/tags/987654", &admin, json!({"name": "x"})).await, 404, "not_found").await;
        let agent = app.create_user(&admin, "agent", json!({})).await;
        assert_problem(app.post("/api/v1/tags", &agent.token, json!({"name": "mine"})).await, 403, "forbidden").await;
        assert_problem(app.delete(&format!("/api/v1/tags/{id}"), &agent.token).await, 403, "forbidden").await;
        assert_eq!(app.count("tags").await, before + 1, "only `other` was added");
        let kept: Value = app.get("/api/v1/tags", &admin).await.json().await.unwrap();
        assert_eq!(kept["items"][0]["name"], "billing");
        assert!(app.count("audit_log").await > audit_before);
    }

    async fn staff_tag_a_conversation_and_followers_see_it_live(app) {
        let s = scene(&app).await;
        for t in ["billing", "vip", "refund"] {
            create_tag(&app, &s.admin, t).await;
        }
        let mut agent = Ws::agent(&app, &s.agent.token).await;
        agent.send(json!({"type": "conversation.accept", "conversation_id": s.conversation, "ref": "a"})).await;
        agent.recv_all(&["ok", "conversation.assigned"]).await;
        let mut customer = Ws::customer(&app, &s.visitor_token).await;
        let path = format!("/api/v1/conversations/{}/tags", s.conversation);

        let res = app.post(&path, &s.agent.token, json!({"tags": ["VIP", "billing"]})).await;
        assert_eq!(res.status(), 200);
        let c: Value = res.json().await.unwrap();
        assert_eq!(c["tags"], json!(["billing", "vip"]));
        let upd = agent.recv_type("conversation.updated").await;
        assert_eq!(upd["conversation"]["tags"], json!(["billing", "vip"]));
        assert_eq!(upd["conversation"]["state"], "assigned", "tags change no state");
        let seen = customer.recv_type("conversation.updated").await;
        assert_eq!(seen["conversation"]["tags"], json!(["billing", "vip"]));

        // Adding what is there already changes nothing and pushes nothing.
        let again: Value = app.post(&path, &s.agent.token, json!({"tags": ["vip"]})).await.json().await.unwrap();
        assert_eq!(again["tags"], json!(["billing", "vip"]));
        agent.expect_no("conversation.updated", Duration::from_millis(300)).await;

        let set: Value = app.put(&path, &s.agent.token, json!({"tags": ["refund"]})).await.json().await.unwrap();
        assert_eq!(set["tags"], json!(["refund"]));
        assert_eq!(agent.recv_type("conversation.updated").await["conversation"]["tags"], json!(["refund"]));

        let removed: Value = app.delete(&format!("{path}/refund"), &s.agent.token).await.json().await.unwrap();
        assert_eq!(removed["tags"], json!([]));
        assert_eq!(agent.recv_type("conversation.updated").await["conversation"]["tags"], json!([]));
        // Removing a tag it does not have is fine; an unknown tag is 404.
        assert_eq!(app.delete(&format!("{path}/vip"), &s.agent.token).await.status(), 200);
        assert_problem(app.delete(&format!("{path}/nonesuch"), &s.agent.token).await, 404, "not_found").await;

        let got: Value = app.get(&format!("/api/v1/conversations/{}", s.conversation), &s.admin).await.json().await.unwrap();
        assert_eq!(got["tags"], json!([]));
        assert_eq!(app.count("conversation_tags").await, 0);
    }

    async fn tagging_needs_access_to_the_conversation_and_known_tags(app) {
        let s = scene(&app).await;
        create_tag(&app, &s.admin, "vip").await;
        let path = format!("/api/v1/conversations/{}/tags", s.conversation);
        // A teammate may tag a queued conversation of its team (read access).
        assert_eq!(app.post(&path, &s.agent.token, json!({"tags": ["vip"]})).await.status(), 200);
        let elsewhere = app.create_team(&s.admin, "Elsewhere").await;
        let outsider = app.create_user(&s.admin, "agent", json!({"team_ids": [elsewhere]})).await;
        for res in [
            app.post(&path, &outsider.token, json!({"tags": ["vip"]})).await,
            app.put(&path, &outsider.token, json!({"tags": []})).await,
            app.delete(&format!("{path}/vip"), &outsider.token).await,
            // Not even an unknown tag tells the outsider the conversation exists.
            app.post(&path, &outsider.token, json!({"tags": ["nonesuch"]})).await,
        ] {
            assert_problem(res, 404, "not_found").await;
        }
        for body in [json!({"tags": ["nonesuch"]}), json!({"tags": ["<x>"]}), json!({"tags": []}),
                     json!({"tags": (0..21).map(|i| format!("t{i}")).collect::<Vec<_>>()}), json!({"tag": "vip"})] {
            let res = app.post(&path, &s.agent.token, body).await;
            let p = assert_problem(res, 422, "bad_request").await;
            assert!(p["errors"].is_array(), "{p}");
        }
        let unknown = app.put(&path, &s.agent.token, json!({"tags": ["vip", "nonesuch"]})).await;
        let p = assert_problem(unknown, 422, "bad_request").await;
        assert_eq!(p["errors"][0]["field"], "tags.1");
        let got: Value = app.get(&format!("/api/v1/conversations/{}", s.conversation), &s.admin).await.json().await.unwrap();
        assert_eq!(got["tags"], json!(["vip"]), "refused calls changed nothing");
        assert_problem(app.post("/api/v1/conversations/987654/tags", &s.admin, json!({"tags": ["vip"]})).await, 404, "not_found").await;
    }

    async fn the_inbox_filters_by_tag_unread_and_search(app) {
        let admin = app.admin_token().await;
        app.create_team(&admin, "Support").await;
        create_tag(&app, &admin, "vip").await;
        let (ana, ana_token) = widget_session(&app, json!({"name": "Ana Lima", "email": "ana@example.com"})).await;
        let (bruno, _) = widget_session(&app, json!({"name": "Bruno", "email": "b_50%@example.com"})).await;
        let (_carla, _) = widget_session(&app, json!({"name": "Carla"})).await;
        app.post(&format!("/api/v1/conversations/{bruno}/tags"), &admin, json!({"tags": ["vip"]})).await;
        let mut customer = Ws::customer(&app, &ana_token).await;
        customer.say(None, "c1", "hello?").await;
        let ids = |v: Value| v["items"].as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect::<Vec<_>>();
        let list = |q: &str| {
            let app = &app;
            let admin = admin.clone();
            let q = q.to_owned();
            async move { app.get(&format!("/api/v1/conversations?{q}"), &admin).await.json::<Value>().await.unwrap() }
        };
        assert_eq!(ids(list("tag=VIP").await), vec![bruno]);
        assert_eq!(ids(list("unread=true").await), vec![ana]);
        assert!(!ids(list("unread=false").await).contains(&ana));
        assert_eq!(ids(list("q=LIMA").await), vec![ana]);
        assert_eq!(ids(list("q=ana%40example").await), vec![ana]);
        // Wildcards typed by the user are literal.
        assert_eq!(ids(list("q=_50%25").await), vec![bruno]);
        assert_eq!(ids(list("q=%25").await), vec![bruno]);
        assert_eq!(ids(list(&format!("q=%23{ana}")).await), vec![ana], "#id finds the conversation");
        assert_eq!(ids(list("tag=vip&unread=true").await), Vec::<i64>::new());
        assert_eq!(ids(list("tag=nonesuch").await), Vec::<i64>::new());
        for bad in ["tag=%3Cb%3E", "unread=maybe", &format!("q={}", "x".repeat(101))] {
            let res = app.get(&format!("/api/v1/conversations?{bad}"), &admin).await;
            assert_problem(res, 422, "bad_request").await;
        }
    }
}
