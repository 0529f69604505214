//! The triage bot: flows managed over REST, a customer talked through a
//! flow over a real socket, handoff to the right queue (by choice, by the
//! routing rules, or at once on "human"), and a restart mid-flow that
//! neither repeats nor skips a bot message.

use serde_json::{Value, json};
use switchboard::auth::tokens;
use switchboard::domain::conversation::ConversationState;
use switchboard::domain::protocol::{PartyKind, Sender};
use switchboard::domain::{ConversationId, TeamId, VisitorId};
use switchboard::store;

use crate::helpers::*;
use crate::on_both;
use crate::realtime::widget_session;
use crate::routing::{conversation, eventually, online, team};
use crate::ws_client::Ws;

/// A flow that asks for a team, then an order number.
fn flow(billing: i64, support: i64) -> Value {
    json!({
        "bot_name": "Switchbot",
        "welcome": "Hi! I'm Switchbot.",
        "steps": [
            {"key": "team", "type": "choice", "prompt": "What is it about?",
             "options": [{"label": "Billing", "team_id": billing}, {"label": "Something else", "team_id": support}]},
            {"key": "order", "type": "question", "prompt": "Your order number?"}
        ]
    })
}

/// The first `n` messages of the conversation: `resume {after_seq: 0}`,
/// then live `message.new` frames for what was not committed yet (the bot
/// writes its welcome while the customer connects).
async fn history(ws: &mut Ws, n: usize) -> Vec<Value> {
    ws.send(json!({"type": "resume", "after_seq": 0})).await;
    // By seq: a message committed after the socket joined but before the
    // resume read the store arrives live and again in the replay (resume
    // sends every message after `after_seq`); clients keep one per seq.
    let mut out = std::collections::BTreeMap::new();
    let mut done = false;
    while out.len() < n || !done {
        let f = ws.recv().await;
        match f["type"].as_str() {
            Some("message.new") => {
                out.insert(f["message"]["seq"].as_i64().unwrap(), f["message"].clone());
            }
            Some("resume.done") => done = true,
            _ => {}
        }
    }
    out.into_values().collect()
}

/// The next `message.new` from the bot.
async fn bot_says(ws: &mut Ws) -> Value {
    loop {
        let m = ws.recv_type("message.new").await["message"].clone();
        if m["sender"]["kind"] == "bot" {
            return m;
        }
    }
}

on_both! {
    async fn triage_flows_are_managed_and_validated(app) {
        let admin = app.admin_token().await;
        let support = team(&app, &admin, json!({"name": "Support"})).await;
        let billing = team(&app, &admin, json!({"name": "Billing"})).await;
        let sup = app.create_user(&admin, "supervisor", json!({"team_ids": [support]})).await;
        let path = format!("/api/v1/teams/{support}/triage");

        assert_problem(app.get(&path, &admin).await, 404, "not_found").await;
        assert_problem(app.put(&path, &sup.token, flow(billing, support)).await, 403, "forbidden").await;
        let res = app.put(&path, &admin, flow(billing, support)).await;
        assert_eq!(res.status(), 200);
        let got: Value = app.get(&path, &sup.token).await.json().await.unwrap();
        assert_eq!(got["welcome"], "Hi! I'm Switchbot.");
        assert_eq!(got["enabled"], true);
        assert_eq!(got["steps"][0]["options"][0]["team_id"], billing);

        let before = app.count("triage_flows").await;
        let body = assert_problem(app.put(&path, &admin, json!({
            "welcome": "",
            "steps": [{"key": "team", "type": "choice", "prompt": "Which?", "options": [{"label": "A"}, {"label": "B", "team_id": billing}]},
                      {"key": "x", "type": "poll", "prompt": "?"}]
        })).await, 422, "bad_request").await;
        let fields: Vec<&str> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert_eq!(fields, vec!["welcome", "steps.0.options.0.team_id", "steps.1.type"]);
        let body = assert_problem(app.put(&path, &admin, flow(424242, support)).await, 422, "bad_request").await;
        assert!(body["errors"][0]["message"].as_str().unwrap().contains("424242"), "{body}");
        assert_problem(app.put(&path, &admin, json!({"welcome": "x", "mood": 1})).await, 422, "bad_request").await;
        assert_problem(app.put("/api/v1/teams/999999/triage", &admin, flow(billing, support)).await, 404, "not_found").await;
        assert_eq!(app.count("triage_flows").await, before);
        let still: Value = app.get(&path, &admin).await.json().await.unwrap();
        assert_eq!(still, got, "a refused PUT changes nothing");

        assert_problem(app.delete(&path, &sup.token).await, 403, "forbidden").await;
        assert_eq!(app.delete(&path, &admin).await.status(), 204);
        assert_problem(app.get(&path, &admin).await, 404, "not_found").await;
        assert_problem(app.delete(&path, &admin).await, 404, "not_found").await;
    }

    async fn the_bot_greets_asks_and_hands_over_to_the_team_chosen(app) {
        let admin = app.admin_token().await;
        let support = team(&app, &admin, json!({"name": "Support"})).await;
        let billing = team(&app, &admin, json!({"name": "Billing"})).await;
        let agent = app.create_user(&admin, "agent", json!({"team_ids": [billing]})).await;
        let colleague = app.create_user(&admin, "agent", json!({"team_ids": [support]})).await;
        online(&app, &agent).await;
        app.put(&format!("/api/v1/teams/{support}/triage"), &admin, flow(billing, support)).await;

        let (id, token) = widget_session(&app, json!({"name": "Ana", "issue_type": "support", "custom_fields": {"plan": "pro"}})).await;
        let c = conversation(&app, &admin, id).await;
        assert_eq!((c["state"].clone(), c["team_id"].clone()), (json!("bot"), json!(support)));
        // Nobody's queue holds it while the bot talks; agents cannot see it.
        let res = app.get(&format!("/api/v1/conversations/{id}"), &colleague.token).await;
        assert_problem(res, 404, "not_found").await;

        let mut agent_ws = Ws::agent(&app, &agent.token).await;
        let mut customer = Ws::customer(&app, &token).await;
        let said = history(&mut customer, 2).await;
        assert_eq!(said.len(), 2, "{said:?}");
        assert_eq!(said[0]["text"], "Hi! I'm Switchbot.");
        assert_eq!(said[0]["sender"], json!({"kind": "bot", "id": null, "name": "Switchbot"}));
        assert_eq!(said[1]["text"], "What is it about?\n\n1. Billing\n2. Something else");

        customer.say(None, "c1", "billing").await;
        assert_eq!(bot_says(&mut customer).await["text"], "Your order number?");
        customer.say(None, "c2", "  A-77 ").await;
        let bye = bot_says(&mut customer).await;
        assert_eq!(bye["text"], "Thanks! Connecting you with a person now.");

        let assigned = agent_ws.recv_type("conversation.assigned").await;
        assert_eq!(assigned["conversation"]["id"], id);
        let c = eventually(&app, &admin, id, "assigned", |c| c["state"] == "assigned").await;
        assert_eq!(c["team_id"], billing);
        assert_eq!(c["assignee_id"], agent.id);
        assert_eq!(c["attributes"], json!({"plan": "pro", "order": "A-77"}));
        // Ordinary messages, in order, without gaps: 2 customer, 4 bot.
        let all = history(&mut customer, 6).await;
        let kinds: Vec<&str> = all.iter().map(|m| m["sender"]["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, vec!["bot", "bot", "customer", "bot", "customer", "bot"]);
        let seqs: Vec<i64> = all.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
        assert_eq!(seqs, (1..=6).collect::<Vec<_>>());
    }

    async fn a_customer_id_spelled_like_the_bots_reply_key_takes_nothing_from_the_bot(app) {
        let admin = app.admin_token().await;
        let support = team(&app, &admin, json!({"name": "Support", "auto_assign": false})).await;
        let billing = team(&app, &admin, json!({"name": "Billing", "auto_assign": false})).await;
        app.put(&format!("/api/v1/teams/{support}/triage"), &admin, flow(billing, support)).await;
        let (_, token) = widget_session(&app, json!({"name": "Ana", "issue_type": "support"})).await;
        let mut customer = Ws::customer(&app, &token).await;
        assert_eq!(history(&mut customer, 2).await.len(), 2);
        // `bot:2` is the key of the bot's next reply; sent by the customer
        // it is the customer's key, and the bot still asks.
        let sent = customer.say(None, "bot:2", "billing").await;
        assert_eq!(sent["message"]["sender"]["kind"], "customer");
        let next = bot_says(&mut customer).await;
        assert_eq!((next["seq"].clone(), next["text"].clone()), (json!(4), json!("Your order number?")));
        assert_eq!(next["client_msg_id"], "bot:2");
        // The customer's resend of its `bot:2` is still its own message.
        assert_eq!(customer.say(None, "bot:2", "billing").await["message"], sent["message"]);
    }

    async fn typing_a_handoff_word_skips_to_the_queue_at_once(app) {
        let admin = app.admin_token().await;
        let support = team(&app, &admin, json!({"name": "Support", "auto_assign": false})).await;
        let billing = team(&app, &admin, json!({"name": "Billing"})).await;
        let mut f = flow(billing, support);
        f["handoff_words"] = json!(["human", "talk to someone"]);
        f["handoff_message"] = json!("Sure, getting a person.");
        app.put(&format!("/api/v1/teams/{support}/triage"), &admin, f).await;
        let (id, token) = widget_session(&app, json!({"issue_type": "support"})).await;
        let mut customer = Ws::customer(&app, &token).await;
        assert_eq!(history(&mut customer, 2).await.len(), 2);
        customer.say(None, "c1", "Can I TALK to someone, please?").await;
        assert_eq!(bot_says(&mut customer).await["text"], "Sure, getting a person.");
        let c = eventually(&app, &admin, id, "queued", |c| c["state"] == "queued").await;
        assert_eq!(c["team_id"], support, "no choice made: it stays with the bot's team");
        assert_eq!(c["attributes"], json!({}));
        // The bot has stopped: later messages get no answer from it.
        customer.say(None, "c2", "billing").await;
        customer.expect_no("message.new", std::time::Duration::from_millis(500)).await;
        let all = history(&mut customer, 5).await;
        assert_eq!(all.len(), 5, "welcome, prompt, customer, handoff, customer: {all:?}");
    }

    async fn an_issue_type_chosen_in_triage_is_routed_by_the_rules(app) {
        let admin = app.admin_token().await;
        let support = team(&app, &admin, json!({"name": "Support", "auto_assign": false})).await;
        let billing = team(&app, &admin, json!({"name": "Money", "auto_assign": false})).await;
        let res = app.post("/api/v1/routing-rules", &admin, json!({
            "name": "Refunds", "conditions": {"issue_type": "refund"},
            "team_id": billing, "required_skills": {"billing": 2}, "priority": 9
        })).await;
        assert_eq!(res.status(), 201);
        app.put(&format!("/api/v1/teams/{support}/triage"), &admin, json!({
            "welcome": "Hello.",
            "steps": [{"key": "issue_type", "type": "choice", "prompt": "Topic?",
                       "options": [{"label": "A refund", "value": "refund"}, {"label": "Other"}]}]
        })).await;
        let (id, token) = widget_session(&app, json!({})).await;
        assert_eq!(conversation(&app, &admin, id).await["state"], "bot");
        let mut customer = Ws::customer(&app, &token).await;
        customer.say(None, "c1", "1").await;
        let c = eventually(&app, &admin, id, "queued", |c| c["state"] == "queued").await;
        assert_eq!(c["team_id"], billing);
        assert_eq!(c["issue_type"], "refund");
        assert_eq!(c["priority"], 9);
        let skills = store::conversations::required_skills(&app.db, &[ConversationId(id)]).await.unwrap();
        assert_eq!(skills[&ConversationId(id)].get("billing"), Some(&2));
    }

    async fn a_restarted_bot_sends_what_is_missing_and_repeats_nothing(app) {
        // A crash right after the customer's answer committed and before
        // the bot's reply: the stored conversation is written by hand (no
        // actor runs for it yet), then the actor starts on it when the
        // customer connects, and replays the flow.
        let admin = app.admin_token().await;
        let support = team(&app, &admin, json!({"name": "Support", "auto_assign": false})).await;
        let billing = team(&app, &admin, json!({"name": "Billing", "auto_assign": false})).await;
        app.put(&format!("/api/v1/teams/{support}/triage"), &admin, flow(billing, support)).await;
        let (visitor, row) = store::conversations::create_with_visitor(&app.db, &store::conversations::NewConversation {
            name: None, email: None, user_agent: None, page_url: None, issue_type: Some("support".into()), language: None,
            attributes: json!({}), team: Some(TeamId(support)), state: ConversationState::Bot, priority: 0, offline: false, assign_to: None,
        }).await.unwrap();
        let (id, cid) = (row.id, ConversationId(row.id));
        let secret = tokens::load_or_create_secret("", app.data_dir.path()).unwrap();
        let token = tokens::TokenKeys::new(&secret, 900, 3600).issue_visitor(VisitorId(visitor.id), cid).unwrap();
        let bot = |n: i64, text: &str| store::messages::NewMessage {
            seq: n,
            client_msg_id: Some(format!("bot:{}", n - 1)),
            sender: Sender { kind: PartyKind::Bot, id: None, name: Some("Switchbot".into()) },
            text: text.into(),
        };
        store::messages::commit_batch(&app.db, cid, store::conversations::Fence::default(), &[
            bot(1, "Hi! I'm Switchbot."),
            bot(2, "What is it about?\n\n1. Billing\n2. Something else"),
            store::messages::NewMessage {
                seq: 3,
                client_msg_id: Some("c1".into()),
                sender: Sender { kind: PartyKind::Customer, id: Some(visitor.id), name: None },
                text: "2".into(),
            },
        ]).await.unwrap();

        let mut customer = Ws::customer(&app, &token).await;
        let next = bot_says(&mut customer).await;
        assert_eq!((next["seq"].clone(), next["text"].clone()), (json!(4), json!("Your order number?")));
        let all = history(&mut customer, 4).await;
        let texts: Vec<&str> = all.iter().map(|m| m["text"].as_str().unwrap()).collect();
        assert_eq!(texts.iter().filter(|t| **t == "Hi! I'm Switchbot.").count(), 1, "{texts:?}");
        assert_eq!(all.len(), 4, "{texts:?}");
        customer.say(None, "c2", "B-2").await;
        let c = eventually(&app, &admin, id, "queued", |c| c["state"] == "queued").await;
        assert_eq!(c["team_id"], support);
        assert_eq!(c["attributes"]["order"], "B-2");
    }
}
