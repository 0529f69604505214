//! The widget's entries: init (branding, availability), offline messages,
//! widget settings and business hours.

use chrono::{Datelike, Utc};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both;
use crate::ws_client::Ws;

async fn init(app: &TestApp, body: Value) -> Value {
    let res = app
        .send(Method::POST, "/api/v1/widget/init", None, Some(&body))
        .await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

on_both! {
    async fn init_says_whether_someone_can_answer_now(app) {
        let admin = app.admin_token().await;
        let nobody = init(&app, json!({})).await;
        assert_eq!(nobody["availability"]["available"], false);
        assert_eq!(nobody["settings"]["title"], "Chat with us", "defaults before any save");
        assert!(nobody["expected_wait_s"].is_null());
        let t = app.create_team(&admin, "Support").await;
        let agent = app.create_user(&admin, "agent", json!({"team_ids": [t]})).await;
        let offline = init(&app, json!({"issue_type": "support"})).await;
        assert_eq!(offline["availability"]["team_id"], t);
        assert_eq!(offline["availability"]["agents_online"], 0);
        assert_eq!(offline["availability"]["available"], false);
        app.patch("/api/v1/me", &agent.token, json!({"status": "online"})).await;
        let live = init(&app, json!({"issue_type": "support"})).await;
        assert_eq!(live["availability"]["available"], true);
        assert_eq!(live["availability"]["open"], true);
        assert_eq!(live["expected_wait_s"], 0);
        assert_eq!(live["availability"]["agents_online"], 1);
        // A member counts while online; deactivated, no longer.
        let gone = app.create_user(&admin, "agent", json!({"team_ids": [t]})).await;
        app.patch("/api/v1/me", &gone.token, json!({"status": "online"})).await;
        assert_eq!(init(&app, json!({"issue_type": "support"})).await["availability"]["agents_online"], 2);
        let res = app.post(&format!("/api/v1/users/{}/deactivate", gone.id), &admin, json!({})).await;
        assert_eq!(res.status(), 200);
        assert_eq!(init(&app, json!({"issue_type": "support"})).await["availability"]["agents_online"], 1);
        // Closed today (UTC): open every other day.
        let today = DAYS[Utc::now().weekday().num_days_from_monday() as usize];
        let schedule: serde_json::Map<String, Value> = DAYS.iter().filter(|d| **d != today)
            .map(|d| ((*d).to_owned(), json!([["00:00", "23:59"]]))).collect();
        let res = app.put(&format!("/api/v1/teams/{t}/business-hours"), &admin, json!({"timezone": "UTC", "schedule": schedule})).await;
        assert_eq!(res.status(), 200);
        let hours: Value = res.json().await.unwrap();
        assert_eq!(hours["open_now"], false);
        let closed = init(&app, json!({"issue_type": "support"})).await;
        assert_eq!(closed["availability"]["open"], false);
        assert_eq!(closed["availability"]["available"], false);
        assert!(closed["availability"]["next_open"].is_string());
        let bad = app.send(Method::POST, "/api/v1/widget/init", None, Some(&json!({"language": "no spaces allowed"}))).await;
        assert_problem(bad, 422, "bad_request").await;
    }

    async fn init_expects_a_wait_while_nobody_has_room_and_counts_the_queue_ahead(app) {
        use crate::realtime::widget_session;
        use crate::routing::{conversation, eventually, online, team};
        let admin = app.admin_token().await;
        let t = team(&app, &admin, json!({"name": "Support"})).await;
        let a = app.create_user(&admin, "agent", json!({"team_ids": [t], "capacity": 1})).await;
        online(&app, &a).await;
        let wait = |v: Value| v["expected_wait_s"].as_i64();
        assert_eq!(wait(init(&app, json!({})).await), Some(0), "free and nobody waiting");
        let (c1, _) = widget_session(&app, json!({})).await;
        eventually(&app, &admin, c1, "assigned", |c| c["state"] == "assigned").await;
        // Full: the next one waits for one handling time.
        let full = init(&app, json!({})).await;
        assert_eq!(full["availability"]["team_id"], t);
        assert_eq!(full["availability"]["available"], true);
        let one = wait(full).unwrap();
        assert!(one > 0, "nobody has room: {one}");
        // One waiting ahead: twice that.
        let (c2, _) = widget_session(&app, json!({})).await;
        assert_eq!(conversation(&app, &admin, c2).await["state"], "queued");
        assert_eq!(wait(init(&app, json!({})).await), Some(2 * one));
        // The agent closes c1 and takes c2: nobody waits, still full.
        let res = app.post(&format!("/api/v1/conversations/{c1}/close"), &a.token, json!({})).await;
        assert_eq!(res.status(), 200);
        eventually(&app, &admin, c2, "assigned", |c| c["state"] == "assigned").await;
        assert_eq!(wait(init(&app, json!({})).await), Some(one));
    }

    async fn a_left_message_becomes_an_offline_conversation_with_its_text(app) {
        let admin = app.admin_token().await;
        let t = app.create_team(&admin, "Support").await;
        let res = app.send(Method::POST, "/api/v1/widget/offline-messages", None, Some(&json!({
            "name": "Ana", "email": "Ana@Example.com", "text": "Please call me back", "issue_type": "support"
        }))).await;
        assert_eq!(res.status(), 201);
        let receipt: Value = res.json().await.unwrap();
        assert!(receipt["confirmation"].as_str().unwrap().contains("ana@example.com"));
        let id = receipt["conversation_id"].as_i64().unwrap();
        let c: Value = app.get(&format!("/api/v1/conversations/{id}"), &admin).await.json().await.unwrap();
        assert_eq!(c["state"], "queued");
        assert_eq!(c["offline"], true);
        assert_eq!(c["team_id"], t);
        assert_eq!(c["last_seq"], 1);
        assert_eq!(c["unread"]["agent"], 1);
        let history: Value = app.get(&format!("/api/v1/conversations/{id}/messages"), &admin).await.json().await.unwrap();
        assert_eq!(history["items"][0]["text"], "Please call me back");
        assert_eq!(history["items"][0]["sender"]["kind"], "customer");
        // The visitor can come back with the token; the conversation goes on from seq 2.
        let mut ws = Ws::customer(&app, receipt["visitor_token"].as_str().unwrap()).await;
        ws.send(json!({"type": "resume", "after_seq": 0})).await;
        assert_eq!(ws.recv_type("message.new").await["message"]["seq"], 1);
        assert_eq!(ws.say(None, "more", "Also by e-mail is fine").await["message"]["seq"], 2);
        for bad in [json!({"email": "", "text": "x"}), json!({"email": "a@b.co", "text": "  "}), json!({"email": "nope", "text": "x"})] {
            let res = app.send(Method::POST, "/api/v1/widget/offline-messages", None, Some(&bad)).await;
            assert_problem(res, 422, "bad_request").await;
        }
    }

    async fn widget_settings_are_validated_saved_and_served_to_the_widget(app) {
        let admin = app.admin_token().await;
        let good = json!({
            "title": "Acme help", "welcome_message": "Olá!", "primary_color": "#FF8800",
            "logo_url": "https://acme.example/logo.png", "position": "left",
            "pre_chat_fields": [{"name": "order_id", "label": "Order", "type": "text", "required": true},
                                {"name": "plan", "label": "Plan", "type": "select", "options": ["free", "pro"]}],
            "offline_message": "Back at 9"
        });
        let res = app.put("/api/v1/widget/settings", &admin, good.clone()).await;
        assert_eq!(res.status(), 200);
        let saved: Value = res.json().await.unwrap();
        assert_eq!(saved["primary_color"], "#ff8800");
        let served = init(&app, json!({})).await;
        assert_eq!(served["settings"]["title"], "Acme help");
        assert_eq!(served["settings"]["pre_chat_fields"][1]["options"], json!(["free", "pro"]));
        for (field, value) in [
            ("primary_color", json!("red")),
            ("logo_url", json!("javascript:alert(1)")),
            ("position", json!("top")),
            ("title", json!("")),
            ("pre_chat_fields", json!([{"name": "Bad Name", "label": "x", "type": "text"}])),
            ("pre_chat_fields", json!([{"name": "s", "label": "x", "type": "select"}])),
        ] {
            let mut body = good.clone();
            body[field] = value;
            let res = app.put("/api/v1/widget/settings", &admin, body).await;
            assert_problem(res, 422, "bad_request").await;
        }
        let after: Value = app.get("/api/v1/widget/settings", &admin).await.json().await.unwrap();
        assert_eq!(after["title"], "Acme help", "refused saves changed nothing");
    }

    async fn business_hours_are_validated_and_can_be_removed(app) {
        let admin = app.admin_token().await;
        let t = app.create_team(&admin, "Support").await;
        assert_problem(app.get(&format!("/api/v1/teams/{t}/business-hours"), &admin).await, 404, "not_found").await;
        for bad in [
            json!({"timezone": "Mars/Base", "schedule": {}}),
            json!({"timezone": "UTC", "schedule": {"funday": [["09:00", "10:00"]]}}),
            json!({"timezone": "UTC", "schedule": {"mon": [["18:00", "09:00"]]}}),
            json!({"timezone": "UTC", "schedule": {}, "holidays": ["tomorrow"]}),
        ] {
            let res = app.put(&format!("/api/v1/teams/{t}/business-hours"), &admin, bad.clone()).await;
            assert_eq!(res.status(), 422, "{bad}");
        }
        let ok = json!({"timezone": "Europe/Lisbon", "schedule": {"mon": [["09:00", "17:00"]]}, "holidays": ["2026-12-25"]});
        assert_eq!(app.put(&format!("/api/v1/teams/{t}/business-hours"), &admin, ok).await.status(), 200);
        let got: Value = app.get(&format!("/api/v1/teams/{t}/business-hours"), &admin).await.json().await.unwrap();
        assert_eq!(got["timezone"], "Europe/Lisbon");
        assert_eq!(got["holidays"], json!(["2026-12-25"]));
        assert_eq!(app.delete(&format!("/api/v1/teams/{t}/business-hours"), &admin).await.status(), 204);
        assert_problem(app.get(&format!("/api/v1/teams/{t}/business-hours"), &admin).await, 404, "not_found").await;
    }
}
