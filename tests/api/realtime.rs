//! The realtime core over real WebSockets: every guarantee of DESIGN.md and
//! the realtime issue, pinned with simultaneous clients.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::ws_client::{Ended, Ws};
use crate::{on_both, on_both_with};

/// A team with one agent, and a customer conversation waiting in it.
pub struct Scene {
    pub admin: String,
    pub team: i64,
    pub agent: TestUser,
    pub conversation: i64,
    pub visitor_token: String,
}

/// Starts a widget conversation; returns (conversation id, visitor token).
pub async fn widget_session(app: &TestApp, body: Value) -> (i64, String) {
    let res = app
        .send(Method::POST, "/api/v1/widget/sessions", None, Some(&body))
        .await;
    assert_eq!(
        res.status(),
        201,
        "{}",
        res.text().await.unwrap_or_default()
    );
    let s: Value = res.json().await.unwrap();
    (
        s["conversation_id"].as_i64().unwrap(),
        s["visitor_token"].as_str().unwrap().to_owned(),
    )
}

/// The scene's team takes conversations by hand (`auto_assign: false`), so
/// these tests drive assignment themselves; `tests/api/routing.rs` covers
/// automatic assignment.
pub async fn scene(app: &TestApp) -> Scene {
    let admin = app.admin_token().await;
    let res = app
        .post(
            "/api/v1/teams",
            &admin,
            json!({"name": "Support", "auto_assign": false}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let team = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let agent = app
        .create_user(&admin, "agent", json!({"team_ids": [team]}))
        .await;
    let (conversation, visitor_token) = widget_session(
        app,
        json!({"name": "Ana", "email": "ana@example.com", "issue_type": "support"}),
    )
    .await;
    Scene {
        admin,
        team,
        agent,
        conversation,
        visitor_token,
    }
}

/// The scene with the agent connected and holding the conversation.
async fn accepted(app: &TestApp) -> (Scene, Ws, Ws) {
    let s = scene(app).await;
    let mut customer = Ws::customer(app, &s.visitor_token).await;
    let mut agent = Ws::agent(app, &s.agent.token).await;
    agent
        .send(
            json!({"type": "conversation.accept", "conversation_id": s.conversation, "ref": "acc"}),
        )
        .await;
    let got = agent.recv_all(&["ok", "conversation.assigned"]).await;
    assert_eq!(got["ok"]["ref"], "acc");
    let upd = customer.recv_type("conversation.updated").await;
    assert_eq!(upd["conversation"]["state"], "assigned");
    (s, customer, agent)
}

async fn stored_messages(app: &TestApp, conversation: i64) -> i64 {
    use sea_orm::{ConnectionTrait, Statement};
    let row = app
        .db
        .query_one_raw(Statement::from_string(
            app.db.get_database_backend(),
            format!("SELECT COUNT(*) AS n FROM messages WHERE conversation_id = {conversation}"),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

/// Makes the store refuse (or, with `on` false, take again) every message
/// whose text is `text`: a commit that fails, on either backend.
async fn refuse_text(app: &TestApp, text: &str, on: bool) {
    use sea_orm::{ConnectionTrait, DbBackend};
    let statements = match (app.db.get_database_backend(), on) {
        (DbBackend::Postgres, true) => vec![
            format!(
                "CREATE FUNCTION refuse_text() RETURNS trigger AS $$ BEGIN \
                 IF NEW.text = '{text}' THEN RAISE EXCEPTION 'refused by the test'; END IF; \
                 RETURN NEW; END $$ LANGUAGE plpgsql"
            ),
            "CREATE TRIGGER refuse_text BEFORE INSERT ON messages \
             FOR EACH ROW EXECUTE FUNCTION refuse_text()"
                .to_owned(),
        ],
        (DbBackend::Postgres, false) => vec![
            "DROP TRIGGER refuse_text ON messages".to_owned(),
            "DROP FUNCTION refuse_text()".to_owned(),
        ],
        (_, true) => vec![format!(
            "CREATE TRIGGER refuse_text BEFORE INSERT ON messages WHEN NEW.text = '{text}' \
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        )],
        (_, false) => vec!["DROP TRIGGER refuse_text".to_owned()],
    };
    for sql in statements {
        app.db.execute_unprepared(&sql).await.unwrap();
    }
}

/// Sends `total` messages of `text` from `agent` into `conversation`, a
/// hundred at a time, each hundred's acks read (in seq order from 1)
/// before the next: as fast as a client that keeps reading its acks.
async fn burst(agent: &mut Ws, conversation: i64, key: &str, total: i64, text: &str) {
    for chunk in 0..(total / 100) {
        for i in 0..100 {
            let n = chunk * 100 + i;
            agent
                .send(
                    json!({"type": "message.send", "conversation_id": conversation,
                    "client_msg_id": format!("{key}{n}"), "text": text}),
                )
                .await;
        }
        for i in 0..100 {
            let ack = agent.recv_type("message.ack").await;
            assert_eq!(ack["message"]["seq"], chunk * 100 + i + 1);
        }
    }
}

/// An agent writes `history` messages (a multiple of 100); an admin's
/// socket resumes the conversation from 0 while the agent sends 30 more
/// without waiting. The admin must get seqs 1 to `history` + 30, each once,
/// in order, and `resume.done` right after the seq it names (at least
/// `history`).
async fn resume_while_live_messages_come(app: &TestApp, history: i64) {
    let (s, _customer, mut agent) = accepted(app).await;
    burst(&mut agent, s.conversation, "h", history, "history").await;
    let mut admin = Ws::agent(app, &s.admin).await;
    admin
        .send(json!({"type": "resume", "conversation_id": s.conversation, "after_seq": 0, "ref": "r"}))
        .await;
    let live = 30i64;
    for i in 1..=live {
        agent
            .send(
                json!({"type": "message.send", "conversation_id": s.conversation,
                "client_msg_id": format!("l{i}"), "text": format!("live {i}")}),
            )
            .await;
    }
    let total = history + live;
    let (mut seqs, mut done) = (Vec::new(), false);
    while (seqs.len() as i64) < total || !done {
        let f = admin.recv().await;
        match f["type"].as_str() {
            Some("message.new") if f["message"]["conversation_id"] == s.conversation => {
                seqs.push(f["message"]["seq"].as_i64().unwrap())
            }
            Some("resume.done") => {
                assert!(f["last_seq"].as_i64().unwrap() >= history, "{f}");
                assert_eq!(
                    seqs.last(),
                    f["last_seq"].as_i64().as_ref(),
                    "everything up to last_seq came first"
                );
                done = true;
            }
            _ => {}
        }
    }
    assert_eq!(seqs, (1..=total).collect::<Vec<_>>());
}

/// Frames as runs of consecutive seqs, e.g. `1-500, 1001-1100, 501-1000,
/// done:second`.
fn runs(frames: &[String]) -> String {
    let mut out: Vec<(String, Option<(i64, i64)>)> = Vec::new();
    for f in frames {
        match (f.parse::<i64>().ok(), out.last_mut()) {
            (Some(n), Some((_, Some((_, end))))) if *end + 1 == n => *end = n,
            (Some(n), _) => out.push((String::new(), Some((n, n)))),
            (None, _) => out.push((f.clone(), None)),
        }
    }
    out.iter()
        .map(|(text, run)| match run {
            Some((a, b)) if a == b => a.to_string(),
            Some((a, b)) => format!("{a}-{b}"),
            None => text.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads what a socket that stopped reading can still read, until the
/// server ends it (each frame within 5 s, else the test fails); returns
/// the last message seq it had.
async fn read_until_cut_off(stalled: &mut Ws) -> i64 {
    let mut last_seq = 0;
    loop {
        match tokio::time::timeout(Duration::from_secs(5), stalled.next_frame()).await {
            Ok(Some(v)) if v["type"] == "message.new" => {
                last_seq = v["message"]["seq"].as_i64().unwrap()
            }
            Ok(Some(_)) => {}
            Ok(None) => return last_seq,
            Err(_) => panic!("the stalled socket was never cut off (read up to seq {last_seq})"),
        }
    }
}

on_both! {
    async fn hello_tells_each_side_who_it_is(app) {
        let s = scene(&app).await;
        let customer = Ws::customer(&app, &s.visitor_token).await;
        assert_eq!(customer.hello["me"]["conversation_id"], s.conversation);
        assert!(customer.hello["heartbeat_ms"].as_u64().unwrap() > 0);
        assert!(customer.hello["session_id"].is_string() && customer.hello["node_id"].is_string());
        let agent = Ws::agent(&app, &s.agent.token).await;
        assert_eq!(agent.hello["me"]["id"], s.agent.id);
        assert_eq!(agent.hello["me"]["role"], "agent");
    }

    async fn messages_are_acked_after_commit_and_delivered_in_order_without_gaps(app) {
        let (s, mut customer, mut agent) = accepted(&app).await;
        for i in 1..=25 {
            customer.send(json!({"type": "message.send", "client_msg_id": format!("c{i}"), "text": format!("hello {i}")})).await;
        }
        for i in 1..=25i64 {
            let ack = customer.recv_type("message.ack").await;
            assert_eq!(ack["message"]["seq"], i, "{ack}");
            // Ack only after commit: the row is there when the ack is.
            assert!(stored_messages(&app, s.conversation).await >= i);
        }
        for i in 1..=25i64 {
            let m = agent.recv_type("message.new").await;
            assert_eq!(m["message"]["seq"], i);
            // Recipients only after commit, too.
            assert!(stored_messages(&app, s.conversation).await >= i);
            assert_eq!(m["message"]["text"], format!("hello {i}"));
            assert_eq!(m["message"]["sender"]["kind"], "customer");
        }
        let reply = agent.say(Some(s.conversation), "a1", "<b>hi</b> & welcome").await;
        assert_eq!(reply["message"]["seq"], 26);
        let m = customer.recv_type("message.new").await;
        assert_eq!(m["message"]["text"], "<b>hi</b> & welcome", "text is stored and sent as is");
        assert_eq!(m["message"]["sender"]["kind"], "agent");
        assert_eq!(m["message"]["sender"]["id"], s.agent.id);
        assert_eq!(stored_messages(&app, s.conversation).await, 26);
    }

    async fn resume_after_a_reconnect_returns_exactly_what_was_missed(app) {
        let (s, mut customer, mut agent) = accepted(&app).await;
        for i in 1..=3 {
            customer.say(None, &format!("c{i}"), &format!("m{i}")).await;
        }
        drop(customer);
        for i in 4..=8 {
            agent.say(Some(s.conversation), &format!("a{i}"), &format!("m{i}")).await;
        }
        let mut customer = Ws::customer(&app, &s.visitor_token).await;
        customer.send(json!({"type": "resume", "after_seq": 3, "ref": "r"})).await;
        for i in 4..=8i64 {
            let m = customer.recv().await;
            assert_eq!(m["type"], "message.new", "{m}");
            assert_eq!(m["message"]["seq"], i);
        }
        let done = customer.recv_type("resume.done").await;
        assert_eq!(done["last_seq"], 8);
        assert_eq!(done["ref"], "r");
        assert_eq!(done["conversation_id"], s.conversation);
        // And it keeps following live.
        agent.say(Some(s.conversation), "a9", "m9").await;
        assert_eq!(customer.recv_type("message.new").await["message"]["seq"], 9);
        // An agent resumes too.
        let mut again = Ws::agent(&app, &s.agent.token).await;
        again.send(json!({"type": "resume", "conversation_id": s.conversation, "after_seq": 7})).await;
        assert_eq!(again.recv_type("message.new").await["message"]["seq"], 8);
        assert_eq!(again.recv_type("message.new").await["message"]["seq"], 9);
        assert_eq!(again.recv_type("resume.done").await["last_seq"], 9);
    }

    async fn live_messages_after_a_resume_follow_its_history_in_order(app) {
        // A resume's history reaches the socket by another message than
        // live frames (past the mailbox's bound): live messages committed
        // while that history is on its way must still come after it, each
        // once, in seq order. An admin's socket follows the conversation
        // only from its resume on, so the live burst may race it freely.
        resume_while_live_messages_come(&app, 200).await;
    }

    async fn a_resume_of_many_pages_arrives_whole_with_live_messages_after_it(app) {
        // The history is read and sent a page at a time (500 rows): the
        // pages must join without a gap or a repeat, and what is committed
        // meanwhile must wait for the last page.
        resume_while_live_messages_come(&app, 1_100).await;
    }

    async fn a_second_resume_on_a_socket_supersedes_the_first_and_keeps_what_it_held(app) {
        // Two resumes back to back, with a typing frame and a live message
        // produced while the first reads its history. Should the second
        // reach the conversation while the first still reads, the first's
        // pages stop where they were, the first hears `conflict` (not
        // silence), and what the first held comes after the second's
        // history, before its `resume.done`. Should the first end first (a
        // fast machine), its `resume.done` comes between two whole
        // histories. Either way nothing is lost and nothing comes twice
        // but what the second asked for again.
        // Ten pages of history: the second resume comes while the first
        // still reads (nearly always; the other order is checked too).
        const H: i64 = 5_000;
        let (s, mut customer, mut agent) = accepted(&app).await;
        burst(&mut agent, s.conversation, "h", H, "history").await;
        let mut admin = Ws::agent(&app, &s.admin).await;
        admin.send(json!({"type": "resume", "conversation_id": s.conversation, "after_seq": 0, "ref": "first"})).await;
        // What arrives, in order: seqs, `typing`, and `done:<ref>` or
        // `error:<ref>` for each resume's end.
        let mut got: Vec<String> = Vec::new();
        let first = admin.recv_type("message.new").await;
        got.push(first["message"]["seq"].to_string());
        // The first is reading: the customer types, then writes (its ack
        // says the conversation took the typing before it).
        customer.send(json!({"type": "typing", "is_typing": true})).await;
        assert_eq!(customer.say(None, "during", "while you read").await["message"]["seq"], H + 1);
        admin.send(json!({"type": "resume", "conversation_id": s.conversation, "after_seq": H - 100, "ref": "second"})).await;
        // A message sent after the second's `resume.done` marks the end:
        // anything the first still sent would arrive before it.
        let (live, marker) = ((H + 1).to_string(), (H + 2).to_string());
        while got.last() != Some(&marker) {
            let f = admin.recv().await;
            match f["type"].as_str() {
                Some("message.new") => got.push(f["message"]["seq"].to_string()),
                Some("typing") => got.push("typing".into()),
                Some("resume.done" | "error") => {
                    let r = f["ref"].as_str().unwrap_or_default();
                    if f["type"] == "error" {
                        assert_eq!(f["code"], "conflict", "{f}");
                    }
                    got.push(format!("{}:{r}", if f["type"] == "error" { "error" } else { "done" }));
                    if f["type"] == "resume.done" && r == "second" {
                        agent.send(json!({"type": "message.send", "conversation_id": s.conversation,
                            "client_msg_id": "marker", "text": "after"})).await;
                    }
                }
                _ => {}
            }
        }
        let seqs = |r: std::ops::RangeInclusive<i64>| r.map(|n| n.to_string()).collect::<Vec<_>>();
        let strs = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        if got.iter().any(|f| f == "error:first") {
            // Superseded: the first's pages out so far (1..=k, k at most
            // 1,000: its last page would have ended it), its `conflict`,
            // the second's history up to where the first's bound was, then
            // what the first held, in order.
            let k = got.iter().position(|f| f == "error:first").unwrap();
            assert!(k <= (H - 100) as usize && got[..k] == seqs(1..=k as i64)[..], "frames came as {}", runs(&got));
            let mut tail = seqs(H - 99..=H);
            tail.extend([strs(&["typing"]), vec![live.clone()], strs(&["done:second"]), vec![marker.clone()]].concat());
            assert!(got[k + 1..] == tail[..], "frames came as {}", runs(&got));
        } else {
            // The first ended before the second began: its history, the
            // typing and the live message (held or live, so its `resume.done` may come
            // before, between or after them), then the second's whole
            // history.
            let done = got.iter().position(|f| f == "done:first");
            assert!(done.is_some_and(|d| d >= H as usize), "frames came as {}", runs(&got));
            let mut all = seqs(1..=H);
            all.extend([strs(&["typing"]), vec![live.clone()]].concat());
            all.extend(seqs(H - 99..=H + 1));
            all.extend([strs(&["done:second"]), vec![marker.clone()]].concat());
            let without: Vec<String> = got.iter().filter(|f| *f != "done:first").cloned().collect();
            assert!(without == all, "frames came as {}", runs(&got));
        }
    }

    async fn a_senders_ack_during_its_resume_comes_after_the_history(app) {
        // A socket that sends while its resume reads history gets its ack
        // after the history's messages, as every frame about the
        // conversation in seq order (docs/protocol.md §5.2), not before.
        // Ten pages of history: the commit comes while it is read.
        const H: i64 = 5_000;
        let (s, _customer, mut agent) = accepted(&app).await;
        burst(&mut agent, s.conversation, "h", H, "history").await;
        let mut customer = Ws::customer(&app, &s.visitor_token).await;
        customer.send(json!({"type": "resume", "after_seq": 0, "ref": "r"})).await;
        customer.send(json!({"type": "message.send", "client_msg_id": "mine", "text": "meanwhile", "ref": "m"})).await;
        let mut got: Vec<String> = Vec::new();
        while !(got.iter().any(|f| f.starts_with("ack:")) && got.iter().any(|f| f.starts_with("done:"))) {
            let f = customer.recv().await;
            match f["type"].as_str() {
                Some("message.new") => got.push(f["message"]["seq"].to_string()),
                Some("message.ack") => got.push(format!("ack:{}", f["message"]["seq"])),
                Some("resume.done") => got.push(format!("done:{}", f["last_seq"])),
                _ => {}
            }
        }
        let mut expected = (1..=H).map(|n| n.to_string()).collect::<Vec<_>>();
        let n = expected.len();
        // Committed during the catch-up (the usual case) or after it.
        let during = [expected.clone(), vec![format!("ack:{}", H + 1), format!("done:{}", H + 1)]].concat();
        expected.extend([format!("done:{H}"), format!("ack:{}", H + 1)]);
        assert!(got == during || got == expected, "frames came as {} (history {n})", runs(&got));
    }

    async fn a_resend_is_answered_with_its_message_after_the_sender_lost_the_right_to_write(app) {
        // Invariant 3 outranks the rights of a new send: a resend of a
        // stored message gets that message, even once the conversation is
        // closed (the customer) or gone to another team (its old agent);
        // a new send is refused as before, and nothing is stored.
        let (s, mut customer, mut agent) = accepted(&app).await;
        let mine = customer.say(None, "c-77", "from the customer").await;
        let theirs = agent.say(Some(s.conversation), "a-1", "from the agent").await;
        let billing = app.create_team(&s.admin, "Billing").await;
        agent.send(json!({"type": "conversation.transfer", "conversation_id": s.conversation, "team_id": billing, "ref": "t"})).await;
        assert_eq!(agent.recv_type("ok").await["ref"], "t");
        let again = agent.say(Some(s.conversation), "a-1", "from the agent").await;
        assert_eq!(again["message"], theirs["message"]);
        agent.send(json!({"type": "message.send", "conversation_id": s.conversation, "client_msg_id": "a-2", "text": "new", "ref": "a2"})).await;
        let refused = agent.recv_type("error").await;
        // Gone to a team it is not in, the conversation is out of its sight.
        assert_eq!((refused["ref"].clone(), refused["code"].clone()), (json!("a2"), json!("not_found")), "{refused}");
        customer.send(json!({"type": "conversation.close", "ref": "c"})).await;
        assert_eq!(customer.recv_type("ok").await["ref"], "c");
        let again = customer.say(None, "c-77", "from the customer").await;
        assert_eq!(again["message"], mine["message"]);
        customer.send(json!({"type": "message.send", "client_msg_id": "c-78", "text": "new", "ref": "c78"})).await;
        let refused = customer.recv_type("error").await;
        assert_eq!((refused["ref"].clone(), refused["code"].clone()), (json!("c78"), json!("conflict")), "{refused}");
        assert_eq!(stored_messages(&app, s.conversation).await, 2);
    }

    async fn the_same_client_msg_id_twice_gives_one_message_and_the_same_ack(app) {
        let (s, mut customer, _agent) = accepted(&app).await;
        // Twice back to back (the second arrives while the first is in flight)…
        for _ in 0..2 {
            customer.send(json!({"type": "message.send", "client_msg_id": "dup", "text": "once"})).await;
        }
        let a = customer.recv_type("message.ack").await;
        let b = customer.recv_type("message.ack").await;
        assert_eq!(a["message"], b["message"]);
        // …and again long after the commit, from a new socket.
        let mut later = Ws::customer(&app, &s.visitor_token).await;
        let c = later.say(None, "dup", "once").await;
        assert_eq!(c["message"], a["message"]);
        assert_eq!(stored_messages(&app, s.conversation).await, 1);
        let next = later.say(None, "other", "twice").await;
        assert_eq!(next["message"]["seq"], 2);
    }

    async fn the_same_client_msg_id_from_each_side_is_each_sides_own_message(app) {
        let (s, mut customer, mut agent) = accepted(&app).await;
        // Each side's client numbers its own sends: a customer's `1` is not
        // the agent's `1`, committed or not.
        let mine = customer.say(None, "1", "from the customer").await;
        let theirs = agent.say(Some(s.conversation), "1", "from the agent").await;
        assert_eq!(theirs["message"]["seq"], 2, "{theirs}");
        assert_eq!(theirs["message"]["text"], "from the agent");
        assert_eq!(theirs["message"]["sender"]["kind"], "agent");
        // Both at once: the second may come while the first is uncommitted.
        customer.send(json!({"type": "message.send", "client_msg_id": "2", "text": "c2"})).await;
        agent.send(json!({"type": "message.send", "conversation_id": s.conversation, "client_msg_id": "2", "text": "a2"})).await;
        let c2 = customer.recv_type("message.ack").await;
        let a2 = agent.recv_type("message.ack").await;
        assert_eq!((c2["message"]["text"].clone(), a2["message"]["text"].clone()), (json!("c2"), json!("a2")));
        assert_ne!(c2["message"]["seq"], a2["message"]["seq"]);
        assert_eq!(stored_messages(&app, s.conversation).await, 4);
        // Each side's resend still gives its own message.
        assert_eq!(customer.say(None, "1", "from the customer").await["message"], mine["message"]);
        assert_eq!(agent.say(Some(s.conversation), "1", "from the agent").await["message"], theirs["message"]);
        assert_eq!(stored_messages(&app, s.conversation).await, 4);
    }

    async fn a_send_whose_commit_fails_gets_an_error_no_ack_and_leaves_no_gap(app) {
        let (s, mut customer, mut agent) = accepted(&app).await;
        refuse_text(&app, "boom", true).await;
        customer.send(json!({"type": "message.send", "client_msg_id": "b", "text": "boom", "ref": "b"})).await;
        // Invariant 1: the sender hears of the failure, never an ack.
        let err = loop {
            let f = customer.recv().await;
            assert_ne!(f["type"], "message.ack", "ack of an uncommitted message: {f}");
            if f["type"] == "error" {
                break f;
            }
        };
        assert_eq!((err["ref"].clone(), err["code"].clone()), (json!("b"), json!("internal")), "{err}");
        assert_eq!(stored_messages(&app, s.conversation).await, 0);
        // Invariant 2: the next message takes the failed one's seq, and the
        // other side sees no gap.
        let next = customer.say(None, "fine", "after it").await;
        assert_eq!(next["message"]["seq"], 1);
        let seen = agent.recv_type("message.new").await;
        assert_eq!((seen["message"]["seq"].clone(), seen["message"]["text"].clone()), (json!(1), json!("after it")));
        // Invariant 3: the failed key was never remembered; sent again it is new.
        refuse_text(&app, "boom", false).await;
        let again = customer.say(None, "b", "boom").await;
        assert_eq!(again["message"]["seq"], 2, "{again}");
        assert_eq!(stored_messages(&app, s.conversation).await, 2);
    }

    async fn a_resend_of_a_message_the_store_no_longer_holds_is_a_new_message(app) {
        use sea_orm::{ConnectionTrait, Statement};
        let (s, mut customer, _agent) = accepted(&app).await;
        let first = customer.say(None, "gone", "once").await;
        assert_eq!(first["message"]["seq"], 1);
        // The running conversation remembers the id; the store decides.
        app.db.execute_raw(Statement::from_string(app.db.get_database_backend(), format!(
            "DELETE FROM messages WHERE conversation_id = {} AND client_msg_id = 'gone'", s.conversation,
        ))).await.unwrap();
        let again = customer.say(None, "gone", "once more").await;
        assert_eq!(again["message"]["seq"], 2, "{again}");
        assert_eq!(again["message"]["text"], "once more");
        assert_eq!(stored_messages(&app, s.conversation).await, 1);
        // Now stored again, it is a resend once more.
        let third = customer.say(None, "gone", "a third time").await;
        assert_eq!(third["message"], again["message"]);
        assert_eq!(stored_messages(&app, s.conversation).await, 1);
    }

    async fn an_agent_cannot_reach_a_conversation_outside_its_scope(app) {
        let s = scene(&app).await;
        let other_team = app.create_team(&s.admin, "Elsewhere").await;
        let outsider = app.create_user(&s.admin, "agent", json!({"team_ids": [other_team]})).await;
        let mut ws = Ws::agent(&app, &outsider.token).await;
        // The conversation is answered as missing, word for word (REST's
        // 404); the team, which is no secret, as forbidden.
        ws.send(json!({"type": "resume", "conversation_id": 987_654, "after_seq": 0})).await;
        let missing = ws.recv_type("error").await;
        assert_eq!(missing["code"], "not_found", "{missing}");
        for (i, (frame, code)) in [
            (json!({"type": "resume", "conversation_id": s.conversation, "after_seq": 0}), "not_found"),
            (json!({"type": "message.send", "conversation_id": s.conversation, "client_msg_id": "x", "text": "hi"}), "not_found"),
            (json!({"type": "conversation.accept", "conversation_id": s.conversation}), "not_found"),
            (json!({"type": "typing", "conversation_id": s.conversation, "is_typing": true}), "not_found"),
            (json!({"type": "read", "conversation_id": s.conversation, "up_to_seq": 1}), "not_found"),
            (json!({"type": "conversation.close", "conversation_id": s.conversation}), "not_found"),
            (json!({"type": "queue.watch", "team_id": s.team}), "forbidden"),
        ].into_iter().enumerate() {
            let mut f = frame;
            f["ref"] = json!(format!("r{i}"));
            ws.send(f).await;
            let e = ws.recv_type("error").await;
            assert_eq!(e["code"], code, "{e}");
            assert_eq!(e["ref"], format!("r{i}"));
            if code == "not_found" {
                assert_eq!(e["message"], missing["message"], "{e}");
            }
        }
        let rest = app.get(&format!("/api/v1/conversations/{}", s.conversation), &outsider.token).await;
        assert_problem(rest, 404, "not_found").await;
        let inbox: Value = app.get("/api/v1/conversations", &outsider.token).await.json().await.unwrap();
        assert_eq!(inbox["items"], json!([]));
        // A teammate may look at the queued conversation but must accept before writing.
        let mut mate = Ws::agent(&app, &s.agent.token).await;
        mate.send(json!({"type": "message.send", "conversation_id": s.conversation, "client_msg_id": "y", "text": "hi"})).await;
        assert_eq!(mate.recv_type("error").await["code"], "forbidden");
        assert_eq!(stored_messages(&app, s.conversation).await, 0);
    }

    async fn a_customer_token_cannot_touch_another_conversation(app) {
        let s = scene(&app).await;
        let (other, _) = widget_session(&app, json!({"name": "Bob"})).await;
        let mut ws = Ws::customer(&app, &s.visitor_token).await;
        // Any conversation id but its own gets the same answer, whether it
        // exists or not: nothing tells a customer which ids exist.
        ws.send(json!({"type": "message.send", "conversation_id": other, "client_msg_id": "x", "text": "hi"})).await;
        let e = ws.recv_type("error").await;
        assert_eq!((e["code"].as_str(), e["message"].as_str()), (Some("forbidden"), Some("not your conversation")), "{e}");
        ws.send(json!({"type": "resume", "conversation_id": other, "after_seq": 0})).await;
        assert_eq!(ws.recv_type("error").await["code"], "forbidden");
        ws.send(json!({"type": "resume", "conversation_id": 987_654, "after_seq": 0})).await;
        let e = ws.recv_type("error").await;
        assert_eq!((e["code"].as_str(), e["message"].as_str()), (Some("forbidden"), Some("not your conversation")), "{e}");
        ws.send(json!({"type": "conversation.accept", "conversation_id": other})).await;
        assert_eq!(ws.recv_type("error").await["code"], "forbidden");
        assert_eq!(stored_messages(&app, other).await, 0);
        // Bad or staff tokens do not open a customer socket, and vice versa.
        assert_eq!(Ws::connect(&app, "/ws/v1/customer?token=garbage").await.err(), Some(401));
        assert_eq!(Ws::connect(&app, "/ws/v1/customer").await.err(), Some(401));
        assert_eq!(Ws::connect(&app, &format!("/ws/v1/customer?token={}", s.agent.token)).await.err(), Some(401));
        assert_eq!(Ws::connect(&app, &format!("/ws/v1/agent?access_token={}", s.visitor_token)).await.err(), Some(401));
        assert_eq!(Ws::connect(&app, "/ws/v1/agent").await.err(), Some(401));
    }

    async fn bad_frames_get_an_error_frame_store_nothing_and_keep_the_socket(app) {
        let (s, mut customer, _agent) = accepted(&app).await;
        let cases: Vec<(String, &str)> = vec![
            ("{not json".into(), "bad_request"),
            ("[]".into(), "bad_request"),
            (json!({"type": "fly", "ref": "u"}).to_string(), "bad_request"),
            (json!({"type": "message.send", "client_msg_id": "m"}).to_string(), "bad_request"),
            (json!({"type": "message.send", "client_msg_id": "m", "text": ""}).to_string(), "bad_request"),
            (json!({"type": "message.send", "client_msg_id": "x".repeat(65), "text": "hi"}).to_string(), "bad_request"),
            (json!({"type": "message.send", "client_msg_id": "m", "text": "y".repeat(4001)}).to_string(), "too_large"),
            (json!({"type": "read", "up_to_seq": -1}).to_string(), "bad_request"),
        ];
        for (frame, code) in cases {
            customer.send_raw(frame.clone()).await;
            let e = customer.recv_type("error").await;
            assert_eq!(e["code"], code, "{frame} → {e}");
        }
        customer.send(json!({"type": "ping", "ref": "p"})).await;
        assert_eq!(customer.recv_type("pong").await["ref"], "p");
        assert_eq!(stored_messages(&app, s.conversation).await, 0);
        let ok = customer.say(None, "fine", "y".repeat(4000).as_str()).await;
        assert_eq!(ok["message"]["seq"], 1);
    }

    async fn typing_and_receipts_reach_the_other_side_and_unread_counts_are_kept(app) {
        let (s, mut customer, mut agent) = accepted(&app).await;
        customer.send(json!({"type": "typing", "is_typing": true})).await;
        let t = agent.recv_type("typing").await;
        assert_eq!(t["is_typing"], true);
        assert_eq!(t["by"]["kind"], "customer");
        assert_eq!(t["conversation_id"], s.conversation);
        agent.send(json!({"type": "typing", "conversation_id": s.conversation, "is_typing": true})).await;
        let t = customer.recv_type("typing").await;
        assert_eq!(t["by"]["kind"], "agent");
        assert_eq!(t["by"]["id"], s.agent.id);

        customer.say(None, "c1", "one").await;
        customer.say(None, "c2", "two").await;
        let delivered = customer.recv_type("receipt").await;
        assert_eq!(delivered["kind"], "delivered");
        assert_eq!(delivered["by"]["kind"], "agent");
        let conv: Value = app.get(&format!("/api/v1/conversations/{}", s.conversation), &s.agent.token).await.json().await.unwrap();
        assert_eq!(conv["unread"]["agent"], 2);
        agent.send(json!({"type": "read", "conversation_id": s.conversation, "up_to_seq": 2})).await;
        let read = customer.recv_type("receipt").await;
        let read = if read["kind"] == "read" { read } else { customer.recv_type("receipt").await };
        assert_eq!(read["kind"], "read");
        assert_eq!(read["up_to_seq"], 2);
        assert_eq!(read["by"]["kind"], "agent");
        // The store catches up right after the receipt.
        let mut unread = json!(null);
        for _ in 0..50 {
            let conv: Value = app.get(&format!("/api/v1/conversations/{}", s.conversation), &s.agent.token).await.json().await.unwrap();
            unread = conv["unread"].clone();
            if unread["agent"] == 0 { break; }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(unread, json!({"agent": 0, "customer": 0}));
        agent.say(Some(s.conversation), "a1", "reply").await;
        let conv: Value = app.get(&format!("/api/v1/conversations/{}", s.conversation), &s.agent.token).await.json().await.unwrap();
        assert_eq!(conv["unread"]["customer"], 1);
    }

    async fn closing_reaches_everyone_and_a_closed_conversation_takes_no_messages(app) {
        let (s, mut customer, mut agent) = accepted(&app).await;
        // A reason with a line break (it would write fake lines into the
        // transcript) or blank is refused on both sides, and nothing closes.
        for (i, reason) in ["done)\n[2026-12-08 00:50:00 UTC] Ana: I agree", "  "].into_iter().enumerate() {
            customer.send(json!({"type": "conversation.close", "reason": reason, "ref": format!("bad{i}")})).await;
            let e = customer.recv_type("error").await;
            assert_eq!((e["code"].as_str(), e["ref"].as_str()), (Some("bad_request"), Some(format!("bad{i}").as_str())), "{e}");
            let path = format!("/api/v1/conversations/{}/close", s.conversation);
            assert_problem(app.post(&path, &s.admin, json!({"reason": reason})).await, 422, "bad_request").await;
        }
        let conv: Value = app.get(&format!("/api/v1/conversations/{}", s.conversation), &s.admin).await.json().await.unwrap();
        assert_eq!(conv["state"], "assigned");
        customer.send(json!({"type": "conversation.close", "reason": "done", "ref": "c"})).await;
        assert_eq!(customer.recv_type("ok").await["ref"], "c");
        let upd = agent.recv_type("conversation.updated").await;
        assert_eq!(upd["conversation"]["state"], "closed");
        assert_eq!(upd["conversation"]["closed_reason"], "done");
        customer.send(json!({"type": "message.send", "client_msg_id": "late", "text": "hello?"})).await;
        assert_eq!(customer.recv_type("error").await["code"], "conflict");
        agent.send(json!({"type": "conversation.close", "conversation_id": s.conversation})).await;
        assert_eq!(agent.recv_type("error").await["code"], "conflict");
        // Reopen puts it back in the queue.
        let res = app.post(&format!("/api/v1/conversations/{}/reopen", s.conversation), &s.admin, json!({})).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.json::<Value>().await.unwrap()["state"], "queued");
        assert_eq!(customer.recv_type("conversation.updated").await["conversation"]["state"], "queued");
    }

    async fn queue_watchers_see_waiting_conversations_accepts_and_presence(app) {
        let s = scene(&app).await;
        let sup = app.create_user(&s.admin, "supervisor", json!({"team_ids": [s.team]})).await;
        let mut watcher = Ws::agent(&app, &sup.token).await;
        watcher.send(json!({"type": "queue.watch", "team_id": s.team})).await;
        let snap = watcher.recv_type("queue.snapshot").await;
        assert_eq!(snap["team_id"], s.team);
        assert_eq!(snap["waiting"][0]["conversation_id"], s.conversation);
        let agents = snap["agents"].as_array().unwrap();
        assert!(agents.iter().any(|a| a["id"] == s.agent.id && a["status"] == "offline" && a["load"] == 0));

        let (second, _) = widget_session(&app, json!({"issue_type": "Support"})).await;
        let upd = watcher.recv_type("queue.update").await;
        let waiting: Vec<i64> = upd["waiting"].as_array().unwrap().iter().map(|w| w["conversation_id"].as_i64().unwrap()).collect();
        assert_eq!(waiting, vec![s.conversation, second], "oldest first");

        let mut agent = Ws::agent(&app, &s.agent.token).await;
        agent.send(json!({"type": "presence.set", "status": "online", "ref": "p"})).await;
        assert_eq!(agent.recv_type("ok").await["ref"], "p");
        let p = watcher.recv_type("presence").await;
        assert_eq!(p["agent_id"], s.agent.id);
        assert_eq!(p["status"], "online");

        agent.send(json!({"type": "conversation.accept", "conversation_id": s.conversation})).await;
        let got = agent.recv_all(&["ok", "conversation.assigned"]).await;
        assert_eq!(got["conversation.assigned"]["conversation"]["assignee_id"], s.agent.id);
        loop {
            let upd = watcher.recv_type("queue.update").await;
            let ids: Vec<i64> = upd["waiting"].as_array().unwrap().iter().map(|w| w["conversation_id"].as_i64().unwrap()).collect();
            if ids == vec![second] {
                let me = upd["agents"].as_array().unwrap().iter().find(|a| a["id"] == s.agent.id).cloned().unwrap();
                if me["load"] == 1 { break; }
            }
        }
        // Taking it twice is a conflict.
        let mut again = Ws::agent(&app, &sup.token).await;
        again.send(json!({"type": "conversation.accept", "conversation_id": s.conversation})).await;
        assert_eq!(again.recv_type("error").await["code"], "conflict");
    }

    async fn two_agents_accepting_at_once_get_one_assignment(app) {
        let s = scene(&app).await;
        let other = app.create_user(&s.admin, "agent", json!({"team_ids": [s.team]})).await;
        let mut a = Ws::agent(&app, &s.agent.token).await;
        let mut b = Ws::agent(&app, &other.token).await;
        let accept = json!({"type": "conversation.accept", "conversation_id": s.conversation});
        a.send(accept.clone()).await;
        b.send(accept).await;
        let ra = a.recv_answer().await;
        let rb = b.recv_answer().await;
        let oks = [&ra, &rb].iter().filter(|r| r["type"] == "ok").count();
        let conflicts = [&ra, &rb].iter().filter(|r| r["type"] == "error" && r["code"] == "conflict").count();
        assert_eq!((oks, conflicts), (1, 1), "{ra} {rb}");
    }

    async fn an_agent_at_capacity_cannot_accept_more(app) {
        let admin = app.admin_token().await;
        let res = app.post("/api/v1/teams", &admin, json!({"name": "Support", "auto_assign": false})).await;
        let team = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
        let agent = app.create_user(&admin, "agent", json!({"team_ids": [team], "capacity": 1})).await;
        let (c1, _) = widget_session(&app, json!({"issue_type": "support"})).await;
        let (c2, _) = widget_session(&app, json!({"issue_type": "support"})).await;
        let res = app.post(&format!("/api/v1/conversations/{c1}/accept"), &agent.token, json!({})).await;
        assert_eq!(res.status(), 200);
        let res = app.post(&format!("/api/v1/conversations/{c2}/accept"), &agent.token, json!({})).await;
        assert_problem(res, 409, "conflict").await;
    }

    async fn a_transfer_moves_the_conversation_and_its_old_agent_stops_following(app) {
        let (s, mut customer, mut agent) = accepted(&app).await;
        let billing = app.create_team(&s.admin, "Billing").await;
        agent.send(json!({"type": "conversation.transfer", "conversation_id": s.conversation, "team_id": billing, "note": "needs a refund", "ref": "t"})).await;
        assert_eq!(agent.recv_type("ok").await["ref"], "t");
        let upd = customer.recv_type("conversation.updated").await;
        assert_eq!(upd["conversation"]["state"], "queued");
        assert_eq!(upd["conversation"]["team_id"], billing);
        customer.say(None, "after", "still there?").await;
        agent.expect_no("message.new", Duration::from_millis(500)).await;
        assert_eq!(app.count("notes").await, 1);
        // The old agent has lost access.
        let res = app.get(&format!("/api/v1/conversations/{}", s.conversation), &s.agent.token).await;
        assert_problem(res, 404, "not_found").await;
    }

    async fn state_changes_while_messages_commit_neither_stall_nor_fail(app) {
        // A state change pauses the conversation's mailbox while it writes;
        // the message batches being committed at that moment must still
        // finish (they run on their own task), or both would wait on each
        // other's locks until the database gave up.
        let s = scene(&app).await;
        let mut customer = Ws::customer(&app, &s.visitor_token).await;
        for i in 0..300 {
            customer.send(json!({"type": "message.send", "client_msg_id": format!("m{i}"), "text": format!("burst {i}")})).await;
        }
        let path = format!("/api/v1/conversations/{}", s.conversation);
        let res = app.post(&format!("{path}/accept"), &s.agent.token, json!({})).await;
        assert_eq!(res.status(), 200, "{}", res.text().await.unwrap_or_default());
        let res = app.post(&format!("{path}/transfer"), &s.agent.token, json!({"team_id": s.team})).await;
        assert_eq!(res.status(), 200, "{}", res.text().await.unwrap_or_default());
        for i in 0..300 {
            let ack = customer.recv_type("message.ack").await;
            assert_eq!(ack["client_msg_id"], format!("m{i}"));
        }
        assert_eq!(stored_messages(&app, s.conversation).await, 300);
    }

    async fn history_pages_forward_and_back_over_rest(app) {
        let (s, mut customer, _agent) = accepted(&app).await;
        for i in 1..=7 {
            customer.say(None, &format!("c{i}"), &format!("m{i}")).await;
        }
        let path = format!("/api/v1/conversations/{}/messages", s.conversation);
        let page: Value = app.get(&format!("{path}?after_seq=2&limit=3"), &s.agent.token).await.json().await.unwrap();
        let seqs: Vec<i64> = page["items"].as_array().unwrap().iter().map(|m| m["seq"].as_i64().unwrap()).collect();
        assert_eq!(seqs, vec![3, 4, 5]);
        let next = page["next_cursor"].as_str().unwrap();
        let page: Value = app.get(&format!("{path}?cursor={next}&limit=3"), &s.agent.token).await.json().await.unwrap();
        let seqs: Vec<i64> = page["items"].as_array().unwrap().iter().map(|m| m["seq"].as_i64().unwrap()).collect();
        assert_eq!(seqs, vec![6, 7]);
        assert!(page["next_cursor"].is_null());
        let latest: Value = app.get(&format!("{path}?limit=2"), &s.agent.token).await.json().await.unwrap();
        let seqs: Vec<i64> = latest["items"].as_array().unwrap().iter().map(|m| m["seq"].as_i64().unwrap()).collect();
        assert_eq!(seqs, vec![6, 7]);
        let back = latest["next_cursor"].as_str().unwrap();
        let older: Value = app.get(&format!("{path}?cursor={back}&limit=4"), &s.agent.token).await.json().await.unwrap();
        let seqs: Vec<i64> = older["items"].as_array().unwrap().iter().map(|m| m["seq"].as_i64().unwrap()).collect();
        assert_eq!(seqs, vec![2, 3, 4, 5]);
        let bad = app.get(&format!("{path}?after_seq=1&before_seq=3"), &s.agent.token).await;
        assert_problem(bad, 422, "bad_request").await;
        let bad = app.get(&format!("{path}?cursor=zz"), &s.agent.token).await;
        assert_problem(bad, 422, "bad_request").await;
    }

    async fn the_inbox_lists_only_what_the_caller_may_see(app) {
        let (s, _customer, _agent) = accepted(&app).await;
        let (queued, _) = widget_session(&app, json!({"issue_type": "support"})).await;
        let mine: Value = app.get("/api/v1/conversations?assignee_id=me", &s.agent.token).await.json().await.unwrap();
        let ids: Vec<i64> = mine["items"].as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect();
        assert_eq!(ids, vec![s.conversation]);
        let all: Value = app.get("/api/v1/conversations", &s.agent.token).await.json().await.unwrap();
        let ids: Vec<i64> = all["items"].as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect();
        assert_eq!(ids, vec![queued, s.conversation]);
        let c = &all["items"][1];
        assert_eq!(c["visitor"]["name"], "Ana");
        assert_eq!(c["issue_type"], "support");
        assert_eq!(c["team_id"], s.team);
        let queued_only: Value = app.get("/api/v1/conversations?state=queued", &s.admin).await.json().await.unwrap();
        assert_eq!(queued_only["items"].as_array().unwrap().len(), 1);
    }

    async fn a_deactivated_agent_loses_its_live_socket(app) {
        let s = scene(&app).await;
        let mut ws = Ws::agent(&app, &s.agent.token).await;
        let res = app.post(&format!("/api/v1/users/{}/deactivate", s.agent.id), &s.admin, json!({})).await;
        assert_eq!(res.status(), 200);
        assert_eq!(ws.ended().await, Ended::Closed(Some(1008)));
    }

    async fn a_socket_reconnects_to_take_a_new_team_or_role_and_stays_through_other_changes(app) {
        // A socket checks every event against the role and teams it
        // connected with: one kept open through a change of either would go
        // on watching and taking a queue its user no longer belongs to.
        let s = scene(&app).await;
        let mut ws = Ws::agent(&app, &s.agent.token).await;
        ws.send(json!({"type": "queue.watch", "team_id": s.team})).await;
        ws.recv_type("queue.snapshot").await;
        // Capacity and name are not scope: the socket stays.
        let res = app.patch(&format!("/api/v1/users/{}", s.agent.id), &s.admin,
            json!({"capacity": 5, "name": "Renamed", "team_ids": [s.team], "role": "agent"})).await;
        assert_eq!(res.status(), 200);
        ws.send(json!({"type": "ping", "ref": "p"})).await;
        assert_eq!(ws.recv_type("pong").await["ref"], "p");
        // Taken off the team: told to reconnect, and the new socket may not
        // watch it.
        let res = app.put(&format!("/api/v1/teams/{}/members", s.team), &s.admin, json!({"user_ids": []})).await;
        assert_eq!(res.status(), 200);
        assert_eq!(ws.ended().await, Ended::Closed(Some(1012)));
        let mut ws = Ws::agent(&app, &s.agent.token).await;
        ws.send(json!({"type": "queue.watch", "team_id": s.team, "ref": "w"})).await;
        let e = ws.recv_type("error").await;
        assert_eq!((e["code"].as_str(), e["ref"].as_str()), (Some("forbidden"), Some("w")));
        // Given it back through the user's own team list: the same, and
        // the watch is allowed again.
        let res = app.patch(&format!("/api/v1/users/{}", s.agent.id), &s.admin, json!({"team_ids": [s.team]})).await;
        assert_eq!(res.status(), 200);
        assert_eq!(ws.ended().await, Ended::Closed(Some(1012)));
        let mut ws = Ws::agent(&app, &s.agent.token).await;
        ws.send(json!({"type": "queue.watch", "team_id": s.team})).await;
        ws.recv_type("queue.snapshot").await;
        // A new role: the same, and the new socket says so.
        let res = app.patch(&format!("/api/v1/users/{}", s.agent.id), &s.admin, json!({"role": "supervisor"})).await;
        assert_eq!(res.status(), 200);
        assert_eq!(ws.ended().await, Ended::Closed(Some(1012)));
        let ws = Ws::agent(&app, &s.agent.token).await;
        assert_eq!(ws.hello["me"]["role"], "supervisor", "{}", ws.hello);
    }

    async fn an_agent_given_a_conversation_follows_it_at_once(app) {
        let s = scene(&app).await;
        let mut customer = Ws::customer(&app, &s.visitor_token).await;
        let mut agent = Ws::agent(&app, &s.agent.token).await;
        let res = app.post(&format!("/api/v1/conversations/{}/assign", s.conversation), &s.admin, json!({"agent_id": s.agent.id})).await;
        assert_eq!(res.status(), 200);
        let assigned = agent.recv_type("conversation.assigned").await;
        assert_eq!(assigned["conversation"]["id"], s.conversation);
        customer.recv_type("conversation.assigned").await;
        customer.say(None, "c1", "are you there?").await;
        let m = agent.recv_type("message.new").await;
        assert_eq!(m["message"]["text"], "are you there?");
    }

    async fn notes_reach_staff_and_never_the_customer(app) {
        let (s, mut customer, mut agent) = accepted(&app).await;
        let res = app.post(&format!("/api/v1/conversations/{}/notes", s.conversation), &s.admin, json!({"text": "VIP, be nice"})).await;
        assert_eq!(res.status(), 201);
        let n = agent.recv_type("note.created").await;
        assert_eq!(n["note"]["text"], "VIP, be nice");
        agent.say(Some(s.conversation), "a1", "hello").await;
        // The customer sees the message and nothing of the note.
        loop {
            let f = customer.recv().await;
            assert_ne!(f["type"], "note.created", "{f}");
            assert!(!f.to_string().contains("VIP, be nice"), "{f}");
            if f["type"] == "message.new" { break; }
        }
        let list: Value = app.get(&format!("/api/v1/conversations/{}/notes", s.conversation), &s.agent.token).await.json().await.unwrap();
        assert_eq!(list["items"][0]["text"], "VIP, be nice");
        assert!(list["items"][0]["author"]["name"].is_string());
        let empty = app.post(&format!("/api/v1/conversations/{}/notes", s.conversation), &s.admin, json!({"text": "  "})).await;
        assert_problem(empty, 422, "bad_request").await;
    }

    async fn logging_out_ends_that_sessions_sockets_only(app) {
        let s = scene(&app).await;
        let first = app.login(&s.agent.email, USER_PASSWORD).await;
        let mut ws1 = Ws::agent(&app, first["access_token"].as_str().unwrap()).await;
        let mut ws2 = Ws::agent(&app, &s.agent.token).await;
        let res = app.send(Method::POST, "/api/v1/auth/logout", None, Some(&json!({"refresh_token": first["refresh_token"]}))).await;
        assert_eq!(res.status(), 204);
        assert_eq!(ws1.ended().await, Ended::Closed(Some(1008)));
        ws2.send(json!({"type": "ping", "ref": "alive"})).await;
        assert_eq!(ws2.recv_type("pong").await["ref"], "alive");
    }

    async fn read_receipts_never_go_back(app) {
        let (s, mut customer, mut agent) = accepted(&app).await;
        for i in 1..=3 {
            customer.say(None, &format!("c{i}"), "x").await;
        }
        agent.send(json!({"type": "read", "conversation_id": s.conversation, "up_to_seq": 3})).await;
        agent.send(json!({"type": "read", "conversation_id": s.conversation, "up_to_seq": 1})).await;
        let mut seen = Vec::new();
        while seen.len() < 2 {
            let r = customer.recv_type("receipt").await;
            if r["kind"] == "read" { seen.push(r["up_to_seq"].as_i64().unwrap()); }
        }
        assert_eq!(seen, vec![3, 3]);
    }

    async fn a_teammate_who_loses_an_accept_race_over_rest_gets_409(app) {
        let s = scene(&app).await;
        let mate = app.create_user(&s.admin, "agent", json!({"team_ids": [s.team]})).await;
        let ok = app.post(&format!("/api/v1/conversations/{}/accept", s.conversation), &s.agent.token, json!({})).await;
        assert_eq!(ok.status(), 200);
        let late = app.post(&format!("/api/v1/conversations/{}/accept", s.conversation), &mate.token, json!({})).await;
        assert_problem(late, 409, "conflict").await;
        // But it may not read the conversation it lost.
        let read = app.get(&format!("/api/v1/conversations/{}", s.conversation), &mate.token).await;
        assert_problem(read, 404, "not_found").await;
    }

    async fn watching_a_team_that_does_not_exist_is_not_found(app) {
        let admin = app.admin_token().await;
        let mut ws = Ws::agent(&app, &admin).await;
        ws.send(json!({"type": "queue.watch", "team_id": 4242, "ref": "w"})).await;
        let e = ws.recv_type("error").await;
        assert_eq!(e["code"], "not_found");
        assert_eq!(e["ref"], "w");
    }

    async fn widget_sessions_validate_the_pre_chat_form(app) {
        let before = app.count("conversations").await;
        for body in [
            json!({"email": "nope"}),
            json!({"name": "<script>"}),
            json!({"language": "en us!"}),
            json!({"custom_fields": {"k": {"nested": true}}}),
            json!({"unknown": 1}),
        ] {
            let res = app.send(Method::POST, "/api/v1/widget/sessions", None, Some(&body)).await;
            assert_problem(res, 422, "bad_request").await;
        }
        assert_eq!(app.count("conversations").await, before);
        // With no teams at all a conversation still starts (no team yet).
        let (id, _) = widget_session(&app, json!({})).await;
        assert!(id > 0);
    }
}

mod abuse {
    use super::*;

    #[actix_web::test]
    async fn a_frame_over_the_size_limit_closes_the_socket_with_1009() {
        let app = spawn_app(Backend::Sqlite).await.unwrap();
        let s = scene(&app).await;
        let mut ws = Ws::customer(&app, &s.visitor_token).await;
        ws.send_raw(format!(
            "{{\"type\":\"ping\",\"pad\":\"{}\"}}",
            "x".repeat(70_000)
        ))
        .await;
        assert_eq!(ws.ended().await, Ended::Closed(Some(1009)));
        app.finish().await;
    }

    #[actix_web::test]
    async fn a_message_in_fragments_is_taken_whole_and_too_large_a_one_closes_with_1009() {
        let app = spawn_app(Backend::Sqlite).await.unwrap();
        let (s, mut customer, mut agent) = accepted(&app).await;
        let frame = json!({"type": "message.send", "client_msg_id": "f", "text": "in three parts", "ref": "f"}).to_string();
        let (a, rest) = frame.split_at(10);
        let (b, c) = rest.split_at(20);
        customer.send_fragments(&[a, b, c], true).await;
        let ack = customer.recv_type("message.ack").await;
        assert_eq!(
            (ack["ref"].clone(), ack["message"]["seq"].clone()),
            (json!("f"), json!(1)),
            "{ack}"
        );
        assert_eq!(
            agent.recv_type("message.new").await["message"]["text"],
            "in three parts"
        );
        // Fragments of a binary message are refused as a whole one is.
        customer
            .send_fragments(&["{\"type\":", "\"ping\"}"], false)
            .await;
        assert_eq!(customer.recv_type("error").await["code"], "bad_request");
        customer.send(json!({"type": "ping", "ref": "p"})).await;
        assert_eq!(customer.recv_type("pong").await["ref"], "p");
        // Each fragment is under the frame limit; the message is not.
        let part = "x".repeat(30_000);
        customer
            .send_fragments(
                &["{\"type\":\"ping\",\"pad\":\"", &part, &part, &part, "\"}"],
                true,
            )
            .await;
        assert_eq!(customer.ended().await, Ended::Closed(Some(1009)));
        assert_eq!(stored_messages(&app, s.conversation).await, 1);
        app.finish().await;
    }

    /// An app with these `message.send` limits and a customer's socket.
    async fn limited_customer(
        send_limit: u32,
        window_s: u64,
        strikes: u32,
    ) -> (TestApp, Scene, Ws) {
        let app = spawn_app_with(Backend::Sqlite, |s| {
            s.realtime.send_limit = send_limit;
            s.realtime.send_window_s = window_s;
            s.realtime.abuse_strikes = strikes;
        })
        .await
        .unwrap();
        let s = scene(&app).await;
        let ws = Ws::customer(&app, &s.visitor_token).await;
        (app, s, ws)
    }

    #[actix_web::test]
    async fn flooding_is_rate_limited_then_closed_with_1008() {
        let (app, s, mut ws) = limited_customer(3, 60, 3).await;
        for i in 0..3 {
            ws.say(None, &format!("ok{i}"), "fine").await;
        }
        ws.send(json!({"type": "message.send", "client_msg_id": "x1", "text": "spam", "ref": "s"}))
            .await;
        let e = ws.recv_type("error").await;
        assert_eq!(e["code"], "rate_limited");
        assert_eq!(e["ref"], "s");
        for i in 2..=3 {
            ws.send(
                json!({"type": "message.send", "client_msg_id": format!("x{i}"), "text": "spam"}),
            )
            .await;
        }
        assert_eq!(ws.ended().await, Ended::Closed(Some(1008)));
        assert_eq!(stored_messages(&app, s.conversation).await, 3);
        app.finish().await;
    }

    #[actix_web::test]
    async fn a_socket_its_node_fell_behind_reconnects_and_resumes_without_a_gap() {
        // Every socket's mailbox holds two frames here, so a committed batch
        // of the agent's burst overflows the customer's: the customer must
        // get what its socket took, in order, then 1012, and a resume must
        // bring exactly the rest.
        let app = spawn_app_with(Backend::Sqlite, |s| s.realtime.mailbox = 2)
            .await
            .unwrap();
        let (s, mut customer, mut agent) = accepted(&app).await;
        let burst = 60;
        for i in 1..=burst {
            agent
                .send(
                    json!({"type": "message.send", "conversation_id": s.conversation,
                    "client_msg_id": format!("a{i}"), "text": format!("m{i}")}),
                )
                .await;
        }
        let (frames, ended) = customer.frames_until_end().await;
        assert_eq!(ended, Ended::Closed(Some(1012)), "{frames:?}");
        let seqs = |frames: &[Value]| -> Vec<i64> {
            frames
                .iter()
                .filter(|f| f["type"] == "message.new")
                .map(|f| f["message"]["seq"].as_i64().unwrap())
                .collect()
        };
        let before = seqs(&frames);
        let held = before.len() as i64;
        assert_eq!(before, (1..=held).collect::<Vec<_>>(), "in order, no gap");
        // The agent's socket overflows too (its acks), so count what the
        // server took and committed rather than what was sent.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let stored = stored_messages(&app, s.conversation).await;
        assert!(
            held < stored,
            "the customer missed frames before the close ({held} of {stored})"
        );
        drop(agent);
        let mut again = Ws::customer(&app, &s.visitor_token).await;
        again
            .send(json!({"type": "resume", "after_seq": held, "ref": "r"}))
            .await;
        let mut after = Vec::new();
        loop {
            let f = again.recv().await;
            match f["type"].as_str() {
                Some("message.new") => after.push(f),
                Some("resume.done") => {
                    assert_eq!(f["last_seq"], stored);
                    break;
                }
                _ => {}
            }
        }
        assert_eq!(
            seqs(&after),
            (held + 1..=stored).collect::<Vec<_>>(),
            "exactly the rest"
        );
        app.finish().await;
    }

    #[actix_web::test]
    async fn a_resume_longer_than_the_outbound_buffer_arrives_whole() {
        // Live frames meet the outbound buffer's count; a resume's history
        // is bounded by the request, so a socket reading it must not be cut
        // off as a slow client (and then resume again, for ever).
        let app = spawn_app_with(Backend::Sqlite, |s| s.realtime.outbound_buffer = 8)
            .await
            .unwrap();
        let (s, customer, mut agent) = accepted(&app).await;
        drop(customer);
        let total = 60i64;
        for i in 1..=total {
            agent
                .say(Some(s.conversation), &format!("a{i}"), &format!("m{i}"))
                .await;
        }
        let mut again = Ws::customer(&app, &s.visitor_token).await;
        again
            .send(json!({"type": "resume", "after_seq": 0, "ref": "r"}))
            .await;
        for i in 1..=total {
            let m = again.recv_type("message.new").await;
            assert_eq!(m["message"]["seq"], i);
        }
        assert_eq!(again.recv_type("resume.done").await["last_seq"], total);
        app.finish().await;
    }

    #[actix_web::test]
    async fn a_refusal_now_and_then_is_forgiven_but_a_flood_still_closes() {
        // A socket open for a whole shift (an agent's) that goes over the
        // limit now and then must not collect strikes for hours: only
        // refusals within a send window of each other count together.
        let (app, s, mut ws) = limited_customer(1, 1, 2).await;
        let refused =
            |id: &str| json!({"type": "message.send", "client_msg_id": id, "text": "burst"});
        for round in 0..2 {
            ws.say(None, &format!("ok{round}"), "fine").await;
            ws.send(refused(&format!("x{round}"))).await;
            assert_eq!(ws.recv_type("error").await["code"], "rate_limited");
            // More than a window: the bucket refills and the strike is forgiven.
            tokio::time::sleep(Duration::from_millis(1300)).await;
        }
        // Still open: the second refusal, a window after the first, did
        // not reach the two strikes.
        ws.say(None, "ok2", "fine").await;
        ws.send(refused("x2")).await;
        ws.send(refused("x3")).await;
        assert_eq!(ws.ended().await, Ended::Closed(Some(1008)));
        assert_eq!(stored_messages(&app, s.conversation).await, 3);
        app.finish().await;
    }

    #[actix_web::test]
    async fn a_client_that_does_not_read_is_dropped_and_does_not_slow_the_others() {
        let app = spawn_app_with(Backend::Sqlite, |s| s.realtime.slow_client_after_ms = 500)
            .await
            .unwrap();
        let (s, mut stalled, mut agent) = accepted(&app).await;
        // The customer stops reading; the agent keeps talking (and reading its acks).
        let total = 4000i64;
        burst(&mut agent, s.conversation, "a", total, &"z".repeat(4000)).await;
        assert_eq!(stored_messages(&app, s.conversation).await, total);
        // The stalled socket was cut off part-way: what it can still read
        // ends before the last message, and then the socket ends.
        let last_seq = read_until_cut_off(&mut stalled).await;
        assert!(
            last_seq < total,
            "the stalled client got everything: {last_seq}"
        );
        // A fresh customer socket works and catches up.
        let mut fresh = Ws::customer(&app, &s.visitor_token).await;
        fresh
            .send(json!({"type": "resume", "after_seq": total - 1}))
            .await;
        assert_eq!(
            fresh.recv_type("message.new").await["message"]["seq"],
            total
        );
        app.finish().await;
    }

    #[actix_web::test]
    async fn a_quiet_socket_whose_client_stopped_reading_is_dropped_by_its_heartbeat() {
        // The stall bound is longer than the flood takes, so no push after
        // it is refused: only the heartbeat's ping can find the stall. The
        // silence timeout is far away (the client stops reading, not
        // sending, but this one sends nothing either).
        let app = spawn_app_with(Backend::Sqlite, |s| {
            s.realtime.slow_client_after_ms = 5_000;
            s.realtime.heartbeat_ms = 200;
            s.realtime.client_timeout_heartbeats = 1_000;
        })
        .await
        .unwrap();
        let (s, mut stalled, mut agent) = accepted(&app).await;
        let total = 4000i64;
        burst(&mut agent, s.conversation, "q", total, &"q".repeat(4000)).await;
        // Nothing more is pushed to the stalled socket but pings.
        tokio::time::sleep(Duration::from_millis(6_500)).await;
        let last_seq = read_until_cut_off(&mut stalled).await;
        assert!(
            last_seq < total,
            "the stalled client got everything: {last_seq}"
        );
        app.finish().await;
    }

    #[actix_web::test]
    async fn a_silent_client_is_dropped_after_three_heartbeats() {
        let app = spawn_app_with(Backend::Sqlite, |s| s.realtime.heartbeat_ms = 200)
            .await
            .unwrap();
        let s = scene(&app).await;
        let mut ws = Ws::customer(&app, &s.visitor_token).await;
        assert_eq!(ws.hello["heartbeat_ms"], 200);
        // Not reading means not answering pings.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(ws.ended().await, Ended::Closed(Some(1008)));
        // A client that answers stays.
        let mut alive = Ws::customer(&app, &s.visitor_token).await;
        alive.expect_no("never", Duration::from_millis(1500)).await;
        alive.send(json!({"type": "ping", "ref": "still"})).await;
        assert_eq!(alive.recv_type("pong").await["ref"], "still");
        app.finish().await;
    }

    #[actix_web::test]
    async fn an_agent_whose_last_socket_closed_goes_offline_after_the_grace_period() {
        let app = spawn_app_with(Backend::Sqlite, |s| s.realtime.presence_grace_s = 1)
            .await
            .unwrap();
        let s = scene(&app).await;
        let sup = app
            .create_user(&s.admin, "supervisor", json!({"team_ids": [s.team]}))
            .await;
        let mut watcher = Ws::agent(&app, &sup.token).await;
        watcher
            .send(json!({"type": "queue.watch", "team_id": s.team}))
            .await;
        watcher.recv_type("queue.snapshot").await;
        let mut agent = Ws::agent(&app, &s.agent.token).await;
        agent
            .send(json!({"type": "presence.set", "status": "online"}))
            .await;
        agent.recv_type("ok").await;
        assert_eq!(watcher.recv_type("presence").await["status"], "online");
        drop(agent);
        let p = watcher.recv_type("presence").await;
        assert_eq!(p["agent_id"], s.agent.id);
        assert_eq!(p["status"], "offline");
        let me: Value = app
            .get("/api/v1/me", &s.agent.token)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(me["status"], "offline");
        app.finish().await;
    }

    #[actix_web::test]
    async fn a_conversation_without_customer_activity_is_closed_as_idle() {
        let app = spawn_app_with(Backend::Sqlite, |s| s.realtime.idle_close_after_s = 1)
            .await
            .unwrap();
        let (s, _customer, mut agent) = accepted(&app).await;
        let upd = agent.recv_type("conversation.updated").await;
        let upd = if upd["conversation"]["state"] == "closed" {
            upd
        } else {
            agent.recv_type("conversation.updated").await
        };
        assert_eq!(upd["conversation"]["state"], "closed");
        assert_eq!(upd["conversation"]["closed_reason"], "idle");
        let conv: Value = app
            .get(
                &format!("/api/v1/conversations/{}", s.conversation),
                &s.admin,
            )
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(conv["state"], "closed");
        app.finish().await;
    }

    /// Closes the conversation of `s` (its sockets already gone), waits
    /// for its actor to passivate (the app's `passivate_after_s` is 1),
    /// and reopens it: the next use activates a fresh actor from the store.
    async fn close_passivate_reopen(app: &TestApp, s: &Scene) {
        let res = app
            .post(
                &format!("/api/v1/conversations/{}/close", s.conversation),
                &s.admin,
                json!({"reason": "done"}),
            )
            .await;
        assert_eq!(res.status(), 200);
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let res = app
            .post(
                &format!("/api/v1/conversations/{}/reopen", s.conversation),
                &s.admin,
                json!({}),
            )
            .await;
        assert_eq!(res.status(), 200);
    }

    on_both_with! { |s| s.realtime.passivate_after_s = 1;
        async fn a_resend_to_a_reactivated_conversation_gives_the_stored_message(app) {
            let (s, mut customer, agent) = accepted(&app).await;
            let first = customer.say(None, "early", "before the break").await;
            drop(customer);
            drop(agent);
            // Its actor, passivated, restarts with an idempotence memory read
            // from the store.
            close_passivate_reopen(&app, &s).await;
            let mut customer = Ws::customer(&app, &s.visitor_token).await;
            let again = customer.say(None, "early", "before the break").await;
            assert_eq!(again["message"], first["message"]);
            let next = customer.say(None, "late", "after it").await;
            assert_eq!(next["message"]["seq"], 2);
            assert_eq!(stored_messages(&app, s.conversation).await, 2);
        }

        async fn a_stopped_conversation_actor_is_reactivated_from_the_store(app) {
            let (s, customer, agent) = accepted(&app).await;
            drop(customer);
            drop(agent);
            close_passivate_reopen(&app, &s).await;
            let mut customer = Ws::customer(&app, &s.visitor_token).await;
            let m = customer.say(None, "back", "I'm back").await;
            assert_eq!(m["message"]["seq"], 1);
        }
    }
}
