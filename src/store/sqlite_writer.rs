//! The SQLite message writer: group commits of message batches on a thread
//! of their own, over a connection of their own, in plain synchronous calls.
//!
//! Why not through the pool like every other query: sqlx runs each SQLite
//! connection on a worker thread and hands every statement (and every row it
//! returns) to that thread and back. A group of N conversations' batches was
//! N + 3 such round trips plus one hand-over per returned row, and on the
//! one core a node is given each round trip is two context switches — the
//! largest single cost of a chat message (docs/benchmarks.md §4c). Here the
//! whole group is one hand-over each way: the committer sends the group, this
//! thread runs `BEGIN IMMEDIATE`, the conditional `UPDATE` of each
//! conversation and the `INSERT` of each message as cached prepared
//! statements, `COMMIT`, and answers.
//!
//! The SQL is the same as `store::messages::claim`/`insert` (PostgreSQL and
//! everything else keep using those); values are stored in the formats the
//! pool's driver reads back (timestamps as RFC 3339 text with nanoseconds,
//! JSON as text). Durability is the pool's: WAL with `synchronous=FULL`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use entity::messages;
use rusqlite::{Connection, TransactionBehavior, params};
use tokio::sync::oneshot;

use super::conversations::Fence;
use super::messages::NewMessage;
use crate::domain::ConversationId;
use crate::domain::protocol::PartyKind;

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

/// Why a group did not commit: nothing of it was written.
#[derive(Debug, thiserror::Error)]
pub enum WriterError {
    /// SQLite refused (constraint, I/O, lock timeout, …).
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The writer thread is gone.
    #[error("the sqlite writer thread stopped")]
    Gone,
}

struct Job {
    batches: Vec<Batch>,
    reply: oneshot::Sender<Result<Vec<BatchOutcome>, WriterError>>,
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
        let mut conn = connect(path)?;
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("sqlite-writer".to_owned())
            .spawn(move || {
                for job in rx {
                    let started = Instant::now();
                    let res = commit_group(&mut conn, &job.batches);
                    let took = started.elapsed();
                    if took > SLOW_COMMIT {
                        tracing::warn!(
                            batches = job.batches.len(),
                            took_ms = took.as_secs_f64() * 1e3,
                            "slow sqlite group commit"
                        );
                    }
                    let _ = job.reply.send(res);
                }
            })
            .map_err(|_| WriterError::Gone)?;
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

    /// Commits `batches` in one transaction; each batch is stored or
    /// `Stale`. `Err` means nothing was written.
    pub async fn commit(&self, batches: Vec<Batch>) -> Result<Vec<BatchOutcome>, WriterError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job { batches, reply })
            .map_err(|_| WriterError::Gone)?;
        rx.await.map_err(|_| WriterError::Gone)?
    }
}

fn connect(path: &Path) -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
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

fn commit_group(
    conn: &mut Connection,
    batches: &[Batch],
) -> Result<Vec<BatchOutcome>, WriterError> {
    let now = Utc::now();
    let stamp = timestamp(now);
    let txn = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut out = Vec::with_capacity(batches.len());
    {
        let mut claim = txn.prepare_cached(CLAIM)?;
        let mut insert = txn.prepare_cached(INSERT)?;
        for b in batches {
            let (Some(first), Some(last)) = (b.messages.first(), b.messages.last()) else {
                out.push(BatchOutcome::Stored(Vec::new()));
                continue;
            };
            let from_customer = b
                .messages
                .iter()
                .filter(|m| m.sender.kind == PartyKind::Customer)
                .count();
            let from_staff = b.messages.len() - from_customer;
            let staff_replied = b.messages.iter().any(|m| m.sender.kind == PartyKind::Agent);
            let claimed = claim.execute(params![
                last.seq,
                stamp,
                from_customer as i64,
                from_staff as i64,
                staff_replied,
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
    txn.commit()?;
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
