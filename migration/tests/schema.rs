//! Schema tests: run the migrations on a temporary SQLite file and, when
//! `SWITCHBOARD_TEST_DATABASE_URL` is set, on a fresh PostgreSQL database,
//! then check that the entities match the tables and that the constraints hold.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::panic::resume_unwind;
use std::sync::Once;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Duration, TimeZone, Utc};
use entity::{
    agent_skills, audit_log, business_hours, conversation_skills, conversation_tags, conversations,
    csat_ratings, macros, messages, notes, refresh_tokens, routing_rules, skills, sla_breaches,
    tags, team_members, teams, triage_flows, users, visitors, widget_settings,
};
use migration::{Migrator, MigratorTrait, SchemaManager};
use sea_orm::{
    ActiveModelTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend,
    DbErr, EntityLoaderTrait, EntityTrait, ModelTrait, Set, SqlErr, Statement,
};
use serde_json::json;

const PG_URL_VAR: &str = "SWITCHBOARD_TEST_DATABASE_URL";

/// Every table of schema v1.
const TABLES: [&str; 21] = [
    "users",
    "refresh_tokens",
    "teams",
    "team_members",
    "skills",
    "agent_skills",
    "visitors",
    "conversations",
    "conversation_skills",
    "messages",
    "notes",
    "tags",
    "conversation_tags",
    "macros",
    "routing_rules",
    "widget_settings",
    "business_hours",
    "audit_log",
    "sla_breaches",
    "triage_flows",
    "csat_ratings",
];

/// Every named index of the schema, as (table, index).
const INDEXES: [(&str, &str); 20] = [
    ("refresh_tokens", "idx_refresh_tokens_user_id"),
    ("refresh_tokens", "idx_refresh_tokens_family_id"),
    ("team_members", "idx_team_members_user_id"),
    ("agent_skills", "idx_agent_skills_skill_id"),
    ("conversations", "idx_conversations_assignee_id_state"),
    ("conversations", "idx_conversations_assignee_id_id"),
    (
        "conversations",
        "idx_conversations_team_id_state_priority_waiting_since",
    ),
    ("conversations", "idx_conversations_visitor_id"),
    ("visitors", "idx_visitors_email"),
    ("messages", "uq_messages_conversation_id_seq"),
    (
        "messages",
        "uq_messages_conversation_id_client_msg_id_sender",
    ),
    ("notes", "idx_notes_conversation_id"),
    ("conversation_tags", "idx_conversation_tags_tag_id"),
    ("macros", "idx_macros_owner_id"),
    ("routing_rules", "idx_routing_rules_position"),
    ("audit_log", "idx_audit_log_created_at"),
    ("sla_breaches", "uq_sla_breaches_conversation_id_kind"),
    ("sla_breaches", "idx_sla_breaches_team_id_breached_at"),
    ("csat_ratings", "uq_csat_ratings_conversation_id"),
    ("csat_ratings", "idx_csat_ratings_agent_id_created_at"),
];

/// Indexes a later migration dropped, as (table, index): gone once every
/// migration has run (step 40: every message rewrote this one; step 42:
/// a `client_msg_id` became unique per sender).
const DROPPED_INDEXES: [(&str, &str); 2] = [
    ("conversations", "idx_conversations_state_updated_at"),
    ("messages", "uq_messages_conversation_id_client_msg_id"),
];

// ---------------------------------------------------------------------------
// Database set-up
// ---------------------------------------------------------------------------

/// A SQLite database in a temporary file with foreign keys on.
async fn sqlite_db() -> (DatabaseConnection, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchboard.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let mut opts = ConnectOptions::new(url);
    opts.sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| o.foreign_keys(true));
    let db = Database::connect(opts).await.unwrap();
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            "PRAGMA foreign_keys",
        ))
        .await
        .unwrap()
        .unwrap();
    let on: i32 = row.try_get_by_index(0).unwrap();
    assert_eq!(on, 1, "SQLite foreign keys must be enabled");
    (db, dir)
}

/// Runs `scenario` on a fresh SQLite file.
async fn on_sqlite<F, Fut>(scenario: F)
where
    F: FnOnce(DatabaseConnection) -> Fut,
    Fut: Future<Output = ()>,
{
    let (db, _dir) = sqlite_db().await;
    scenario(db.clone()).await;
    db.close().await.unwrap();
}

fn unique_suffix() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{}_{}_{}",
        std::process::id(),
        nanos,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// `url` with its database name replaced by `name` (query string kept).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map(|i| i + 3).unwrap_or(0);
    let prefix = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{prefix}/{name}?{q}"),
        None => format!("{prefix}/{name}"),
    }
}

/// Runs `scenario` on a freshly created PostgreSQL database that is dropped
/// afterwards (even if the scenario panics); skipped, with one line on
/// stderr, when `SWITCHBOARD_TEST_DATABASE_URL` is not set.
async fn on_postgres<F, Fut>(scenario: F)
where
    F: FnOnce(DatabaseConnection) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Ok(admin_url) = std::env::var(PG_URL_VAR) else {
        static SKIP_NOTICE: Once = Once::new();
        SKIP_NOTICE.call_once(|| {
            // Written to the real stderr (not `eprintln!`) so that the test harness does not capture it.
            let _ = writeln!(
                std::io::stderr(),
                "PostgreSQL schema tests skipped: {PG_URL_VAR} is not set \
                 (e.g. {PG_URL_VAR}=postgres://postgres@127.0.0.1/test)"
            );
        });
        return;
    };
    let name = format!("sbmig_{}", unique_suffix());
    let mut admin_opts = ConnectOptions::new(admin_url.clone());
    admin_opts.sqlx_logging(false).max_connections(1);
    let admin = Database::connect(admin_opts).await.unwrap();
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .unwrap();

    let mut opts = ConnectOptions::new(with_database(&admin_url, &name));
    opts.sqlx_logging(false);
    let outcome: Result<(), Box<dyn std::any::Any + Send>> = match Database::connect(opts).await {
        Ok(db) => {
            // Run on a task so that a failing assertion still lets us drop the database.
            let outcome = tokio::spawn(scenario(db.clone())).await;
            let _ = db.close().await;
            outcome.map_err(|join_err| match join_err.try_into_panic() {
                Ok(payload) => payload,
                Err(err) => Box::new(format!("scenario task failed: {err}")),
            })
        }
        Err(err) => Err(Box::new(format!("cannot connect to {name}: {err}"))),
    };
    admin
        .execute_unprepared(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
        .await
        .unwrap();
    admin.close().await.unwrap();
    if let Err(payload) = outcome {
        resume_unwind(payload);
    }
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A fixed instant with microsecond precision (what PostgreSQL keeps).
fn ts(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 9, minute, 7).unwrap() + Duration::microseconds(123_456)
}

fn assert_unique_violation(result: Result<impl std::fmt::Debug, DbErr>, what: &str) {
    let err = result.expect_err(what);
    assert!(
        matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))),
        "{what}: expected a unique violation, got {err:?}"
    );
}

fn assert_check_violation(result: Result<impl std::fmt::Debug, DbErr>, constraint: &str) {
    let err = result.expect_err(constraint);
    let text = err.to_string();
    assert!(
        text.contains(constraint),
        "expected CHECK {constraint} to fail, got {text}"
    );
}

async fn find_all_entities(db: &DatabaseConnection) -> Result<(), DbErr> {
    users::Entity::find().all(db).await?;
    refresh_tokens::Entity::find().all(db).await?;
    teams::Entity::find().all(db).await?;
    team_members::Entity::find().all(db).await?;
    skills::Entity::find().all(db).await?;
    agent_skills::Entity::find().all(db).await?;
    visitors::Entity::find().all(db).await?;
    conversations::Entity::find().all(db).await?;
    conversation_skills::Entity::find().all(db).await?;
    messages::Entity::find().all(db).await?;
    notes::Entity::find().all(db).await?;
    tags::Entity::find().all(db).await?;
    conversation_tags::Entity::find().all(db).await?;
    macros::Entity::find().all(db).await?;
    routing_rules::Entity::find().all(db).await?;
    widget_settings::Entity::find().all(db).await?;
    business_hours::Entity::find().all(db).await?;
    sla_breaches::Entity::find().all(db).await?;
    triage_flows::Entity::find().all(db).await?;
    audit_log::Entity::find().all(db).await?;
    csat_ratings::Entity::find().all(db).await?;
    Ok(())
}

async fn assert_schema_present(db: &DatabaseConnection, present: bool) {
    let manager = SchemaManager::new(db);
    for table in TABLES {
        assert_eq!(
            manager.has_table(table).await.unwrap(),
            present,
            "table {table}"
        );
    }
    if present {
        for (table, index) in INDEXES {
            assert!(
                manager.has_index(table, index).await.unwrap(),
                "index {index} on {table}"
            );
        }
        for (table, index) in DROPPED_INDEXES {
            assert!(
                !manager.has_index(table, index).await.unwrap(),
                "index {index} on {table} was dropped"
            );
        }
    }
}

fn new_user(email: &str, role: &str) -> users::ActiveModel {
    users::ActiveModel {
        email: Set(email.to_owned()),
        name: Set("Ada Agent".to_owned()),
        password_hash: Set("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned()),
        role: Set(role.to_owned()),
        created_at: Set(ts(0)),
        updated_at: Set(ts(0)),
        ..Default::default()
    }
}

fn new_visitor() -> visitors::ActiveModel {
    visitors::ActiveModel {
        name: Set(Some("Vera Visitor".to_owned())),
        email: Set(None),
        user_agent: Set(Some("Mozilla/5.0".to_owned())),
        attributes: Set(json!({"page": "/pricing", "plan": "pro"})),
        created_at: Set(ts(1)),
        last_seen_at: Set(ts(2)),
        ..Default::default()
    }
}

fn new_conversation(visitor_id: i64, state: &str) -> conversations::ActiveModel {
    conversations::ActiveModel {
        visitor_id: Set(visitor_id),
        state: Set(state.to_owned()),
        attributes: Set(json!({})),
        created_at: Set(ts(3)),
        updated_at: Set(ts(3)),
        ..Default::default()
    }
}

fn new_message(
    conversation_id: i64,
    seq: i64,
    client_msg_id: Option<&str>,
) -> messages::ActiveModel {
    messages::ActiveModel {
        conversation_id: Set(conversation_id),
        seq: Set(seq),
        client_msg_id: Set(client_msg_id.map(str::to_owned)),
        sender_kind: Set("customer".to_owned()),
        sender_id: Set(None),
        sender_name: Set(None),
        text: Set(format!("message {seq}")),
        attachments: Set(json!([])),
        created_at: Set(ts(4)),
        ..Default::default()
    }
}

fn new_rating(conversation_id: i64, visitor_id: i64, score: i32) -> csat_ratings::ActiveModel {
    csat_ratings::ActiveModel {
        conversation_id: Set(conversation_id),
        visitor_id: Set(visitor_id),
        agent_id: Set(None),
        score: Set(score),
        comment: Set(None),
        created_at: Set(ts(20)),
        ..Default::default()
    }
}

// ---------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------

/// (a) every entity matches its table; one realistic row per table round-trips.
async fn round_trip(db: DatabaseConnection) {
    let db = &db;
    Migrator::up(db, None).await.unwrap();
    assert_schema_present(db, true).await;
    find_all_entities(db).await.unwrap();

    // users: DB defaults for active / capacity / status.
    let user = new_user("ada@example.com", "agent")
        .insert(db)
        .await
        .unwrap();
    assert!(user.active);
    assert_eq!(user.capacity, 3);
    assert_eq!(user.status, "offline");
    assert_eq!(user.last_login_at, None);
    assert_eq!(user.created_at, ts(0));
    let admin = users::ActiveModel {
        active: Set(false),
        capacity: Set(7),
        status: Set("online".to_owned()),
        last_login_at: Set(Some(ts(5))),
        ..new_user("root@example.com", "admin")
    }
    .insert(db)
    .await
    .unwrap();
    let found = users::Entity::find_by_id(admin.id)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, admin);
    assert_eq!(found.last_login_at, Some(ts(5)));
    assert!(!found.active);

    let token = refresh_tokens::ActiveModel {
        user_id: Set(user.id),
        family_id: Set("5f0c6a8e-3a0b-4c1e-9d57-2b7f6c1d9e10".to_owned()),
        token_hash: Set(
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".to_owned(),
        ),
        created_at: Set(ts(6)),
        expires_at: Set(ts(6) + Duration::days(30)),
        revoked_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    let found = refresh_tokens::Entity::find_by_id(token.id)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, token);
    assert_eq!(found.expires_at, ts(6) + Duration::days(30));

    // teams: a fallback team and a team overflowing into it.
    let fallback = teams::ActiveModel {
        name: Set("Tier 2".to_owned()),
        created_at: Set(ts(7)),
        updated_at: Set(ts(7)),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    assert!(fallback.auto_assign);
    assert_eq!(fallback.fallback_team_id, None);
    let team = teams::ActiveModel {
        name: Set("Support".to_owned()),
        fallback_team_id: Set(Some(fallback.id)),
        overflow_after_s: Set(Some(120)),
        auto_assign: Set(false),
        created_at: Set(ts(7)),
        updated_at: Set(ts(8)),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    let found = teams::Entity::find_by_id(team.id)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, team);
    assert_eq!(found.fallback_team_id, Some(fallback.id));
    // The self-referencing relation resolves to the fallback team.
    let loaded = teams::Entity::load()
        .filter_by_id(team.id)
        .with(teams::Relation::FallbackTeam)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(loaded.fallback_team.as_ref().unwrap().id, fallback.id);

    let member = team_members::ActiveModel {
        team_id: Set(team.id),
        user_id: Set(user.id),
        created_at: Set(ts(9)),
    }
    .insert(db)
    .await
    .unwrap();
    let found = team_members::Entity::find_by_id((team.id, user.id))
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, member);
    // Many-to-many through the junction.
    let members = team.find_related(users::Entity).all(db).await.unwrap();
    assert_eq!(members.iter().map(|u| u.id).collect::<Vec<_>>(), [user.id]);

    let skill = skills::ActiveModel {
        name: Set("billing".to_owned()),
        created_at: Set(ts(10)),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    assert_eq!(
        skills::Entity::find_by_id(skill.id).one(db).await.unwrap(),
        Some(skill.clone())
    );

    let agent_skill = agent_skills::ActiveModel {
        user_id: Set(user.id),
        skill_id: Set(skill.id),
        level: Set(4),
    }
    .insert(db)
    .await
    .unwrap();
    assert_eq!(
        agent_skills::Entity::find_by_id((user.id, skill.id))
            .one(db)
            .await
            .unwrap(),
        Some(agent_skill)
    );

    let visitor = visitors::ActiveModel {
        page_url: Set(Some("https://shop.example/pricing?plan=pro".to_owned())),
        ..new_visitor()
    }
    .insert(db)
    .await
    .unwrap();
    let found = visitors::Entity::find_by_id(visitor.id)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, visitor);
    assert_eq!(found.attributes, json!({"page": "/pricing", "plan": "pro"}));
    assert_eq!(found.email, None);
    assert_eq!(found.last_seen_at, ts(2));
    assert_eq!(
        found.page_url.as_deref(),
        Some("https://shop.example/pricing?plan=pro")
    );

    // conversations: first with every default, then fully populated.
    let minimal = new_conversation(visitor.id, "bot")
        .insert(db)
        .await
        .unwrap();
    assert_eq!(minimal.priority, 0);
    assert_eq!(minimal.channel, "widget");
    assert!(!minimal.offline);
    assert_eq!(
        (
            minimal.version,
            minimal.last_seq,
            minimal.customer_last_read_seq,
            minimal.agent_last_read_seq,
        ),
        (0, 0, 0, 0)
    );
    assert_eq!((minimal.customer_unread, minimal.agent_unread), (0, 0));
    assert_eq!(minimal.team_id, None);
    assert_eq!(minimal.assignee_id, None);
    let conversation = conversations::ActiveModel {
        team_id: Set(Some(team.id)),
        assignee_id: Set(Some(user.id)),
        state: Set("assigned".to_owned()),
        priority: Set(5),
        issue_type: Set(Some("billing".to_owned())),
        language: Set(Some("en".to_owned())),
        channel: Set("whatsapp".to_owned()),
        attributes: Set(json!({"order": 1234, "vip": true, "tags": ["a", "b"], "ratio": 0.5})),
        offline: Set(true),
        version: Set(3),
        last_seq: Set(2),
        customer_last_read_seq: Set(2),
        agent_last_read_seq: Set(1),
        customer_unread: Set(0),
        agent_unread: Set(1),
        waiting_since: Set(Some(ts(11))),
        first_response_at: Set(Some(ts(12))),
        closed_at: Set(None),
        closed_reason: Set(None),
        ..new_conversation(visitor.id, "assigned")
    }
    .insert(db)
    .await
    .unwrap();
    let found = conversations::Entity::find_by_id(conversation.id)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, conversation);
    assert_eq!(found.waiting_since, Some(ts(11)));
    assert_eq!(found.attributes["tags"], json!(["a", "b"]));

    let conversation_skill = conversation_skills::ActiveModel {
        conversation_id: Set(conversation.id),
        skill_id: Set(skill.id),
        min_level: Set(2),
    }
    .insert(db)
    .await
    .unwrap();
    assert_eq!(
        conversation_skills::Entity::find_by_id((conversation.id, skill.id))
            .one(db)
            .await
            .unwrap(),
        Some(conversation_skill)
    );

    let message = messages::ActiveModel {
        sender_kind: Set("agent".to_owned()),
        sender_id: Set(Some(user.id)),
        sender_name: Set(Some("Ada".to_owned())),
        text: Set("Hello! How can I help? 👋".to_owned()),
        attachments: Set(json!([{"url": "https://cdn.example.com/a.png", "size": 2048}])),
        ..new_message(conversation.id, 1, Some("c-0001"))
    }
    .insert(db)
    .await
    .unwrap();
    let found = messages::Entity::find_by_id(message.id)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, message);
    assert_eq!(found.text, "Hello! How can I help? 👋");
    assert_eq!(found.attachments[0]["size"], json!(2048));

    let rating = csat_ratings::ActiveModel {
        agent_id: Set(Some(user.id)),
        comment: Set(Some("Quick and kind. 👍".to_owned())),
        ..new_rating(conversation.id, visitor.id, 5)
    }
    .insert(db)
    .await
    .unwrap();
    assert_eq!(
        csat_ratings::Entity::find_by_id(rating.id)
            .one(db)
            .await
            .unwrap(),
        Some(rating.clone())
    );

    let note = notes::ActiveModel {
        conversation_id: Set(conversation.id),
        author_id: Set(user.id),
        text: Set("Customer is on the legacy plan.".to_owned()),
        created_at: Set(ts(13)),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    assert_eq!(
        notes::Entity::find_by_id(note.id).one(db).await.unwrap(),
        Some(note)
    );

    let tag = tags::ActiveModel {
        name: Set("refund".to_owned()),
        color: Set(Some("#ff8800".to_owned())),
        created_at: Set(ts(14)),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    assert_eq!(
        tags::Entity::find_by_id(tag.id).one(db).await.unwrap(),
        Some(tag.clone())
    );

    let conversation_tag = conversation_tags::ActiveModel {
        conversation_id: Set(conversation.id),
        tag_id: Set(tag.id),
        created_at: Set(ts(15)),
    }
    .insert(db)
    .await
    .unwrap();
    assert_eq!(
        conversation_tags::Entity::find_by_id((conversation.id, tag.id))
            .one(db)
            .await
            .unwrap(),
        Some(conversation_tag)
    );
    let tagged = tag
        .find_related(conversations::Entity)
        .all(db)
        .await
        .unwrap();
    assert_eq!(
        tagged.iter().map(|c| c.id).collect::<Vec<_>>(),
        [conversation.id]
    );

    let shared_macro = macros::ActiveModel {
        owner_id: Set(None),
        title: Set("Greeting".to_owned()),
        content: Set("Hi, thanks for reaching out!".to_owned()),
        created_at: Set(ts(16)),
        updated_at: Set(ts(16)),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    let personal_macro = macros::ActiveModel {
        owner_id: Set(Some(user.id)),
        title: Set("Sign-off".to_owned()),
        content: Set("Have a great day!".to_owned()),
        created_at: Set(ts(16)),
        updated_at: Set(ts(16)),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    assert_eq!(
        macros::Entity::find_by_id(shared_macro.id)
            .one(db)
            .await
            .unwrap(),
        Some(shared_macro.clone())
    );
    assert_eq!(
        macros::Entity::find_by_id(personal_macro.id)
            .one(db)
            .await
            .unwrap(),
        Some(personal_macro)
    );

    let rule = routing_rules::ActiveModel {
        name: Set("Billing to Support".to_owned()),
        position: Set(10),
        conditions: Set(json!({"issue_type": {"eq": "billing"}})),
        team_id: Set(Some(team.id)),
        required_skills: Set(json!([{"skill_id": skill.id, "min_level": 2}])),
        created_at: Set(ts(17)),
        updated_at: Set(ts(17)),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    assert_eq!(rule.priority, 0);
    assert!(rule.active);
    assert_eq!(
        routing_rules::Entity::find_by_id(rule.id)
            .one(db)
            .await
            .unwrap(),
        Some(rule)
    );

    let widget = widget_settings::ActiveModel {
        id: Set(1),
        title: Set("Chat with us".to_owned()),
        welcome_message: Set("Hi! Ask us anything.".to_owned()),
        primary_color: Set("#0055ff".to_owned()),
        logo_url: Set(None),
        pre_chat_fields: Set(json!([{"name": "email", "required": true}])),
        offline_message: Set("We are offline; leave a message.".to_owned()),
        updated_at: Set(ts(18)),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    assert_eq!(widget.id, 1);
    assert_eq!(widget.position, "right");
    assert_eq!(
        widget_settings::Entity::find_by_id(1)
            .one(db)
            .await
            .unwrap(),
        Some(widget)
    );

    let hours = business_hours::ActiveModel {
        team_id: Set(team.id),
        timezone: Set("Europe/Paris".to_owned()),
        schedule: Set(json!({"mon": [["09:00", "18:00"]], "sat": []})),
        holidays: Set(json!(["2026-12-25"])),
        created_at: Set(ts(19)),
        updated_at: Set(ts(19)),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    assert_eq!(
        business_hours::Entity::find_by_id(hours.id)
            .one(db)
            .await
            .unwrap(),
        Some(hours.clone())
    );
    // team_id is UNIQUE: one schedule per team.
    assert_unique_violation(
        business_hours::ActiveModel {
            id: sea_orm::ActiveValue::NotSet,
            ..hours.into()
        }
        .insert(db)
        .await,
        "second business_hours row for one team",
    );

    let audit = audit_log::ActiveModel {
        actor_id: Set(Some(admin.id)),
        action: Set("user.create".to_owned()),
        target_type: Set("user".to_owned()),
        target_id: Set(Some(user.id)),
        details: Set(json!({"email": "ada@example.com", "role": "agent"})),
        ip: Set(Some("203.0.113.7".to_owned())),
        created_at: Set(ts(20)),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    assert_eq!(
        audit_log::Entity::find_by_id(audit.id)
            .one(db)
            .await
            .unwrap(),
        Some(audit.clone())
    );

    find_all_entities(db).await.unwrap();

    // Foreign keys are enforced ...
    let err = refresh_tokens::ActiveModel {
        user_id: Set(999_999),
        family_id: Set("f".to_owned()),
        token_hash: Set("dangling".to_owned()),
        created_at: Set(ts(21)),
        expires_at: Set(ts(22)),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect_err("refresh token of a missing user");
    assert!(
        matches!(
            err.sql_err(),
            Some(SqlErr::ForeignKeyConstraintViolation(_))
        ),
        "expected a foreign key violation, got {err:?}"
    );

    // ... and their ON DELETE actions apply.
    teams::Entity::delete_by_id(fallback.id)
        .exec(db)
        .await
        .unwrap();
    let team_now = teams::Entity::find_by_id(team.id)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(team_now.fallback_team_id, None, "SET NULL on fallback team");
    users::Entity::delete_by_id(user.id).exec(db).await.unwrap();
    let rating_now = csat_ratings::Entity::find_by_id(rating.id)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rating_now.agent_id, None, "SET NULL on the rated agent");
    assert!(
        refresh_tokens::Entity::find()
            .all(db)
            .await
            .unwrap()
            .is_empty(),
        "CASCADE on refresh_tokens"
    );
    assert!(
        team_members::Entity::find()
            .all(db)
            .await
            .unwrap()
            .is_empty(),
        "team_members must be empty"
    );
    assert!(
        agent_skills::Entity::find()
            .all(db)
            .await
            .unwrap()
            .is_empty(),
        "agent_skills must be empty"
    );
    assert!(
        notes::Entity::find().all(db).await.unwrap().is_empty(),
        "notes must be empty"
    );
    assert_eq!(
        macros::Entity::find()
            .all(db)
            .await
            .unwrap()
            .iter()
            .map(|m| m.id)
            .collect::<Vec<_>>(),
        [shared_macro.id],
        "personal macro deleted with its owner, shared one kept"
    );
    let conversation_now = conversations::Entity::find_by_id(conversation.id)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(conversation_now.assignee_id, None, "SET NULL on assignee");
    users::Entity::delete_by_id(admin.id)
        .exec(db)
        .await
        .unwrap();
    let audit_now = audit_log::Entity::find_by_id(audit.id)
        .one(db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(audit_now.actor_id, None, "SET NULL on audit actor");
    visitors::Entity::delete_by_id(visitor.id)
        .exec(db)
        .await
        .unwrap();
    assert!(
        conversations::Entity::find()
            .all(db)
            .await
            .unwrap()
            .is_empty(),
        "conversations must be empty"
    );
    assert!(
        messages::Entity::find().all(db).await.unwrap().is_empty(),
        "messages must be empty"
    );
    assert!(
        csat_ratings::Entity::find()
            .all(db)
            .await
            .unwrap()
            .is_empty(),
        "CASCADE on csat_ratings"
    );
    assert!(
        conversation_tags::Entity::find()
            .all(db)
            .await
            .unwrap()
            .is_empty(),
        "conversation_tags must be empty"
    );
    assert!(
        conversation_skills::Entity::find()
            .all(db)
            .await
            .unwrap()
            .is_empty(),
        "conversation_skills must be empty"
    );
}

/// (b) the unique constraints of messages and users.
async fn unique_constraints(db: DatabaseConnection) {
    let db = &db;
    Migrator::up(db, None).await.unwrap();
    let visitor = new_visitor().insert(db).await.unwrap();
    let conversation = new_conversation(visitor.id, "queued")
        .insert(db)
        .await
        .unwrap();
    let other = new_conversation(visitor.id, "queued")
        .insert(db)
        .await
        .unwrap();

    new_message(conversation.id, 1, Some("c-1"))
        .insert(db)
        .await
        .unwrap();
    assert_unique_violation(
        new_message(conversation.id, 1, Some("c-2"))
            .insert(db)
            .await,
        "duplicate (conversation_id, seq)",
    );
    assert_unique_violation(
        new_message(conversation.id, 2, Some("c-1"))
            .insert(db)
            .await,
        "duplicate (conversation_id, client_msg_id) of one sender",
    );
    // Another sender's key may be the same string: each side's clients
    // number their own sends.
    let from = |seq: i64, kind: &str, sender: Option<i64>, key: &str| {
        let mut m = new_message(conversation.id, seq, Some(key));
        m.sender_kind = Set(kind.to_owned());
        m.sender_id = Set(sender);
        m
    };
    from(10, "agent", Some(5), "c-1").insert(db).await.unwrap();
    from(11, "agent", Some(6), "c-1").insert(db).await.unwrap();
    from(12, "customer", Some(5), "c-1")
        .insert(db)
        .await
        .unwrap();
    assert_unique_violation(
        from(13, "agent", Some(5), "c-1").insert(db).await,
        "an agent's key twice",
    );
    // The bot has no sender id; its keys are unique all the same.
    from(14, "bot", None, "bot:0").insert(db).await.unwrap();
    assert_unique_violation(
        from(15, "bot", None, "bot:0").insert(db).await,
        "the bot's key twice",
    );
    from(16, "customer", Some(5), "bot:0")
        .insert(db)
        .await
        .unwrap();
    // NULL client_msg_id never collides.
    new_message(conversation.id, 2, None)
        .insert(db)
        .await
        .unwrap();
    new_message(conversation.id, 3, None)
        .insert(db)
        .await
        .unwrap();
    // Uniqueness is per conversation.
    new_message(other.id, 1, Some("c-1"))
        .insert(db)
        .await
        .unwrap();
    assert_eq!(
        conversation
            .find_related(messages::Entity)
            .all(db)
            .await
            .unwrap()
            .len(),
        8
    );

    new_rating(conversation.id, visitor.id, 4)
        .insert(db)
        .await
        .unwrap();
    assert_unique_violation(
        new_rating(conversation.id, visitor.id, 5).insert(db).await,
        "second rating of one conversation",
    );
    new_rating(other.id, visitor.id, 5)
        .insert(db)
        .await
        .unwrap();

    new_user("ada@example.com", "agent")
        .insert(db)
        .await
        .unwrap();
    assert_unique_violation(
        new_user("ada@example.com", "supervisor").insert(db).await,
        "duplicate user email",
    );
}

/// (c) CHECK constraints on enum-like and ranged columns.
async fn check_constraints(db: DatabaseConnection) {
    let db = &db;
    Migrator::up(db, None).await.unwrap();
    assert_check_violation(
        new_user("x@example.com", "superuser").insert(db).await,
        "ck_users_role",
    );
    assert_check_violation(
        users::ActiveModel {
            status: Set("busy".to_owned()),
            ..new_user("y@example.com", "agent")
        }
        .insert(db)
        .await,
        "ck_users_status",
    );
    let user = new_user("z@example.com", "supervisor")
        .insert(db)
        .await
        .unwrap();

    let visitor = new_visitor().insert(db).await.unwrap();
    assert_check_violation(
        new_conversation(visitor.id, "open").insert(db).await,
        "ck_conversations_state",
    );
    assert_check_violation(
        conversations::ActiveModel {
            channel: Set("email".to_owned()),
            ..new_conversation(visitor.id, "bot")
        }
        .insert(db)
        .await,
        "ck_conversations_channel",
    );
    let conversation = new_conversation(visitor.id, "closed")
        .insert(db)
        .await
        .unwrap();
    assert_check_violation(
        messages::ActiveModel {
            sender_kind: Set("robot".to_owned()),
            ..new_message(conversation.id, 1, None)
        }
        .insert(db)
        .await,
        "ck_messages_sender_kind",
    );

    let skill = skills::ActiveModel {
        name: Set("french".to_owned()),
        created_at: Set(ts(0)),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    for level in [0, 6] {
        assert_check_violation(
            agent_skills::ActiveModel {
                user_id: Set(user.id),
                skill_id: Set(skill.id),
                level: Set(level),
            }
            .insert(db)
            .await,
            "ck_agent_skills_level",
        );
        assert_check_violation(
            conversation_skills::ActiveModel {
                conversation_id: Set(conversation.id),
                skill_id: Set(skill.id),
                min_level: Set(level),
            }
            .insert(db)
            .await,
            "ck_conversation_skills_min_level",
        );
    }
    for score in [0, 6] {
        assert_check_violation(
            new_rating(conversation.id, visitor.id, score)
                .insert(db)
                .await,
            "ck_csat_ratings_score",
        );
    }
    for level in [1, 5] {
        let row = agent_skills::ActiveModel {
            user_id: Set(user.id),
            skill_id: Set(skill.id),
            level: Set(level),
        }
        .insert(db)
        .await
        .unwrap();
        row.delete(db).await.unwrap();
    }

    assert_check_violation(
        widget_settings::ActiveModel {
            title: Set("t".to_owned()),
            welcome_message: Set("w".to_owned()),
            primary_color: Set("#000".to_owned()),
            position: Set("center".to_owned()),
            pre_chat_fields: Set(json!([])),
            offline_message: Set("o".to_owned()),
            updated_at: Set(ts(0)),
            ..Default::default()
        }
        .insert(db)
        .await,
        "ck_widget_settings_position",
    );
}

/// (d) down all the way, then up again.
async fn down_then_up(db: DatabaseConnection) {
    let db = &db;
    Migrator::up(db, None).await.unwrap();
    assert_eq!(Migrator::get_pending_migrations(db).await.unwrap().len(), 0);
    new_user("ada@example.com", "agent")
        .insert(db)
        .await
        .unwrap();

    Migrator::down(db, None).await.unwrap();
    assert_schema_present(db, false).await;
    assert_eq!(Migrator::get_applied_migrations(db).await.unwrap().len(), 0);
    assert!(users::Entity::find().all(db).await.is_err());

    Migrator::up(db, None).await.unwrap();
    assert_schema_present(db, true).await;
    assert_eq!(
        Migrator::get_applied_migrations(db).await.unwrap().len(),
        Migrator::migrations().len()
    );
    find_all_entities(db).await.unwrap();
    assert!(
        users::Entity::find().all(db).await.unwrap().is_empty(),
        "users must be empty"
    );
    new_user("ada@example.com", "agent")
        .insert(db)
        .await
        .unwrap();

    // Step by step as well: each migration's down drops exactly its own tables.
    for _ in 0..Migrator::migrations().len() {
        Migrator::down(db, Some(1)).await.unwrap();
    }
    assert_schema_present(db, false).await;
    for _ in 0..Migrator::migrations().len() {
        Migrator::up(db, Some(1)).await.unwrap();
    }
    assert_schema_present(db, true).await;
    find_all_entities(db).await.unwrap();
}

/// (e) Step 41 rebuilds `messages` on SQLite: rows and ids survive, the id
/// counter is not set back (the last rows were deleted before it), and
/// inserting a message no longer builds a temporary B-tree for its check.
async fn messages_rebuild(db: DatabaseConnection) {
    let db = &db;
    let before_41 = Migrator::migrations()
        .iter()
        .position(|m| m.name() == "m20261207_000041_messages_sender_kind_check_without_in")
        .unwrap() as u32;
    Migrator::up(db, Some(before_41)).await.unwrap();
    let plan = |db: &DatabaseConnection| {
        let db = db.clone();
        async move {
            db.query_all_raw(Statement::from_string(
                DbBackend::Sqlite,
                "EXPLAIN INSERT INTO messages (conversation_id, seq, sender_kind, text, attachments, created_at) \
                 VALUES (1, 1, 'agent', 't', '[]', '2026-12-07T00:00:00Z')",
            ))
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get_by_index::<String>(1).unwrap())
            .collect::<Vec<_>>()
        }
    };
    assert!(
        plan(db).await.iter().any(|op| op == "OpenEphemeral"),
        "the IN list's B-tree, before"
    );
    let visitor = new_visitor().insert(db).await.unwrap();
    let conversation = new_conversation(visitor.id, "queued")
        .insert(db)
        .await
        .unwrap();
    let mut kept = Vec::new();
    for seq in 1..=3 {
        kept.push(
            new_message(conversation.id, seq, Some(&format!("c{seq}")))
                .insert(db)
                .await
                .unwrap(),
        );
    }
    let deleted = kept.pop().unwrap();
    deleted.clone().delete(db).await.unwrap();

    Migrator::up(db, None).await.unwrap();
    let rows = messages::Entity::find().all(db).await.unwrap();
    assert_eq!(rows, kept);
    assert!(
        !plan(db).await.iter().any(|op| op == "OpenEphemeral"),
        "no B-tree after"
    );
    let next = new_message(conversation.id, 3, Some("c3-again"))
        .insert(db)
        .await
        .unwrap();
    assert!(
        next.id > deleted.id,
        "id {} reused after {}",
        next.id,
        deleted.id
    );
    assert_check_violation(
        messages::ActiveModel {
            sender_kind: Set("robot".to_owned()),
            ..new_message(conversation.id, 4, None)
        }
        .insert(db)
        .await,
        "ck_messages_sender_kind",
    );
    // Its down (after the later steps') rebuilds the table with the list
    // again, rows kept.
    let from_41 = Migrator::migrations().len() as u32 - before_41;
    Migrator::down(db, Some(from_41)).await.unwrap();
    assert!(plan(db).await.iter().any(|op| op == "OpenEphemeral"));
    assert_eq!(messages::Entity::find().all(db).await.unwrap().len(), 3);
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[tokio::test]
async fn sqlite_messages_rebuild() {
    on_sqlite(messages_rebuild).await;
}

#[tokio::test]
async fn sqlite_round_trip() {
    on_sqlite(round_trip).await;
}

#[tokio::test]
async fn sqlite_unique_constraints() {
    on_sqlite(unique_constraints).await;
}

#[tokio::test]
async fn sqlite_check_constraints() {
    on_sqlite(check_constraints).await;
}

#[tokio::test]
async fn sqlite_down_then_up() {
    on_sqlite(down_then_up).await;
}

#[tokio::test]
async fn postgres_round_trip() {
    on_postgres(round_trip).await;
}

#[tokio::test]
async fn postgres_unique_constraints() {
    on_postgres(unique_constraints).await;
}

#[tokio::test]
async fn postgres_check_constraints() {
    on_postgres(check_constraints).await;
}

#[tokio::test]
async fn postgres_down_then_up() {
    on_postgres(down_then_up).await;
}

#[test]
fn database_url_rewrite() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1/test", "sbmig_x"),
        "postgres://postgres@127.0.0.1/sbmig_x"
    );
    assert_eq!(
        with_database("postgres://u:p@db:5432/test?sslmode=disable", "sbmig_x"),
        "postgres://u:p@db:5432/sbmig_x?sslmode=disable"
    );
    assert_eq!(
        with_database("postgres://u@db", "sbmig_x"),
        "postgres://u@db/sbmig_x"
    );
}

/// Migrations are append-only once landed (`landed.txt`): each landed file
/// keeps its bytes, and `Migrator` runs them first, in their order, so a
/// database migrated before a new one lands never meets one it skipped.
#[test]
fn landed_migrations_never_change_and_new_ones_come_last() {
    use sha2::{Digest, Sha256};
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = std::fs::read_to_string(root.join("landed.txt")).unwrap();
    let landed: Vec<(&str, &str)> = manifest
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split_once("  ").expect("`SHA256  name` lines"))
        .collect();
    assert!(!landed.is_empty());
    let run: Vec<String> = Migrator::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    let landed_names: Vec<&str> = landed.iter().map(|(_, n)| *n).collect();
    assert!(
        run.len() >= landed.len() && run[..landed.len()] == landed_names[..],
        "Migrator must run the landed migrations first, in their order, and add new ones after them: \
         landed {landed_names:?}, runs {run:?}"
    );
    for (sum, name) in landed {
        let bytes = std::fs::read(root.join("src").join(format!("{name}.rs"))).unwrap();
        let actual: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            actual, sum,
            "{name} changed after it landed: migrations are append-only, write a new one"
        );
    }
}
