//! SLA targets: supervisors watching a queue are warned before a target is
//! missed and told when it is, the queue marks the conversation, breaches
//! are recorded once for reports, and a reply in time stops the clock.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both;
use crate::realtime::widget_session;
use crate::routing::team;
use crate::ws_client::Ws;

/// The next `notification` frame.
async fn notification(ws: &mut Ws) -> Value {
    ws.recv_type("notification").await
}

/// The next `queue.update` whose first waiting conversation has `sla`.
async fn update_with_sla(ws: &mut Ws, sla: &str) -> Value {
    loop {
        let u = ws.recv_type("queue.update").await;
        if u["waiting"][0]["sla"] == sla {
            return u;
        }
    }
}

on_both! {
    async fn a_breach_is_announced_once_and_a_new_team_still_marks_it(app) {
        // Every assignment, transfer or reopen re-arms the clocks; deadlines
        // already announced used to be announced again each time.
        let admin = app.admin_token().await;
        let support = team(&app, &admin, json!({"name": "Support", "auto_assign": false,
            "sla_first_response_s": 2})).await;
        let other = team(&app, &admin, json!({"name": "Other", "auto_assign": false,
            "sla_first_response_s": 2})).await;
        let sup = app.create_user(&admin, "supervisor", json!({"team_ids": [support, other]})).await;
        let agent = app.create_user(&admin, "agent", json!({"team_ids": [support]})).await;
        let mut watch = Ws::agent(&app, &sup.token).await;
        watch.send(json!({"type": "queue.watch", "team_id": support})).await;
        watch.recv_type("queue.snapshot").await;
        let mut watch_other = Ws::agent(&app, &sup.token).await;
        watch_other.send(json!({"type": "queue.watch", "team_id": other})).await;
        watch_other.recv_type("queue.snapshot").await;
        let (id, _) = widget_session(&app, json!({"issue_type": "support"})).await;
        assert_eq!(notification(&mut watch).await["kind"], "sla.warning");
        assert_eq!(notification(&mut watch).await["kind"], "sla.breach");
        let path = format!("/api/v1/conversations/{id}");
        let res = app.post(&format!("{path}/assign"), &admin, json!({"agent_id": agent.id})).await;
        assert_eq!(res.status(), 200);
        watch.expect_no("notification", Duration::from_millis(800)).await;
        let res = app.post(&format!("{path}/transfer"), &admin, json!({"team_id": other})).await;
        assert_eq!(res.status(), 200);
        // The new team's queue marks it breached, without a second notification.
        let u = update_with_sla(&mut watch_other, "breached").await;
        assert_eq!(u["waiting"][0]["conversation_id"], id);
        watch_other.expect_no("notification", Duration::from_millis(800)).await;
        watch.expect_no("notification", Duration::from_millis(100)).await;
        assert_eq!(app.count("sla_breaches").await, 1);
    }

    async fn supervisors_are_warned_then_told_of_a_breach_which_is_recorded(app) {
        let admin = app.admin_token().await;
        let support = team(&app, &admin, json!({"name": "Support", "auto_assign": false,
            "sla_first_response_s": 2})).await;
        let other = team(&app, &admin, json!({"name": "Other"})).await;
        let sup = app.create_user(&admin, "supervisor", json!({"team_ids": [support]})).await;
        let outsider = app.create_user(&admin, "supervisor", json!({"team_ids": [other]})).await;
        let agent = app.create_user(&admin, "agent", json!({"team_ids": [support]})).await;
        let mut watch = Ws::agent(&app, &sup.token).await;
        watch.send(json!({"type": "queue.watch", "team_id": support})).await;
        watch.recv_type("queue.snapshot").await;

        let (id, _) = widget_session(&app, json!({"issue_type": "support"})).await;
        let warn = notification(&mut watch).await;
        assert_eq!(warn["kind"], "sla.warning");
        assert_eq!(warn["conversation_id"], id);
        assert_eq!(warn["team_id"], support);
        assert_eq!(warn["sla"], "first_response");
        assert!(warn["due_at"].is_string());
        let u = update_with_sla(&mut watch, "warning").await;
        assert_eq!(u["waiting"][0]["conversation_id"], id);
        let breach = notification(&mut watch).await;
        assert_eq!(breach["kind"], "sla.breach");
        update_with_sla(&mut watch, "breached").await;

        let report: Value = app.get("/api/v1/reports/sla-breaches", &sup.token).await.json().await.unwrap();
        let items = report["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{report}");
        assert_eq!(items[0]["conversation_id"], id);
        assert_eq!(items[0]["kind"], "first_response");
        assert_eq!(items[0]["target_s"], 2);
        let mine: Value = app.get(&format!("/api/v1/reports/sla-breaches?team_id={support}"), &admin).await.json().await.unwrap();
        assert_eq!(mine["items"].as_array().unwrap().len(), 1);
        let theirs: Value = app.get("/api/v1/reports/sla-breaches", &outsider.token).await.json().await.unwrap();
        assert_eq!(theirs["items"], json!([]), "another team's supervisor sees none");
        let peek: Value = app.get(&format!("/api/v1/reports/sla-breaches?team_id={support}"), &outsider.token).await.json().await.unwrap();
        assert_eq!(peek["items"], json!([]));
        assert_problem(app.get("/api/v1/reports/sla-breaches", &agent.token).await, 403, "forbidden").await;
        assert_problem(app.get("/api/v1/reports/sla-breaches?limit=0", &admin).await, 422, "bad_request").await;
        assert_problem(app.get("/api/v1/reports/sla-breaches?cursor=nope", &admin).await, 422, "bad_request").await;
    }

    async fn a_reply_in_time_meets_the_first_response_target(app) {
        let admin = app.admin_token().await;
        let support = team(&app, &admin, json!({"name": "Support", "auto_assign": false,
            "sla_first_response_s": 2, "sla_resolution_s": 3})).await;
        let agent = app.create_user(&admin, "agent", json!({"team_ids": [support]})).await;
        let (id, _) = widget_session(&app, json!({"issue_type": "support"})).await;
        let mut ws = Ws::agent(&app, &agent.token).await;
        ws.send(json!({"type": "conversation.accept", "conversation_id": id, "ref": "a"})).await;
        assert_eq!(ws.recv_answer().await["type"], "ok");
        ws.say(Some(id), "r1", "Hello, how can I help?").await;
        // Past the first-response deadline, only the resolution target
        // (still open) is warned about and then breached.
        let first = notification(&mut ws).await;
        assert_eq!((first["kind"].clone(), first["sla"].clone()), (json!("sla.warning"), json!("resolution")));
        let second = notification(&mut ws).await;
        assert_eq!((second["kind"].clone(), second["sla"].clone()), (json!("sla.breach"), json!("resolution")));
        ws.expect_no("notification", Duration::from_millis(500)).await;
        let report: Value = app.get("/api/v1/reports/sla-breaches", &admin).await.json().await.unwrap();
        let kinds: Vec<&str> = report["items"].as_array().unwrap().iter().map(|b| b["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, vec!["resolution"]);
    }

    async fn closing_in_time_stops_every_clock(app) {
        let admin = app.admin_token().await;
        let support = team(&app, &admin, json!({"name": "Support", "auto_assign": false,
            "sla_first_response_s": 2, "sla_resolution_s": 2})).await;
        let sup = app.create_user(&admin, "supervisor", json!({"team_ids": [support]})).await;
        let (id, token) = widget_session(&app, json!({"issue_type": "support"})).await;
        let mut watch = Ws::agent(&app, &sup.token).await;
        watch.send(json!({"type": "queue.watch", "team_id": support})).await;
        watch.recv_type("queue.snapshot").await;
        let mut customer = Ws::customer(&app, &token).await;
        customer.send(json!({"type": "conversation.close", "ref": "x"})).await;
        assert_eq!(customer.recv_answer().await["type"], "ok");
        watch.expect_no("notification", Duration::from_millis(2500)).await;
        assert_eq!(app.count("sla_breaches").await, 0, "conversation {id} breached nothing");
    }
}
