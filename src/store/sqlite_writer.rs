//! The SQLite writer: group commits of new widget conversations, message
//! batches and automatic assignments on a thread of their own, over a connection of their own, in
//! plain synchronous calls.
//!
//! Why not through the pool like every other query: sqlx runs each SQLite
//! connection on a worker thread and hands every statement (and every row it
//! returns) to that thread and back. A group of N conversations' batches was
//! N + 3 such round trips plus one hand-over per returned row, and on the
//! one core a node is given each round trip is two context switches — the
//! largest single cost of a chat message (docs/benchmarks.md §4c). Here the
//! whole group is one hand-over each way: the committer sends the group, this
//! thread runs `BEGIN IMMEDIATE`, each assignment's conditional `UPDATE`, the
//! conditional `UPDATE` of each conversation with messages and the `INSERT`
//! of each message as cached prepared statements, `COMMIT`, and answers.
//! A draining backlog is thousands of assignments; through the pool each was
//! a round trip of its own (docs/benchmarks.md §4f).
//!
//! Assignments arrive as statements built by `store::conversations` (the
//! builder the pool's path uses, rendered for SQLite), so their SQL has one
//! source. The message SQL is the same as `store::messages::claim`/`insert`
//! (PostgreSQL and everything else keep using those); values are stored in
//! the formats the pool's driver reads back (timestamps as RFC 3339 text
//! with nanoseconds, JSON as text). Durability is the pool's: WAL with
//! `synchronous=FULL`, the log bounded as the pool's; its checkpoints are
//! mostly copied on a thread beside this one (`store::sqlite_checkpoint`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use entity::{conversations, messages, visitors};
use rusqlite::{Connection, TransactionBehavior, params};
use tokio::sync::oneshot;

use super::conversations::{Fence, NewConversation};
use super::messages::{NewMessage, Tally};
use super::sqlite_checkpoint::{self, Checkpointer, Policy, Step, Thread};
use crate::domain::ConversationId;

/// How long a write waits for another connection's write lock (the pool's
/// busy timeout too).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// A group commit slower than this is logged (a disk or lock stall).
const SLOW_COMMIT: Duration = Duration::from_millis(20);

/// One conversation's batch in a group.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The conversation written to.
    pub conversation: ConversationId,
    /// Its writer's fencing token.
    pub fence: Fence,
    /// Gap-free seqs following the stored `last_seq` (shared with the
    /// committer, which keeps it for a retry through the pool).
    pub messages: Arc<Vec<NewMessage>>,
}

/// What one batch of a committed group came to.
#[derive(Debug)]
pub enum BatchOutcome {
    /// Stored, in seq order.
    Stored(Vec<messages::Model>),
    /// The conversation's `last_seq` or fence moved (another writer):
    /// nothing of this batch was written.
    Stale,
}

/// One automatic assignment in a group: the conditional update of
/// `store::conversations::assign_statement` (`RETURNING *`).
#[derive(Debug, Clone)]
pub struct Assignment {
    /// The conversation assigned.
    pub conversation: ConversationId,
    /// The update; it returns the changed row, or nothing when refused.
    pub update: sea_orm::Statement,
}

/// What a group holds: new conversations, assignments and message
/// batches, committed together.
#[derive(Debug, Default)]
pub struct Group {
    /// Visitors and the conversations they start (without skills or a
    /// first message), inserted first, each assigned at once to the agent
    /// reserved for it if that agent still has room.
    pub creations: Vec<Arc<NewConversation>>,
    /// Automatic assignments.
    pub assignments: Vec<Assignment>,
    /// Message batches.
    pub batches: Vec<Batch>,
}

/// What a committed group came to, in the order of its [`Group`].
#[derive(Debug)]
pub struct GroupOutcome {
    /// Per creation: the rows as inserted.
    pub created: Vec<(visitors::Model, conversations::Model)>,
    /// Per assignment: the row as committed, or `None` when refused
    /// (nothing written).
    pub assigned: Vec<Option<conversations::Model>>,
    /// Per batch.
    pub batches: Vec<BatchOutcome>,
}

/// Why a group did not commit: nothing of it was written.
#[derive(Debug, thiserror::Error)]
pub enum WriterError {
    /// SQLite refused (constraint, I/O, lock timeout, …).
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A statement holds a value of a type this writer does not bind (the
    /// committer then writes the group through the pool).
    #[error("cannot bind a {0} value on the sqlite writer")]
    Unbindable(&'static str),
    /// A returned column does not parse as the pool's driver would read it.
    #[error("cannot read column {0} on the sqlite writer")]
    Unreadable(&'static str),
    /// The writer thread is gone.
    #[error("the sqlite writer thread stopped")]
    Gone,
    /// The writer's or the checkpoint thread could not be started.
    #[error("cannot start a sqlite thread: {0}")]
    Thread(std::io::Error),
}

struct Job {
    group: Group,
    reply: oneshot::Sender<Result<GroupOutcome, WriterError>>,
}

/// The way to hand groups to the writer thread. Cheap to clone; the thread
/// ends when the last handle is dropped.
#[derive(Clone)]
pub struct SqliteWriter {
    tx: mpsc::Sender<Job>,
}

impl SqliteWriter {
    /// Opens the database file at `path` (already created and migrated by
    /// the pool) and starts the writer thread.
    pub fn open(path: &Path) -> Result<Self, WriterError> {
        Self::open_with(
            path,
            Policy::new(
                sqlite_checkpoint::BACKGROUND_STEP,
                super::SQLITE_WAL_AUTOCHECKPOINT_PAGES,
            ),
        )
    }

    /// [`Self::open`] with the log's checkpoints decided by `policy`
    /// instead of the defaults.
    pub fn open_with(path: &Path, mut policy: Policy) -> Result<Self, WriterError> {
        let mut conn = connect(path)?;
        sqlite_checkpoint::watch_log(&conn);
        let checkpointer = Checkpointer::start(path)?;
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("sqlite-writer".to_owned())
            .spawn(move || {
                for job in rx {
                    let started = Instant::now();
                    let res = commit_group(&mut conn, &job.group);
                    let took = started.elapsed();
                    if took > SLOW_COMMIT {
                        tracing::warn!(
                            creations = job.group.creations.len(),
                            assignments = job.group.assignments.len(),
                            batches = job.group.batches.len(),
                            took_ms = took.as_secs_f64() * 1e3,
                            "slow sqlite group commit"
                        );
                    }
                    let _ = job.reply.send(res);
                    // After the answer: nobody waits on this group any more.
                    match policy.after_commit(sqlite_checkpoint::log_pages()) {
                        Step::Wait => {}
                        Step::Background => checkpointer.request(),
                        Step::Here => sqlite_checkpoint::checkpoint(&conn, Thread::Writer),
                    }
                }
            })
            .map_err(WriterError::Thread)?;
        Ok(SqliteWriter { tx })
    }

    /// The file behind a `sqlite:` URL, or `None` for an in-memory database
    /// (which exists once per connection, so it cannot have a second one).
    pub fn file_of(url: &str) -> Option<PathBuf> {
        use std::str::FromStr;
        if url.contains(":memory:") || url.contains("mode=memory") {
            return None;
        }
        let opts = sea_orm::sqlx::sqlite::SqliteConnectOptions::from_str(url).ok()?;
        Some(opts.get_filename().to_path_buf())
    }

    /// Commits `group` in one transaction; each assignment is made or
    /// refused, each batch stored or `Stale`. `Err` means nothing was
    /// written.
    pub async fn commit(&self, group: Group) -> Result<GroupOutcome, WriterError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job { group, reply })
            .map_err(|_| WriterError::Gone)?;
        rx.await.map_err(|_| WriterError::Gone)?
    }
}

/// A connection to the database file at `path`, as durable as the pool's.
pub(super) fn connect(path: &Path) -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(
        None,
        "wal_autocheckpoint",
        super::SQLITE_WAL_AUTOCHECKPOINT_PAGES,
    )?;
    Ok(conn)
}

/// The conditional update of `store::messages::claim`.
const CLAIM: &str = "UPDATE conversations SET last_seq = ?1, updated_at = ?2, \
     agent_unread = agent_unread + ?3, customer_unread = customer_unread + ?4, \
     first_response_at = CASE WHEN ?5 THEN COALESCE(first_response_at, ?2) ELSE first_response_at END \
     WHERE id = ?6 AND last_seq = ?7 AND (?8 IS NULL OR owner_token = ?8)";

/// The row insert of `store::messages::insert`.
const INSERT: &str = "INSERT INTO messages \
     (conversation_id, seq, client_msg_id, sender_kind, sender_id, sender_name, text, attachments, created_at) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, '[]', ?8)";

fn commit_group(conn: &mut Connection, group: &Group) -> Result<GroupOutcome, WriterError> {
    let txn = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let now = Utc::now();
    let mut created = Vec::with_capacity(group.creations.len());
    for new in group.creations.iter().map(Arc::as_ref) {
        let visitor = returning_one(
            &txn,
            &super::conversations::visitor_insert_statement(new, now),
            visitor_row,
        )?
        .ok_or(WriterError::Unreadable("inserted visitor"))?;
        let conversation = returning_one(
            &txn,
            &super::conversations::conversation_insert_statement(new, visitor.id, now),
            conversation_row,
        )?
        .ok_or(WriterError::Unreadable("inserted conversation"))?;
        // Assigned at once to the agent its queue reserved, if they still
        // have room; otherwise it waits as inserted.
        let conversation = match super::conversations::reserved_assign_statement(
            new,
            ConversationId(conversation.id),
        ) {
            Some(update) => returning_one(&txn, &update, conversation_row)?.unwrap_or(conversation),
            None => conversation,
        };
        created.push((visitor, conversation));
    }
    let mut assigned = Vec::with_capacity(group.assignments.len());
    for a in &group.assignments {
        assigned.push(returning_one(&txn, &a.update, conversation_row)?);
    }
    let batches = write_batches(&txn, &group.batches)?;
    txn.commit()?;
    Ok(GroupOutcome {
        created,
        assigned,
        batches,
    })
}

/// Runs `stmt` (a prepared, cached statement ending in `RETURNING *`) and
/// reads the row it returned, if any, with `read`.
fn returning_one<T>(
    txn: &rusqlite::Transaction<'_>,
    stmt: &sea_orm::Statement,
    read: impl FnOnce(&rusqlite::Row<'_>) -> Result<T, WriterError>,
) -> Result<Option<T>, WriterError> {
    let values = bind(stmt)?;
    let mut prepared = txn.prepare_cached(&stmt.sql)?;
    let mut rows = prepared.query(rusqlite::params_from_iter(values))?;
    match rows.next()? {
        Some(r) => Ok(Some(read(r)?)),
        None => Ok(None),
    }
}

/// The values of a statement built by sea-query, as SQLite stores what the
/// pool's driver writes (booleans as integers, timestamps as
/// [`timestamp`] text, JSON as text).
fn bind(stmt: &sea_orm::Statement) -> Result<Vec<rusqlite::types::Value>, WriterError> {
    use rusqlite::types::Value as Sql;
    use sea_orm::Value as V;
    let Some(values) = &stmt.values else {
        return Ok(Vec::new());
    };
    values
        .0
        .iter()
        .map(|v| {
            Ok(match v {
                V::Bool(b) => b.map_or(Sql::Null, |b| Sql::Integer(i64::from(b))),
                V::TinyInt(n) => n.map_or(Sql::Null, |n| Sql::Integer(n.into())),
                V::SmallInt(n) => n.map_or(Sql::Null, |n| Sql::Integer(n.into())),
                V::Int(n) => n.map_or(Sql::Null, |n| Sql::Integer(n.into())),
                V::BigInt(n) => n.map_or(Sql::Null, Sql::Integer),
                V::String(t) => t.clone().map_or(Sql::Null, Sql::Text),
                V::Json(j) => j.as_ref().map_or(Sql::Null, |j| Sql::Text(j.to_string())),
                V::ChronoDateTimeUtc(t) => t.map_or(Sql::Null, |t| Sql::Text(timestamp(t))),
                _ => return Err(WriterError::Unbindable("non-integer, non-text")),
            })
        })
        .collect()
}

/// A `visitors` row as the pool's driver reads it (the parity test in
/// `tests/api/store.rs` compares the two).
fn visitor_row(r: &rusqlite::Row<'_>) -> Result<visitors::Model, WriterError> {
    Ok(visitors::Model {
        id: r.get("id")?,
        name: r.get("name")?,
        email: r.get("email")?,
        user_agent: r.get("user_agent")?,
        page_url: r.get("page_url")?,
        attributes: json_at(r, "attributes")?,
        created_at: time_at(r, "created_at")?,
        last_seen_at: time_at(r, "last_seen_at")?,
    })
}

/// A `conversations` row as the pool's driver reads it (the parity test in
/// `tests/api/store.rs` compares the two field by field).
fn conversation_row(r: &rusqlite::Row<'_>) -> Result<conversations::Model, WriterError> {
    Ok(conversations::Model {
        id: r.get("id")?,
        visitor_id: r.get("visitor_id")?,
        team_id: r.get("team_id")?,
        assignee_id: r.get("assignee_id")?,
        state: r.get("state")?,
        priority: r.get("priority")?,
        issue_type: r.get("issue_type")?,
        language: r.get("language")?,
        channel: r.get("channel")?,
        attributes: json_at(r, "attributes")?,
        offline: r.get("offline")?,
        version: r.get("version")?,
        owner_token: r.get("owner_token")?,
        last_seq: r.get("last_seq")?,
        customer_last_read_seq: r.get("customer_last_read_seq")?,
        agent_last_read_seq: r.get("agent_last_read_seq")?,
        customer_unread: r.get("customer_unread")?,
        agent_unread: r.get("agent_unread")?,
        waiting_since: maybe_time_at(r, "waiting_since")?,
        first_response_at: maybe_time_at(r, "first_response_at")?,
        closed_at: maybe_time_at(r, "closed_at")?,
        closed_reason: r.get("closed_reason")?,
        created_at: time_at(r, "created_at")?,
        updated_at: time_at(r, "updated_at")?,
    })
}

/// A timestamp column, stored as text.
fn time_at(r: &rusqlite::Row<'_>, col: &'static str) -> Result<DateTime<Utc>, WriterError> {
    parse_time(&r.get::<_, String>(col)?).ok_or(WriterError::Unreadable(col))
}

/// A nullable timestamp column, stored as text.
fn maybe_time_at(
    r: &rusqlite::Row<'_>,
    col: &'static str,
) -> Result<Option<DateTime<Utc>>, WriterError> {
    r.get::<_, Option<String>>(col)?
        .map(|t| parse_time(&t).ok_or(WriterError::Unreadable(col)))
        .transpose()
}

/// A JSON column, stored as text.
fn json_at(r: &rusqlite::Row<'_>, col: &'static str) -> Result<serde_json::Value, WriterError> {
    serde_json::from_str(&r.get::<_, String>(col)?).map_err(|_| WriterError::Unreadable(col))
}

/// A stored timestamp: RFC 3339 as written here and by the pool's driver,
/// or SQLite's own `YYYY-MM-DD HH:MM:SS[.f]` (UTC).
fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
                .ok()
                .map(|t| t.and_utc())
        })
}

/// The message batches of a group, in its transaction.
fn write_batches(
    txn: &rusqlite::Transaction<'_>,
    batches: &[Batch],
) -> Result<Vec<BatchOutcome>, WriterError> {
    let now = Utc::now();
    let stamp = timestamp(now);
    let mut out = Vec::with_capacity(batches.len());
    {
        let mut claim = txn.prepare_cached(CLAIM)?;
        let mut insert = txn.prepare_cached(INSERT)?;
        for b in batches {
            let (Some(first), Some(last)) = (b.messages.first(), b.messages.last()) else {
                out.push(BatchOutcome::Stored(Vec::new()));
                continue;
            };
            let tally = Tally::of(&b.messages);
            let claimed = claim.execute(params![
                last.seq,
                stamp,
                tally.from_customer as i64,
                tally.from_staff as i64,
                tally.staff_replied,
                b.conversation.0,
                first.seq - 1,
                b.fence.0,
            ])?;
            if claimed != 1 {
                out.push(BatchOutcome::Stale);
                continue;
            }
            let mut rows = Vec::with_capacity(b.messages.len());
            for m in b.messages.iter() {
                insert.execute(params![
                    b.conversation.0,
                    m.seq,
                    m.client_msg_id,
                    m.sender.kind.as_str(),
                    m.sender.id,
                    m.sender.name,
                    m.text,
                    stamp,
                ])?;
                rows.push(messages::Model {
                    id: txn.last_insert_rowid(),
                    conversation_id: b.conversation.0,
                    seq: m.seq,
                    client_msg_id: m.client_msg_id.clone(),
                    sender_kind: m.sender.kind.as_str().to_owned(),
                    sender_id: m.sender.id,
                    sender_name: m.sender.name.clone(),
                    text: m.text.clone(),
                    attachments: serde_json::json!([]),
                    created_at: now,
                });
            }
            out.push(BatchOutcome::Stored(rows));
        }
    }
    Ok(out)
}

/// A timestamp as the pool's driver stores `DateTime<Utc>`, so that reads
/// through the pool parse it and text comparisons order it.
fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]
    use super::*;

    #[test]
    fn timestamps_match_the_pool_drivers_format() {
        let t = DateTime::parse_from_rfc3339("2026-12-01T13:59:03.859348751+00:00")
            .expect("valid")
            .with_timezone(&Utc);
        assert_eq!(timestamp(t), "2026-12-01T13:59:03.859348751+00:00");
    }

    #[test]
    fn the_writers_connection_is_as_durable_as_the_pools() {
        let dir = tempfile::tempdir().expect("temp dir");
        let conn = connect(&dir.path().join("w.db")).expect("open");
        let get = |pragma: &str| -> String {
            conn.pragma_query_value(None, pragma, |r| r.get::<_, rusqlite::types::Value>(0))
                .map(|v| format!("{v:?}"))
                .expect("pragma")
        };
        assert_eq!(get("journal_mode"), r#"Text("wal")"#);
        // 2 = FULL: every commit is on disk before it returns.
        assert_eq!(get("synchronous"), "Integer(2)");
        assert_eq!(get("foreign_keys"), "Integer(1)");
        assert_eq!(
            get("wal_autocheckpoint"),
            format!("Integer({})", crate::store::SQLITE_WAL_AUTOCHECKPOINT_PAGES)
        );
    }

    #[test]
    fn in_memory_databases_have_no_file() {
        assert_eq!(SqliteWriter::file_of("sqlite::memory:"), None);
        assert_eq!(
            SqliteWriter::file_of("sqlite://data/x.db?mode=rwc"),
            Some(PathBuf::from("data/x.db"))
        );
    }
}
