//! The store on its own, run on both backends: constraints, conditional
//! writes, and SQLite's durability settings.

use chrono::Utc;
use sea_orm::{ConnectionTrait, Statement};
use switchboard::domain::{Capacity, DisplayName, Email, Role, TeamId, TeamName, UserId};
use switchboard::store::{self, StoreError};

use crate::helpers::*;
use crate::on_both;

fn new_user(email: &str) -> store::users::NewUser {
    store::users::NewUser {
        email: Email::parse(email).unwrap(),
        name: DisplayName::parse("Someone").unwrap(),
        password_hash: "$argon2id$placeholder".into(),
        role: Role::Agent,
        capacity: Capacity::DEFAULT,
    }
}

on_both! {
    async fn a_duplicate_email_is_a_conflict(app) {
        store::users::insert(&app.db, &new_user("dup@test.local")).await.unwrap();
        let err = store::users::insert(&app.db, &new_user("dup@test.local")).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    }

    async fn a_membership_in_a_missing_team_is_a_missing_reference(app) {
        let u = store::users::insert(&app.db, &new_user("m@test.local")).await.unwrap();
        let err = store::users::set_teams(&app.db, UserId(u.id), &[TeamId(777)]).await.unwrap_err();
        assert!(matches!(err, StoreError::MissingReference(_)), "{err:?}");
    }

    async fn a_refresh_token_is_revoked_by_exactly_one_caller(app) {
        let u = store::users::insert(&app.db, &new_user("r@test.local")).await.unwrap();
        let exp = Utc::now() + chrono::Duration::hours(1);
        store::refresh_tokens::insert(&app.db, UserId(u.id), "fam", "hash-1", exp).await.unwrap();
        let t = store::refresh_tokens::find_by_hash(&app.db, "hash-1").await.unwrap().unwrap();
        assert!(store::refresh_tokens::family_is_live(&app.db, "fam").await.unwrap());
        assert!(store::refresh_tokens::revoke_if_live(&app.db, t.id).await.unwrap());
        assert!(!store::refresh_tokens::revoke_if_live(&app.db, t.id).await.unwrap());
        assert!(!store::refresh_tokens::family_is_live(&app.db, "fam").await.unwrap());
    }

    async fn deleting_a_team_nulls_fallbacks_pointing_at_it(app) {
        let b = store::teams::insert(&app.db, &store::teams::NewTeam {
            name: TeamName::parse("B").unwrap(), fallback_team: None, overflow_after_s: None, auto_assign: true,
            sla_first_response_s: None, sla_resolution_s: None,
        }).await.unwrap();
        let a = store::teams::insert(&app.db, &store::teams::NewTeam {
            name: TeamName::parse("A").unwrap(), fallback_team: Some(TeamId(b.id)), overflow_after_s: Some(30), auto_assign: true,
            sla_first_response_s: None, sla_resolution_s: None,
        }).await.unwrap();
        store::teams::delete(&app.db, TeamId(b.id)).await.unwrap();
        let a = store::teams::find(&app.db, TeamId(a.id)).await.unwrap().unwrap();
        assert_eq!(a.fallback_team_id, None);
        assert!(matches!(store::teams::delete(&app.db, TeamId(b.id)).await, Err(StoreError::NotFound)));
    }

    async fn no_index_of_conversations_holds_a_column_every_message_writes(app) {
        // Each message claims its conversation: these columns change on
        // every message. Indexed, each would cost an index rewrite per
        // message on SQLite and make every claim a non-HOT update on
        // PostgreSQL (a dead row and new entries in every index).
        let per_message = ["last_seq", "updated_at", "agent_unread", "customer_unread", "first_response_at"];
        let sql = match app.db.get_database_backend() {
            sea_orm::DbBackend::Postgres => "SELECT a.attname AS col FROM pg_index i \
                JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
                WHERE i.indrelid = 'conversations'::regclass",
            _ => "SELECT ii.name AS col FROM sqlite_master m, pragma_index_info(m.name) ii \
                WHERE m.type = 'index' AND m.tbl_name = 'conversations'",
        };
        let rows = app.db.query_all_raw(Statement::from_string(app.db.get_database_backend(), sql)).await.unwrap();
        let indexed: Vec<String> = rows.iter().map(|r| r.try_get::<String>("", "col").unwrap()).collect();
        assert!(indexed.iter().any(|c| c == "assignee_id"), "the query reads index columns: {indexed:?}");
        for col in per_message {
            assert!(!indexed.iter().any(|c| c == col), "{col} is indexed: {indexed:?}");
        }
    }

    async fn timestamps_round_trip_with_their_time_zone(app) {
        let u = store::users::insert(&app.db, &new_user("t@test.local")).await.unwrap();
        let back = store::users::find(&app.db, UserId(u.id)).await.unwrap().unwrap();
        assert_eq!(back.created_at, u.created_at);
        assert!((Utc::now() - back.created_at).num_seconds().abs() < 60);
    }
}

#[actix_web::test]
async fn sqlite_runs_in_wal_mode_with_full_sync_foreign_keys_and_seldom_checkpoints() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let pragma = |name: &'static str| {
        let db = app.db.clone();
        async move {
            let row = db
                .query_one_raw(Statement::from_string(
                    db.get_database_backend(),
                    format!("PRAGMA {name}"),
                ))
                .await
                .unwrap()
                .unwrap();
            row.try_get_by_index::<sea_orm::prelude::Json>(0)
                .map(|v| v.to_string())
                .or_else(|_| row.try_get_by_index::<String>(0))
                .or_else(|_| row.try_get_by_index::<i64>(0).map(|n| n.to_string()))
                .unwrap()
        }
    };
    assert_eq!(pragma("journal_mode").await.to_lowercase(), "wal");
    assert_eq!(pragma("synchronous").await, "2", "2 is FULL");
    assert_eq!(pragma("foreign_keys").await, "1");
    assert_eq!(
        pragma("wal_autocheckpoint").await,
        switchboard::store::SQLITE_WAL_AUTOCHECKPOINT_PAGES.to_string()
    );
    assert!(app.data_dir.path().join("switchboard.db").exists());
    app.finish().await;
}

#[actix_web::test]
async fn postgresql_commits_durably_whatever_the_url_or_the_role_asks() {
    let Some(url) = fresh_pg_database().await else {
        return;
    };
    // The database's own default and the URL's startup option both ask for
    // commits that return before their log is flushed.
    let admin = sea_orm::Database::connect(&url).await.unwrap();
    let name = url.rsplit('/').next().unwrap().to_owned();
    admin
        .execute_unprepared(&format!(
            "ALTER DATABASE \"{name}\" SET synchronous_commit = off"
        ))
        .await
        .unwrap();
    admin.close().await.unwrap();
    let lax = format!("{url}?options=-c%20synchronous_commit%3Doff");
    let dir = tempfile::tempdir().unwrap();
    let settings = test_settings(dir.path(), Some(lax.clone()));
    let plain = sea_orm::Database::connect(&lax).await.unwrap();
    let show = |db: sea_orm::DatabaseConnection| async move {
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "SHOW synchronous_commit",
            ))
            .await
            .unwrap()
            .unwrap();
        let value: String = row.try_get_by_index(0).unwrap();
        db.close().await.unwrap();
        value
    };
    assert_eq!(show(plain).await, "off", "the set-up asks for lax commits");
    let db = store::connect(&settings).await.unwrap();
    assert_eq!(show(db).await, "on");
}

#[actix_web::test]
async fn at_its_bound_the_sqlite_writer_checkpoints_the_log_itself_so_the_log_restarts() {
    use std::sync::Arc;
    use switchboard::store::conversations::Fence;
    use switchboard::store::sqlite_checkpoint::Policy;
    use switchboard::store::sqlite_writer::{Batch, Group, SqliteWriter};
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let path = app.data_dir.path().join("switchboard.db");
    // No background pass (its step is never reached): only the writer's
    // own checkpoint at 64 pages can restart the log, which its hook keeps
    // SQLite from doing.
    let writer = SqliteWriter::open_with(&path, Policy::new(1_000_000, 64)).unwrap();
    let c = bare_conversation(&app).await;
    // The file keeps its size when the log restarts: what the set-up wrote
    // (migrations, the admin) stays its floor.
    let wal_path = path.with_extension("db-wal");
    let before = std::fs::metadata(&wal_path).unwrap().len();
    const COMMITS: i64 = 300;
    for seq in 1..=COMMITS {
        let group = Group {
            batches: vec![Batch {
                conversation: c,
                fence: Fence::default(),
                messages: Arc::new(messages(seq, 1)),
            }],
            ..Group::default()
        };
        let out = writer.commit(group).await.unwrap();
        assert!(matches!(
            out.batches[..],
            [switchboard::store::sqlite_writer::BatchOutcome::Stored(_)]
        ));
    }
    assert_eq!(message_count(&app, c).await, COMMITS);
    // Each commit logs two pages at least (the message's and its
    // conversation's): without a restart the file would grow by 600.
    let frame = 4096 + 24;
    let grown = std::fs::metadata(&wal_path)
        .unwrap()
        .len()
        .saturating_sub(before);
    assert!(
        grown < 150 * frame,
        "the log grew by {} pages",
        grown / frame
    );
    app.finish().await;
}

/// A conversation row without an actor (none is started for it).
async fn bare_conversation(app: &TestApp) -> switchboard::domain::ConversationId {
    conversation_with_visitor(app, None).await.0
}

/// A waiting conversation without team, and the visitor it was created with.
async fn conversation_with_visitor(
    app: &TestApp,
    name: Option<&str>,
) -> (switchboard::domain::ConversationId, entity::visitors::Model) {
    let (visitor, row) = store::conversations::create_with_visitor(&app.db, &waiting(name))
        .await
        .unwrap();
    (switchboard::domain::ConversationId(row.id), visitor)
}

/// A live chat waiting in no team, from a visitor who gave only `name`.
fn waiting(name: Option<&str>) -> store::conversations::NewConversation {
    store::conversations::NewConversation {
        name: name.map(str::to_owned),
        email: None,
        user_agent: None,
        page_url: None,
        issue_type: None,
        language: None,
        attributes: serde_json::json!({}),
        team: None,
        state: switchboard::domain::conversation::ConversationState::Queued,
        priority: 0,
        offline: false,
        assign_to: None,
    }
}

/// The committer as the app runs it: on SQLite, message batches go to the
/// SQLite writer thread over its own connection.
fn app_committer(app: &TestApp) -> switchboard::actors::committer::Committer {
    use switchboard::store::sqlite_writer::SqliteWriter;
    let sqlite = (app.db.get_database_backend() == sea_orm::DbBackend::Sqlite).then(|| {
        SqliteWriter::open(&app.data_dir.path().join("switchboard.db")).expect("sqlite writer")
    });
    switchboard::actors::committer::Committer::start(app.db.clone(), sqlite)
}

/// How many messages `conversation` has stored.
async fn message_count(app: &TestApp, conversation: switchboard::domain::ConversationId) -> i64 {
    app.db
        .query_one_raw(Statement::from_string(
            app.db.get_database_backend(),
            format!("SELECT COUNT(*) AS n FROM messages WHERE conversation_id = {conversation}"),
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap()
}

fn messages(from: i64, n: i64) -> Vec<store::messages::NewMessage> {
    use switchboard::domain::protocol::{PartyKind, Sender};
    (from..from + n)
        .map(|seq| store::messages::NewMessage {
            seq,
            client_msg_id: Some(format!("m{seq}")),
            sender: Sender {
                kind: PartyKind::Customer,
                id: None,
                name: None,
            },
            text: format!("text {seq}"),
        })
        .collect()
}

on_both! {
    async fn group_commit_stores_each_batch_and_refuses_only_a_stale_one(app) {
        use switchboard::store::conversations::Fence;
        let committer = app_committer(&app);
        let (a, b, c) = (bare_conversation(&app).await, bare_conversation(&app).await, bare_conversation(&app).await);
        // Sent at once, they share transactions; c's batch does not follow
        // its stored last_seq (another writer's view) and must be refused alone.
        let (ra, rb, rc) = futures_util::join!(
            committer.commit(a, Fence::default(), messages(1, 3)),
            committer.commit(b, Fence::default(), messages(1, 2)),
            committer.commit(c, Fence::default(), messages(5, 1)),
        );
        assert_eq!(ra.unwrap().iter().map(|m| m.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert_eq!(rb.unwrap().len(), 2);
        assert!(matches!(rc, Err(StoreError::Stale(_))), "{rc:?}");
        let count = |id| message_count(&app, id);
        assert_eq!((count(a).await, count(b).await, count(c).await), (3, 2, 0));
        let row = store::conversations::find(&app.db, a).await.unwrap().unwrap();
        assert_eq!(row.last_seq, 3);
        // A fenced writer whose token is not the stored one is refused too.
        let taken = store::conversations::take_ownership(&app.db, b).await.unwrap();
        let old = Fence(taken.0.map(|t| t - 1));
        let stale = committer.commit(b, old, messages(3, 1)).await;
        assert!(matches!(stale, Err(StoreError::Stale(_))), "{stale:?}");
        assert_eq!(committer.commit(b, taken, messages(3, 1)).await.unwrap().len(), 1);
    }
}

on_both! {
    async fn appends_to_many_conversations_store_each_that_follows_its_stored_seq_and_fence(app) {
        // On PostgreSQL one statement claims them all and inserts what it
        // claimed; each must still be judged alone, its counters moved as a
        // claim of its own would, and its rows returned in seq order.
        use switchboard::domain::protocol::{PartyKind, Sender};
        use switchboard::store::conversations::Fence;
        use switchboard::store::messages::{NewMessage, append_many};
        let (a, b, c) = (bare_conversation(&app).await, bare_conversation(&app).await, bare_conversation(&app).await);
        let taken = store::conversations::take_ownership(&app.db, c).await.unwrap();
        let lost = Fence(taken.0.map(|t| t - 1));
        let now = chrono::Utc::now();
        let seqs = |got: &Option<Vec<entity::messages::Model>>| {
            got.as_ref().map(|rows| rows.iter().map(|m| m.seq).collect::<Vec<_>>())
        };
        let (two, ahead, one) = (messages(1, 2), messages(4, 1), messages(1, 1));
        let got = append_many(&app.db, &[
            (a, Fence::default(), &two),
            (b, Fence::default(), &ahead), // b's last_seq is 0, not 3
            (c, lost, &one),               // another writer holds c
        ], now).await.unwrap();
        assert_eq!(got.iter().map(seqs).collect::<Vec<_>>(), vec![Some(vec![1, 2]), None, None]);
        let stored = got[0].as_ref().unwrap();
        assert!(stored.iter().all(|m| m.conversation_id == a.0 && (m.created_at - now).num_milliseconds() == 0));
        assert!(stored[0].id < stored[1].id, "ids follow seqs");
        assert_eq!(stored[0].client_msg_id, two[0].client_msg_id);
        assert_eq!(stored[0].text, two[0].text);
        let row = |id| { let db = app.db.clone(); async move { store::conversations::find(&db, id).await.unwrap().unwrap() } };
        let ra = row(a).await;
        assert_eq!((ra.last_seq, ra.agent_unread, ra.customer_unread), (2, 2, 0));
        assert!(ra.first_response_at.is_none());
        assert_eq!((row(b).await.last_seq, row(c).await.last_seq), (0, 0));
        let count = |id| message_count(&app, id);
        assert_eq!((count(a).await, count(b).await, count(c).await), (2, 0, 0), "refused batches write nothing");
        // An agent's reply counts for the customer and is the first response;
        // a conversation named twice in one call is appended in order.
        let reply = vec![NewMessage {
            seq: 3,
            client_msg_id: Some("r3".into()),
            sender: Sender { kind: PartyKind::Agent, id: Some(7), name: Some("Agent <7>".into()) },
            text: "hello \"there\" \u{1F600}".into(),
        }];
        let after = messages(4, 1);
        let got = append_many(&app.db, &[
            (a, Fence::default(), &reply),
            (c, taken, &one),
            (a, Fence::default(), &after),
        ], now).await.unwrap();
        assert_eq!(got.iter().map(seqs).collect::<Vec<_>>(), vec![Some(vec![3]), Some(vec![1]), Some(vec![4])]);
        let ra = row(a).await;
        assert_eq!((ra.last_seq, ra.agent_unread, ra.customer_unread), (4, 3, 1));
        assert!(ra.first_response_at.is_some());
        assert_eq!(row(c).await.last_seq, 1);
        // Distinct again, on the one-statement path: b from its stored seq,
        // the reply's sender and text stored as sent.
        let (b1, a5) = (messages(1, 1), reply.iter().map(|m| NewMessage { seq: 5, client_msg_id: Some("r5".into()), ..m.clone() }).collect::<Vec<_>>());
        let got = append_many(&app.db, &[(b, Fence::default(), &b1), (a, Fence::default(), &a5)], now).await.unwrap();
        assert_eq!(got.iter().map(seqs).collect::<Vec<_>>(), vec![Some(vec![1]), Some(vec![5])]);
        let m5 = &got[1].as_ref().unwrap()[0];
        assert_eq!((m5.sender_kind.as_str(), m5.sender_id, m5.sender_name.as_deref(), m5.text.as_str()),
            ("agent", Some(7), Some("Agent <7>"), reply[0].text.as_str()));
        assert_eq!(m5.attachments, serde_json::json!([]));
        assert_eq!((row(a).await.last_seq, row(b).await.last_seq), (5, 1));
        // A batch whose client_msg_id is taken fails the call, and in the
        // committer's transaction nothing of it is written (the committer
        // then retries one by one).
        let dup = vec![NewMessage { seq: 2, ..b1[0].clone() }];
        let fresh = messages(6, 1);
        let txn = store::begin(&app.db).await.unwrap();
        assert!(append_many(&txn, &[(b, Fence::default(), &dup), (a, Fence::default(), &fresh)], now).await.is_err());
        drop(txn);
        assert_eq!((row(a).await.last_seq, row(b).await.last_seq), (5, 1));
        assert_eq!((count(a).await, count(b).await), (5, 1));
    }
}

on_both! {
    async fn group_commit_assigns_up_to_capacity_and_a_refusal_writes_nothing(app) {
        use switchboard::domain::conversation::ConversationState;
        use switchboard::store::conversations::{ChangeError, Fence};
        let committer = app_committer(&app);
        let agent = store::users::insert(&app.db, &new_user("cap2@test.local")).await.unwrap();
        let away = store::users::insert(&app.db, &new_user("away@test.local")).await.unwrap();
        app.db.execute_raw(Statement::from_string(app.db.get_database_backend(),
            format!("UPDATE users SET status = 'online', capacity = 2 WHERE id = {}", agent.id)))
            .await.unwrap();
        let agent = UserId(agent.id);
        // a's visitor is handed over (its view is built from it, not read).
        let (a, visitor_a) = conversation_with_visitor(&app, Some("Ann")).await;
        let (b, c, d) = (bare_conversation(&app).await, bare_conversation(&app).await,
            bare_conversation(&app).await);
        let m = bare_conversation(&app).await;
        let before_c = store::conversations::find(&app.db, c).await.unwrap().unwrap();
        // Sent at once they share a transaction: three assignments to an
        // agent with room for two, one to an agent who is not online, and a
        // message batch of another conversation.
        let (ra, rb, rc, rd, rm) = futures_util::join!(
            committer.assign(a, Fence::default(), agent, Some(visitor_a)),
            committer.assign(b, Fence::default(), agent, None),
            committer.assign(c, Fence::default(), agent, None),
            committer.assign(d, Fence::default(), UserId(away.id), None),
            committer.commit(m, Fence::default(), messages(1, 2)),
        );
        let results = [&ra, &rb, &rc];
        let assigned: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(assigned.len(), 2, "{results:?}");
        assert!(assigned.iter().all(|(row, _)| row.assignee_id == Some(agent.0)
            && row.state == ConversationState::Assigned.as_str()));
        // Each assignment's view (built from a's visitor, read once for the
        // rest of the group) is its own conversation's, as a fresh read
        // gives it.
        for (row, view) in &assigned {
            let fresh = store::conversations::view(&app.db, (*row).clone()).await.unwrap();
            assert_eq!(serde_json::to_value(view).unwrap(), serde_json::to_value(&fresh).unwrap());
            assert_eq!((view.id, view.assignee_id), (row.id, Some(agent.0)));
        }
        if let Ok((_, view)) = &ra {
            assert_eq!(view.visitor.name.as_deref(), Some("Ann"));
        }
        assert!(results.iter().any(|r| matches!(r, Err(ChangeError::AtCapacity))), "{results:?}");
        assert!(matches!(rd, Err(ChangeError::AgentUnavailable)), "{rd:?}");
        assert_eq!(rm.unwrap().iter().map(|m| m.seq).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(store::conversations::load_of(&app.db, agent).await.unwrap(), 2);
        // The refused ones are exactly as they were (state, version, time).
        let refused = if ra.is_err() { a } else if rb.is_err() { b } else { c };
        let row = store::conversations::find(&app.db, refused).await.unwrap().unwrap();
        assert_eq!(row.state, ConversationState::Queued.as_str());
        assert_eq!(row.assignee_id, None);
        if refused == c {
            assert_eq!(row, before_c);
        }
        let row_d = store::conversations::find(&app.db, d).await.unwrap().unwrap();
        assert_eq!((row_d.state.as_str(), row_d.assignee_id), (ConversationState::Queued.as_str(), None));
    }
}

on_both! {
    async fn the_sqlite_writer_and_the_pool_write_the_same_rows(app) {
        // One conversation written through the app's committer (the SQLite
        // writer thread on SQLite), one through the pool's own statements:
        // what the pool reads back must be the same, field by field.
        use switchboard::domain::protocol::{PartyKind, Sender};
        use switchboard::store::conversations::Fence;
        let committer = app_committer(&app);
        let (a, b) = (bare_conversation(&app).await, bare_conversation(&app).await);
        let batch = |from| {
            let mut m = messages(from, 2);
            m[1].sender = Sender { kind: PartyKind::Agent, id: Some(7), name: Some("Ann <b>".into()) };
            m[1].client_msg_id = None;
            m
        };
        let via_app = committer.commit(a, Fence::default(), batch(1)).await.unwrap();
        let via_pool = store::messages::commit_batch(&app.db, b, Fence::default(), &batch(1)).await.unwrap();
        let read_a = store::messages::after(&app.db, a, 0, 10).await.unwrap();
        let read_b = store::messages::after(&app.db, b, 0, 10).await.unwrap();
        // What the committer answered is what is stored.
        assert_eq!(via_app, read_a);
        assert_eq!(via_pool, read_b);
        let strip = |rows: Vec<entity::messages::Model>| rows.into_iter()
            .map(|m| (m.seq, m.client_msg_id, m.sender_kind, m.sender_id, m.sender_name, m.text, m.attachments))
            .collect::<Vec<_>>();
        assert_eq!(strip(read_a), strip(read_b));
        let (ca, cb) = (
            store::conversations::find(&app.db, a).await.unwrap().unwrap(),
            store::conversations::find(&app.db, b).await.unwrap().unwrap(),
        );
        assert_eq!((ca.last_seq, ca.agent_unread, ca.customer_unread), (2, 1, 1));
        assert_eq!((ca.last_seq, ca.agent_unread, ca.customer_unread), (cb.last_seq, cb.agent_unread, cb.customer_unread));
        assert!(ca.first_response_at.is_some() && cb.first_response_at.is_some());
        assert_eq!(ca.updated_at, via_app[0].created_at);
        // A later reply leaves the first response time as it was.
        let first = ca.first_response_at;
        committer.commit(a, Fence::default(), batch(3)).await.unwrap();
        let ca = store::conversations::find(&app.db, a).await.unwrap().unwrap();
        assert_eq!((ca.last_seq, ca.first_response_at), (4, first));
        // Ordered reads by time see the writer's timestamps in order.
        assert!(ca.updated_at > cb.updated_at);
    }
}

on_both! {
    async fn an_automatic_assignment_answers_the_row_and_view_the_pool_reads_back(app) {
        // On SQLite the app's committer assigns on the writer thread, whose
        // own connection returns the row and parses it: it must be the row
        // the pool reads, field by field, with every kind of column set.
        use switchboard::domain::conversation::ConversationState;
        use switchboard::store::conversations::Fence;
        let committer = app_committer(&app);
        let agent = store::users::insert(&app.db, &new_user("parity@test.local")).await.unwrap();
        let team = store::teams::insert(&app.db, &store::teams::NewTeam {
            name: TeamName::parse("Parity").unwrap(), fallback_team: None, overflow_after_s: None, auto_assign: false,
            sla_first_response_s: None, sla_resolution_s: None,
        }).await.unwrap();
        app.db.execute_raw(Statement::from_string(app.db.get_database_backend(),
            format!("UPDATE users SET status = 'online', capacity = 3 WHERE id = {}", agent.id)))
            .await.unwrap();
        let (_, created) = store::conversations::create_with_visitor(
            &app.db,
            &store::conversations::NewConversation {
                name: Some("Ada".into()),
                email: Some("ada@example.test".into()),
                user_agent: None,
                page_url: None,
                issue_type: Some("billing".into()),
                language: Some("en".into()),
                attributes: serde_json::json!({"plan": "pro", "seats": 3, "vip": true}),
                team: Some(TeamId(team.id)),
                state: ConversationState::Queued,
                priority: 2,
                offline: true,
                assign_to: None,
            },
        )
        .await
        .unwrap();
        let id = switchboard::domain::ConversationId(created.id);
        // A timestamp written by the pool's driver in a nullable column.
        {
            use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
            entity::conversations::Entity::update_many()
                .col_expr(entity::conversations::Column::FirstResponseAt, Expr::value(Utc::now()))
                .filter(entity::conversations::Column::Id.eq(created.id))
                .exec(&app.db)
                .await
                .unwrap();
        }
        let (row, view) = committer.assign(id, Fence::default(), UserId(agent.id), None).await.unwrap();
        let stored = store::conversations::find(&app.db, id).await.unwrap().unwrap();
        assert_eq!(row, stored);
        assert_eq!((row.state.as_str(), row.assignee_id, row.waiting_since), (ConversationState::Assigned.as_str(), Some(agent.id), None));
        assert_eq!(row.version, created.version + 1);
        assert!(row.updated_at > created.updated_at);
        let read = store::conversations::view(&app.db, stored).await.unwrap();
        assert_eq!(serde_json::to_value(&view).unwrap(), serde_json::to_value(&read).unwrap());
    }
}

on_both! {
    async fn a_new_conversations_view_built_without_reads_is_the_one_read_back(app) {
        use switchboard::domain::conversation::ConversationState;
        let (visitor, row) = store::conversations::create_with_visitor(
            &app.db,
            &store::conversations::NewConversation {
                name: Some("Ada".into()),
                email: Some("ada@example.test".into()),
                user_agent: Some("Firefox".into()),
                page_url: Some("https://shop.example/cart".into()),
                issue_type: Some("billing".into()),
                language: Some("en".into()),
                attributes: serde_json::json!({"plan": "pro"}),
                team: None,
                state: ConversationState::Queued,
                priority: 2,
                offline: false,
                assign_to: None,
            },
        )
        .await
        .unwrap();
        let built = store::conversations::new_view(row.clone(), &visitor).unwrap();
        let stored = store::conversations::find(&app.db, switchboard::domain::ConversationId(row.id))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored, row, "the insert returned the row as stored");
        let read = store::conversations::view(&app.db, stored).await.unwrap();
        assert_eq!(serde_json::to_value(&built).unwrap(), serde_json::to_value(&read).unwrap());
        assert_eq!(built.visitor.name.as_deref(), Some("Ada"));
    }
}

on_both! {
    async fn an_assignment_to_an_agent_another_transaction_is_filling_waits_and_is_refused(app) {
        // Invariant 4 across transactions (two nodes' group commits): the
        // second assignment to an agent with room for one must wait for the
        // first transaction and then count its conversation. On PostgreSQL
        // that is the agent's row lock; without it the second update's
        // count would not see the first, uncommitted, assignment.
        use switchboard::domain::conversation::ConversationState;
        use switchboard::store::conversations::{ChangeError, Fence};
        let agent = store::users::insert(&app.db, &new_user("one@test.local")).await.unwrap();
        app.db.execute_raw(Statement::from_string(app.db.get_database_backend(),
            format!("UPDATE users SET status = 'online', capacity = 1 WHERE id = {}", agent.id)))
            .await.unwrap();
        let agent = UserId(agent.id);
        let (a, b) = (bare_conversation(&app).await, bare_conversation(&app).await);
        let first = store::begin(&app.db).await.unwrap();
        store::conversations::assign(&first, a, Fence::default(), agent, &[ConversationState::Queued], true)
            .await
            .unwrap();
        let db = app.db.clone();
        let second = tokio::spawn(async move {
            let txn = store::begin(&db).await.map_err(StoreError::from)?;
            let res = store::conversations::assign(&txn, b, Fence::default(), agent, &[ConversationState::Queued], true).await;
            txn.commit().await.map_err(StoreError::from)?;
            Ok::<_, StoreError>(res)
        });
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(!second.is_finished(), "the second assignment waits for the first transaction");
        first.commit().await.unwrap();
        let res = second.await.unwrap().unwrap();
        assert!(matches!(res, Err(ChangeError::AtCapacity)), "{res:?}");
        assert_eq!(store::conversations::load_of(&app.db, agent).await.unwrap(), 1);
    }
}

on_both! {
    async fn a_creation_through_the_committer_returns_what_the_pool_reads_back(app) {
        // On SQLite the committer inserts a new visitor and conversation on
        // the writer thread and parses the returned rows itself: they must
        // be what the pool reads, field by field.
        let committer = app_committer(&app);
        let new = store::conversations::NewConversation {
            email: Some("ann@example.com".into()),
            user_agent: Some("Mozilla/5.0 é".into()),
            page_url: Some("https://example.com/p?q=1".into()),
            issue_type: Some("billing".into()),
            language: Some("de".into()),
            attributes: serde_json::json!({"plan": "pro", "seats": 3}),
            priority: 2,
            ..waiting(Some("Ann <b>"))
        };
        let (visitor, row) = committer.create(new).await.unwrap();
        let stored = store::conversations::find(&app.db, switchboard::domain::ConversationId(row.id))
            .await.unwrap().unwrap();
        assert_eq!(row, stored);
        let stored_visitor = store::conversations::visitor(&app.db, switchboard::domain::VisitorId(visitor.id))
            .await.unwrap().unwrap();
        assert_eq!(visitor, stored_visitor);
        assert_eq!(row.visitor_id, visitor.id);
        assert_eq!(row.waiting_since, Some(row.created_at), "queued since its creation");
        let read = store::conversations::views(&app.db, vec![stored.clone()]).await.unwrap();
        let built = store::conversations::new_view(stored, &visitor).unwrap();
        assert_eq!(serde_json::to_value(&read[0]).unwrap(), serde_json::to_value(&built).unwrap());
        assert_eq!(read[0].visitor.name.as_deref(), Some("Ann <b>"));
    }
}

on_both! {
    async fn a_creation_the_database_refuses_writes_nothing_and_spares_the_rest(app) {
        // A team that does not exist breaks the foreign key. Sent beside a
        // message batch, the two may share a group: the group fails, each
        // is retried alone, and only the batch is stored. No visitor of the
        // refused creation is left behind.
        use switchboard::store::conversations::Fence;
        let committer = app_committer(&app);
        let m = bare_conversation(&app).await;
        let (visitors, conversations) = (app.count("visitors").await, app.count("conversations").await);
        let bad = store::conversations::NewConversation {
            team: Some(TeamId(987_654)),
            ..waiting(Some("Nobody"))
        };
        let (created, stored) = futures_util::join!(
            committer.create(bad),
            committer.commit(m, Fence::default(), messages(1, 2)),
        );
        assert!(created.is_err(), "{created:?}");
        assert_eq!(stored.unwrap().iter().map(|m| m.seq).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(app.count("visitors").await, visitors);
        assert_eq!(app.count("conversations").await, conversations);
    }
}

on_both! {
    async fn a_creation_is_assigned_to_its_reserved_agent_only_while_they_have_room(app) {
        // The team queue reserves an agent before a new conversation is
        // written; the creating transaction assigns it only if that agent
        // is still online and under capacity (the store has the last word,
        // as for every assignment), else it is written waiting. Through the
        // committer (on SQLite the writer thread parses the assigned row
        // itself) and through the pool alike.
        use switchboard::domain::AgentStatus;
        use switchboard::store::users::UserChanges;
        let committer = app_committer(&app);
        let agent = store::users::insert(&app.db, &store::users::NewUser {
            capacity: Capacity::parse(1).unwrap(),
            ..new_user("reserved@test.local")
        }).await.unwrap();
        let id = UserId(agent.id);
        let to = |who: UserId| store::conversations::NewConversation {
            assign_to: Some(who),
            ..waiting(Some("Ann"))
        };
        let state = |row: &entity::conversations::Model| (row.state.clone(), row.assignee_id);
        let (_, offline) = committer.create(to(id)).await.unwrap();
        assert_eq!(state(&offline), ("queued".into(), None), "the agent is offline");
        store::users::update(&app.db, id, UserChanges { status: Some(AgentStatus::Online), ..Default::default() })
            .await.unwrap();
        // Its open conversations count in its load: the one above is not
        // its own, so it has room.
        let (_, taken) = committer.create(to(id)).await.unwrap();
        assert_eq!(state(&taken), ("assigned".into(), Some(agent.id)));
        assert_eq!(taken.waiting_since, None);
        let stored = store::conversations::find(&app.db, switchboard::domain::ConversationId(taken.id))
            .await.unwrap().unwrap();
        assert_eq!(taken, stored, "the row returned is the row committed");
        let (_, full) = committer.create(to(id)).await.unwrap();
        assert_eq!(state(&full), ("queued".into(), None), "capacity 1, one held");
        let (_, full) = store::conversations::create_with_visitor(&app.db, &to(id)).await.unwrap();
        assert_eq!(state(&full), ("queued".into(), None), "the same through the pool");
        store::users::update(&app.db, id, UserChanges { capacity: Some(Capacity::parse(2).unwrap()), ..Default::default() })
            .await.unwrap();
        let (_, pooled) = store::conversations::create_with_visitor(&app.db, &to(id)).await.unwrap();
        assert_eq!(state(&pooled), ("assigned".into(), Some(agent.id)));
        assert_eq!(app.count("conversations").await, 5, "every creation wrote its conversation");
    }
}
