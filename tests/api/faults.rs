//! Faults injected into the store while real sockets talk to the app: a
//! lock that holds message commits (PostgreSQL: `LOCK TABLE messages`;
//! SQLite: another connection's write lock), a history read whose backend
//! is killed, and a trigger that refuses one message of a group commit.
//! They pin that no actor waits on I/O, that a resend from a second socket
//! while the first send is in flight gives one message shown once, that a
//! failed history read loses none of the frames held during it, and that a
//! failing batch fails alone and leaves no gap in the seqs.

use std::time::{Duration, Instant};

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    Statement, TransactionTrait,
};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both;
use crate::realtime::widget_session;
use crate::routing::team;
use crate::ws_client::{WAIT, Ws};

/// How long an absence is watched for.
const QUIET: Duration = Duration::from_millis(500);

/// The SQLite writer's busy timeout (`store::sqlite_writer::BUSY_TIMEOUT`,
/// the pool's too): a write lock held longer fails the commit by design.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// A lock on the app's database held by a connection of the test's own
/// (not one of the app's pool) until [`Hold::release`].
enum Hold {
    /// A transaction that holds `LOCK TABLE messages`.
    Pg {
        conn: DatabaseConnection,
        txn: DatabaseTransaction,
    },
    /// `BEGIN IMMEDIATE`: the write lock. Readers go on (WAL).
    Sqlite {
        conn: rusqlite::Connection,
        since: Instant,
    },
}

impl Hold {
    /// Holds back every message insert while reads go on: on PostgreSQL
    /// `EXCLUSIVE` on `messages` (it conflicts with `INSERT`'s row-exclusive
    /// lock, not with `SELECT`'s access-share); on SQLite the write lock.
    async fn inserts(app: &TestApp) -> Hold {
        Self::take(app, "EXCLUSIVE").await
    }

    /// PostgreSQL only: `ACCESS EXCLUSIVE` on `messages`, so reads of it
    /// wait too.
    async fn messages_entirely(app: &TestApp) -> Hold {
        assert_eq!(app.db.get_database_backend(), DbBackend::Postgres);
        Self::take(app, "ACCESS EXCLUSIVE").await
    }

    async fn take(app: &TestApp, mode: &str) -> Hold {
        match app.db.get_database_backend() {
            DbBackend::Postgres => {
                let conn = own_pg_connection(app).await;
                let txn = conn.begin().await.unwrap();
                txn.execute_unprepared(&format!("LOCK TABLE messages IN {mode} MODE"))
                    .await
                    .unwrap();
                Hold::Pg { conn, txn }
            }
            _ => {
                let path = app.data_dir.path().join("switchboard.db");
                let conn = rusqlite::Connection::open(&path).unwrap();
                // The writer may be committing this instant: wait for it.
                conn.busy_timeout(WAIT).unwrap();
                conn.execute_batch("BEGIN IMMEDIATE").unwrap();
                Hold::Sqlite {
                    conn,
                    since: Instant::now(),
                }
            }
        }
    }

    /// Runs `sql` on the holding connection (PostgreSQL), inside its
    /// transaction.
    async fn execute(&self, sql: &str) -> Option<sea_orm::QueryResult> {
        match self {
            Hold::Pg { txn, .. } => txn
                .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
                .await
                .unwrap(),
            Hold::Sqlite { .. } => panic!("only on PostgreSQL"),
        }
    }

    /// Lets the held writes (and reads) go.
    async fn release(self) {
        match self {
            Hold::Pg { conn, txn } => {
                txn.commit().await.unwrap();
                conn.close().await.unwrap();
            }
            Hold::Sqlite { conn, since } => {
                conn.execute_batch("COMMIT").unwrap();
                let held = since.elapsed();
                assert!(
                    held < SQLITE_BUSY_TIMEOUT - Duration::from_secs(2),
                    "the write lock was held {held:?}: near the writer's busy timeout \
                     ({SQLITE_BUSY_TIMEOUT:?}) its commit fails by design"
                );
            }
        }
    }
}

/// A connection of its own to the app's PostgreSQL database.
async fn own_pg_connection(app: &TestApp) -> DatabaseConnection {
    let base = pg_base_url().expect("a PostgreSQL app has a server URL");
    let row = app
        .db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT current_database() AS name",
        ))
        .await
        .unwrap()
        .unwrap();
    let name: String = row.try_get("", "name").unwrap();
    let server = base.split('?').next().unwrap_or(&base);
    let server = match server.rfind('/') {
        Some(i) if i > "postgres://".len() => &server[..i],
        _ => server,
    };
    let mut opts = ConnectOptions::new(format!("{server}/{name}"));
    opts.max_connections(1).sqlx_logging(false);
    Database::connect(opts).await.unwrap()
}

/// PostgreSQL: the backends of the app's database waiting for a lock in a
/// statement on `messages`, as (pid, query).
async fn waiting_on_messages(app: &TestApp) -> Vec<(i32, String)> {
    let rows = app
        .db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT pid, query FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock' \
             AND query ILIKE '%messages%' AND pid <> pg_backend_pid()",
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            (
                r.try_get::<i32>("", "pid").unwrap(),
                r.try_get::<String>("", "query").unwrap(),
            )
        })
        .collect()
}

/// PostgreSQL: waits until `n` statements on `messages` wait for the held
/// lock, and returns them. On SQLite (where the writer thread's wait
/// cannot be seen from here) it returns nothing at once.
async fn until_waiting(app: &TestApp, n: usize) -> Vec<(i32, String)> {
    if app.db.get_database_backend() != DbBackend::Postgres {
        return Vec::new();
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let waiting = waiting_on_messages(app).await;
        if waiting.len() >= n {
            assert_eq!(waiting.len(), n, "{waiting:?}");
            return waiting;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no statement on messages waited for the lock within {WAIT:?}: {waiting:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The next frame of type `want`; panics if one of `never` comes first.
async fn recv_type_before(ws: &mut Ws, want: &str, never: &[&str]) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let f = match tokio::time::timeout_at(deadline, ws.next_frame()).await {
            Ok(Some(f)) => f,
            Ok(None) => panic!("socket ended while waiting for {want}"),
            Err(_) => panic!("no {want} frame within {WAIT:?}"),
        };
        let t = f["type"].as_str().unwrap_or_default();
        assert!(!never.contains(&t), "{t} before {want}: {f}");
        if t == want {
            return f;
        }
    }
}

/// Asserts the socket gets no frame at all for `d`.
async fn expect_silence(ws: &mut Ws, d: Duration) {
    if let Ok(f) = tokio::time::timeout(d, ws.next_frame()).await {
        panic!("expected nothing, got {f:?}");
    }
}

/// A REST GET that must answer within [`WAIT`] (reqwest waits forever).
async fn get_in_time(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    tokio::time::timeout(WAIT, app.get(path, token))
        .await
        .unwrap_or_else(|_| panic!("GET {path} did not answer within {WAIT:?}"))
}

/// One number from the app's database.
async fn number(app: &TestApp, sql: String) -> i64 {
    let row = app
        .db
        .query_one_raw(Statement::from_string(app.db.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

/// A customer's conversation, accepted by the desk's agent.
struct Chat {
    id: i64,
    customer: Ws,
}

/// An agent on one socket holding `n` conversations, their customers
/// connected.
struct Desk {
    admin: String,
    agent: TestUser,
    staff: Ws,
    chats: Vec<Chat>,
}

async fn desk(app: &TestApp, n: usize) -> Desk {
    let admin = app.admin_token().await;
    let t = team(
        app,
        &admin,
        json!({"name": "Support", "auto_assign": false}),
    )
    .await;
    let agent = app
        .create_user(&admin, "agent", json!({"team_ids": [t], "capacity": 10}))
        .await;
    let mut staff = Ws::agent(app, &agent.token).await;
    let mut chats = Vec::new();
    for i in 0..n {
        let (id, token) = widget_session(app, json!({"name": format!("Customer {i}")})).await;
        let mut customer = Ws::customer(app, &token).await;
        accept(&mut staff, id).await;
        let upd = customer.recv_type("conversation.updated").await;
        assert_eq!(upd["conversation"]["state"], "assigned", "{upd}");
        chats.push(Chat { id, customer });
    }
    Desk {
        admin,
        agent,
        staff,
        chats,
    }
}

/// The staff socket accepts conversation `id`.
async fn accept(staff: &mut Ws, id: i64) {
    let reference = format!("accept {id}");
    staff
        .send(json!({"type": "conversation.accept", "conversation_id": id, "ref": reference}))
        .await;
    let got = staff.recv_all(&["ok", "conversation.assigned"]).await;
    assert_eq!(got["ok"]["ref"], reference.as_str());
    assert_eq!(got["conversation.assigned"]["conversation"]["id"], id);
}

fn send_frame(conversation_id: Option<i64>, client_msg_id: &str, text: &str) -> Value {
    let mut f = json!({"type": "message.send", "client_msg_id": client_msg_id,
        "text": text, "ref": client_msg_id});
    if let Some(c) = conversation_id {
        f["conversation_id"] = json!(c);
    }
    f
}

fn typing(conversation_id: Option<i64>, is_typing: bool) -> Value {
    let mut f = json!({"type": "typing", "is_typing": is_typing});
    if let Some(c) = conversation_id {
        f["conversation_id"] = json!(c);
    }
    f
}

/// DESIGN's "never block an actor on I/O": a message whose commit the
/// database holds keeps its sender waiting for the ack, and nothing else.
/// The conversation's own actor still passes typing both ways, another
/// conversation's too, and REST answers; once the lock goes, the message
/// is acked once with the next seq and delivered once. An actor that
/// awaited its commit in place (`ctx.wait`, a blocking call) stalls the
/// typing and fails this.
async fn no_actor_blocks_on_io(app: &TestApp) {
    let Desk {
        agent: user,
        mut staff,
        mut chats,
        ..
    } = desk(app, 2).await;
    let (a, b) = (chats[0].id, chats[1].id);
    let first = chats[0]
        .customer
        .say(None, "before", "before the hold")
        .await;
    assert_eq!(first["message"]["seq"], 1);
    assert_eq!(staff.recv_type("message.new").await["message"]["seq"], 1);

    let hold = Hold::inserts(app).await;
    let [chat_a, chat_b] = &mut chats[..] else {
        unreachable!()
    };
    let customer_a = &mut chat_a.customer;
    customer_a.send(send_frame(None, "held", "held back")).await;
    // Frames of one socket reach the conversation in order: once its
    // typing is out, the send was taken and waits for its commit.
    customer_a.send(typing(None, true)).await;
    let t = recv_type_before(&mut staff, "typing", &["message.new"]).await;
    assert_eq!(
        (t["conversation_id"].clone(), t["by"]["kind"].clone()),
        (json!(a), json!("customer")),
        "{t}"
    );
    if let [(_, query)] = &until_waiting(app, 1).await[..] {
        assert!(query.contains("INSERT INTO messages"), "{query}");
    }

    // The same conversation's actor answers while its commit is held.
    staff.send(typing(Some(a), true)).await;
    let t = recv_type_before(customer_a, "typing", &["message.ack"]).await;
    assert_eq!(
        (t["by"]["kind"].clone(), t["by"]["id"].clone()),
        (json!("agent"), json!(user.id)),
        "{t}"
    );
    // Another conversation flows both ways.
    let customer_b = &mut chat_b.customer;
    staff.send(typing(Some(b), true)).await;
    let t = customer_b.recv_type("typing").await;
    assert_eq!(t["conversation_id"], b);
    customer_b.send(typing(None, false)).await;
    let t = recv_type_before(&mut staff, "typing", &["message.new"]).await;
    assert_eq!(
        (t["conversation_id"].clone(), t["is_typing"].clone()),
        (json!(b), json!(false)),
        "{t}"
    );
    // REST answers, and reads the held message as not there.
    let res = get_in_time(app, &format!("/api/v1/conversations/{a}"), &user.token).await;
    assert_eq!(res.status(), 200);
    let conv: Value = res.json().await.unwrap();
    assert_eq!(conv["last_seq"], 1, "{conv}");
    let res = get_in_time(app, "/healthz", &user.token).await;
    assert_eq!(res.status(), 200);
    // Invariant 1: no ack while nothing is committed.
    customer_a.expect_no("message.ack", QUIET).await;
    assert_eq!(
        number(
            app,
            format!("SELECT COUNT(*) AS n FROM messages WHERE conversation_id = {a}")
        )
        .await,
        1
    );

    hold.release().await;
    let ack = customer_a.recv_type("message.ack").await;
    assert_eq!(
        (ack["ref"].clone(), ack["client_msg_id"].clone()),
        (json!("held"), json!("held")),
        "{ack}"
    );
    assert_eq!(
        (
            ack["message"]["seq"].clone(),
            ack["message"]["text"].clone()
        ),
        (json!(2), json!("held back")),
        "{ack}"
    );
    let new = staff.recv_type("message.new").await;
    assert_eq!(new["message"], ack["message"]);
    customer_a.expect_no("message.ack", QUIET).await;
    staff.expect_no("message.new", QUIET).await;
    assert_eq!(
        number(
            app,
            format!("SELECT COUNT(*) AS n FROM messages WHERE conversation_id = {a}")
        )
        .await,
        2
    );
}

/// Invariant 3 across a sender's sockets: an agent's second socket resends
/// the first socket's `client_msg_id` while that send is still being
/// committed. Both sockets get the ack of the one message (same id and
/// seq); neither gets its `message.new` (the second socket's ack already
/// shows it; a `message.new` too would show it twice); the customer gets
/// it once; one row is stored.
async fn a_resend_from_a_senders_second_socket_during_the_commit_is_acked_and_not_shown_twice(
    app: &TestApp,
) {
    let admin = app.admin_token().await;
    let t = team(
        app,
        &admin,
        json!({"name": "Support", "auto_assign": false}),
    )
    .await;
    let user = app
        .create_user(&admin, "agent", json!({"team_ids": [t]}))
        .await;
    let (x, token) = widget_session(app, json!({"name": "Ana"})).await;
    let mut customer = Ws::customer(app, &token).await;
    let mut one = Ws::agent(app, &user.token).await;
    let mut two = Ws::agent(app, &user.token).await;
    accept(&mut one, x).await;
    // Every socket of the assignee follows at once.
    assert_eq!(
        two.recv_type("conversation.assigned").await["conversation"]["id"],
        x
    );
    customer.recv_type("conversation.updated").await;

    let hold = Hold::inserts(app).await;
    one.send(
        json!({"type": "message.send", "conversation_id": x, "client_msg_id": "k1",
        "text": "only once", "ref": "one"}),
    )
    .await;
    // Once socket two sees socket one type, the send was taken.
    one.send(typing(Some(x), true)).await;
    recv_type_before(&mut two, "typing", &["message.new", "message.ack"]).await;
    two.send(
        json!({"type": "message.send", "conversation_id": x, "client_msg_id": "k1",
        "text": "only once", "ref": "two"}),
    )
    .await;
    two.send(typing(Some(x), false)).await;
    recv_type_before(&mut one, "typing", &["message.new", "message.ack"]).await;
    until_waiting(app, 1).await;
    hold.release().await;

    let ack_one = recv_type_before(&mut one, "message.ack", &["message.new"]).await;
    let ack_two = recv_type_before(&mut two, "message.ack", &["message.new"]).await;
    assert_eq!(ack_one["ref"], "one");
    assert_eq!(ack_two["ref"], "two");
    assert_eq!(
        ack_one["message"], ack_two["message"],
        "one message for both"
    );
    assert_eq!(
        (
            ack_one["message"]["seq"].clone(),
            ack_one["client_msg_id"].clone()
        ),
        (json!(1), json!("k1"))
    );
    let seen = customer.recv_type("message.new").await;
    assert_eq!(seen["message"], ack_one["message"]);
    customer.expect_no("message.new", QUIET).await;
    two.expect_no("message.new", QUIET).await;
    one.expect_no("message.new", QUIET).await;
    assert_eq!(
        number(app, format!("SELECT COUNT(*) AS n FROM messages WHERE conversation_id = {x} AND client_msg_id = 'k1'")).await,
        1
    );
}

/// Makes the database refuse every message whose text is 'poison'.
/// PostgreSQL: a deferred constraint trigger, so the refusal comes at
/// `COMMIT` itself, after every statement succeeded. SQLite has no deferred
/// triggers: there the insert is refused.
async fn refuse_poison(app: &TestApp) {
    let statements: &[&str] = match app.db.get_database_backend() {
        DbBackend::Postgres => &[
            "CREATE FUNCTION refuse_poison() RETURNS trigger AS $$ BEGIN \
             IF NEW.text = 'poison' THEN RAISE EXCEPTION 'refused by the test'; END IF; \
             RETURN NULL; END $$ LANGUAGE plpgsql",
            "CREATE CONSTRAINT TRIGGER refuse_poison AFTER INSERT ON messages \
             DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_poison()",
        ],
        _ => &["CREATE TRIGGER refuse_poison BEFORE INSERT ON messages \
             WHEN NEW.text = 'poison' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"],
    };
    for sql in statements {
        app.db.execute_unprepared(sql).await.unwrap();
    }
}

/// A group commit that fails is retried batch by batch (src/actors/
/// committer.rs), so one conversation's refused message fails alone: the
/// other conversation's message in the same group is acked and delivered,
/// the refused one's sender gets `error` `internal` and no ack, nothing of
/// it is stored, and the sender's next message takes its seq (invariant 2,
/// no gap). Sent again with the same `client_msg_id` (what §3.1 tells a
/// client to do after `internal`), it is a new message: the failed key was
/// never stored.
async fn a_failed_batch_fails_alone_and_leaves_no_gap(app: &TestApp) {
    let Desk {
        mut staff,
        mut chats,
        ..
    } = desk(app, 3).await;
    let (blocker, a, b) = (chats[0].id, chats[1].id, chats[2].id);
    let first = chats[1].customer.say(None, "a1", "before").await;
    assert_eq!(first["message"]["seq"], 1);
    staff.recv_type("message.new").await;
    refuse_poison(app).await;

    let hold = Hold::inserts(app).await;
    let [chat_c, chat_a, chat_b] = &mut chats[..] else {
        unreachable!()
    };
    // The writer takes the blocker's commit alone and waits in it, so the
    // two that follow queue behind it and are committed as one group.
    chat_c
        .customer
        .send(send_frame(None, "c1", "blocker"))
        .await;
    chat_c.customer.send(typing(None, true)).await;
    let t = recv_type_before(&mut staff, "typing", &["message.new"]).await;
    assert_eq!(t["conversation_id"], blocker);
    until_waiting(app, 1).await;
    // A's poison is in flight; A's next message waits behind it.
    chat_a.customer.send(send_frame(None, "p", "poison")).await;
    chat_a
        .customer
        .send(send_frame(None, "a2", "after the poison"))
        .await;
    chat_a.customer.send(typing(None, true)).await;
    chat_b.customer.send(send_frame(None, "b1", "fine")).await;
    chat_b.customer.send(typing(None, true)).await;
    let mut typed = Vec::new();
    for _ in 0..2 {
        let t = recv_type_before(&mut staff, "typing", &["message.new"]).await;
        typed.push(t["conversation_id"].as_i64().unwrap());
    }
    typed.sort_unstable();
    let mut both = vec![a, b];
    both.sort_unstable();
    assert_eq!(typed, both);
    hold.release().await;

    let ack = chat_c.customer.recv_type("message.ack").await;
    assert_eq!(ack["message"]["seq"], 1);
    // B is untouched by A's failure.
    let ack_b = chat_b.customer.recv_type("message.ack").await;
    assert_eq!(
        (ack_b["ref"].clone(), ack_b["message"]["seq"].clone()),
        (json!("b1"), json!(1)),
        "{ack_b}"
    );
    // A: the error, never an ack, for the poison; its next message has the
    // poison's seq.
    let err = recv_type_before(&mut chat_a.customer, "error", &["message.ack"]).await;
    assert_eq!(
        (err["ref"].clone(), err["code"].clone()),
        (json!("p"), json!("internal")),
        "{err}"
    );
    let ack_a = chat_a.customer.recv_type("message.ack").await;
    assert_eq!(
        (ack_a["ref"].clone(), ack_a["message"]["seq"].clone()),
        (json!("a2"), json!(2)),
        "{ack_a}"
    );
    // The agent sees each once, without a gap, and never the poison.
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let f = staff.recv_type("message.new").await;
        let m = &f["message"];
        assert_ne!(m["text"], "poison", "{f}");
        seen.push((
            m["conversation_id"].as_i64().unwrap(),
            m["seq"].as_i64().unwrap(),
            m["text"].as_str().unwrap().to_owned(),
        ));
    }
    seen.sort();
    let mut want = vec![
        (blocker, 1, "blocker".to_owned()),
        (a, 2, "after the poison".to_owned()),
        (b, 1, "fine".to_owned()),
    ];
    want.sort();
    assert_eq!(seen, want);
    chat_a.customer.expect_no("message.ack", QUIET).await;
    assert_eq!(
        number(
            app,
            "SELECT COUNT(*) AS n FROM messages WHERE text = 'poison'".to_owned()
        )
        .await,
        0
    );

    // The failed key was never stored: sent again it is a new message.
    let again = chat_a.customer.say(None, "p", "the antidote").await;
    assert_eq!(
        (
            again["message"]["seq"].clone(),
            again["message"]["text"].clone()
        ),
        (json!(3), json!("the antidote")),
        "{again}"
    );
    let once_more = chat_a.customer.say(None, "p", "the antidote").await;
    assert_eq!(once_more["message"], again["message"]);
    assert_eq!(
        number(
            app,
            format!("SELECT COUNT(*) AS n FROM messages WHERE conversation_id = {a}")
        )
        .await,
        3
    );
    let seqs = number(
        app,
        format!("SELECT MAX(seq) - COUNT(*) AS n FROM messages WHERE conversation_id = {a}"),
    )
    .await;
    assert_eq!(seqs, 0, "seqs 1..=3 without a gap");
}

on_both! {
    async fn no_actor_blocks_on_io(app) {
        no_actor_blocks_on_io(&app).await;
    }

    async fn a_resend_from_a_senders_second_socket_during_the_commit_is_acked_and_not_shown_twice(app) {
        a_resend_from_a_senders_second_socket_during_the_commit_is_acked_and_not_shown_twice(&app).await;
    }

    async fn a_failed_batch_fails_alone_and_leaves_no_gap(app) {
        a_failed_batch_fails_alone_and_leaves_no_gap(&app).await;
    }
}

/// A resume whose history read fails (PostgreSQL: the reader's backend is
/// killed while it waits for a lock) answers its `ref` with `error`
/// `internal` instead of `resume.done`, and what was held for the socket
/// meanwhile that is not a message (`typing`, `conversation.updated`)
/// follows the error at once, in order (protocol §3.4). The socket still
/// follows live, and a later resume gets the whole history.
#[actix_web::test]
async fn a_failed_history_read_still_delivers_the_frames_held_during_it() {
    let Some(app) = spawn_app(Backend::Postgres).await else {
        return;
    };
    let Desk {
        admin,
        agent: user,
        mut staff,
        mut chats,
    } = desk(&app, 1).await;
    let Chat { id, mut customer } = chats.remove(0);
    customer.say(None, "m1", "one").await;
    customer.say(None, "m2", "two").await;
    staff.say(Some(id), "m3", "three").await;
    // Everything of the set-up has reached the customer before this pong.
    customer.send(json!({"type": "ping", "ref": "sync"})).await;
    assert_eq!(customer.recv_type("pong").await["ref"], "sync");
    let res = app
        .post("/api/v1/tags", &admin, json!({"name": "vip"}))
        .await;
    assert_eq!(res.status(), 201);
    // Another socket of the agent follows, to see when frames go out.
    let mut observer = Ws::agent(&app, &user.token).await;
    observer
        .send(json!({"type": "resume", "conversation_id": id, "after_seq": 3, "ref": "o"}))
        .await;
    assert_eq!(observer.recv_type("resume.done").await["last_seq"], 3);

    let hold = Hold::messages_entirely(&app).await;
    customer
        .send(json!({"type": "resume", "after_seq": 0, "ref": "r1"}))
        .await;
    let waiting = until_waiting(&app, 1).await;
    let (reader, query) = &waiting[0];
    assert!(query.starts_with("SELECT"), "{query}");
    // Produced while the history read waits: held for the customer.
    staff.send(typing(Some(id), true)).await;
    assert_eq!(observer.recv_type("typing").await["by"]["id"], user.id);
    let res = tokio::time::timeout(
        WAIT,
        app.post(
            &format!("/api/v1/conversations/{id}/tags"),
            &user.token,
            json!({"tags": ["vip"]}),
        ),
    )
    .await
    .expect("the tag change answers while messages are locked");
    assert_eq!(res.status(), 200);
    assert_eq!(
        observer.recv_type("conversation.updated").await["conversation"]["tags"],
        json!(["vip"])
    );
    expect_silence(&mut customer, QUIET).await;
    let killed = hold
        .execute(&format!("SELECT pg_terminate_backend({reader}) AS killed"))
        .await
        .unwrap();
    assert!(killed.try_get::<bool>("", "killed").unwrap());
    hold.release().await;

    let err = customer.recv().await;
    assert_eq!(
        (err["type"].clone(), err["ref"].clone(), err["code"].clone()),
        (json!("error"), json!("r1"), json!("internal")),
        "{err}"
    );
    let t = customer.recv().await;
    assert_eq!(
        (
            t["type"].clone(),
            t["by"]["id"].clone(),
            t["is_typing"].clone()
        ),
        (json!("typing"), json!(user.id), json!(true)),
        "{t}"
    );
    let upd = customer.recv().await;
    assert_eq!(
        (upd["type"].clone(), upd["conversation"]["tags"].clone()),
        (json!("conversation.updated"), json!(["vip"])),
        "{upd}"
    );
    // The failed resume ends with its error: no history, no resume.done.
    expect_silence(&mut customer, QUIET).await;

    // Still following live.
    staff.say(Some(id), "m4", "four").await;
    let live = customer.recv_type("message.new").await;
    assert_eq!(live["message"]["seq"], 4);
    // Resumed again, the whole history comes.
    customer
        .send(json!({"type": "resume", "after_seq": 0, "ref": "r2"}))
        .await;
    let mut seqs = Vec::new();
    let done = loop {
        let f = customer.recv().await;
        match f["type"].as_str() {
            Some("message.new") => seqs.push(f["message"]["seq"].as_i64().unwrap()),
            Some("resume.done") => break f,
            _ => {}
        }
    };
    assert_eq!(seqs, [1, 2, 3, 4]);
    assert_eq!(
        (done["ref"].clone(), done["last_seq"].clone()),
        (json!("r2"), json!(4)),
        "{done}"
    );
    app.finish().await;
}
