//! All SQL lives here, grouped by aggregate. Functions take
//! `&impl ConnectionTrait` so callers can compose them inside a transaction;
//! handlers and actors never build queries themselves.

pub mod audit;
pub mod business_hours;
pub mod conversations;
pub mod csat;
pub mod inbox;
pub mod macros;
pub mod messages;
pub mod notes;
pub mod refresh_tokens;
pub mod routing_rules;
pub mod skills;
pub mod sla;
pub mod sqlite_checkpoint;
pub mod sqlite_writer;
pub mod tags;
pub mod teams;
pub mod triage;
pub mod users;
pub mod widget_settings;

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbErr, SqlErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

use crate::config::{DatabaseKind, Settings};

/// The connection pool every part of the app shares.
pub type Db = DatabaseConnection;

/// What went wrong in the store, classified so callers can answer precisely.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No row with that id.
    #[error("not found")]
    NotFound,
    /// A unique constraint refused the write (duplicate email, name, …).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A conditional write found the row changed by another writer (a
    /// conversation's `last_seq` or fencing token moved) and wrote nothing.
    #[error("stale: {0}")]
    Stale(String),
    /// A foreign key pointed at a row that does not exist.
    #[error("reference to a missing row: {0}")]
    MissingReference(String),
    /// A stored value does not parse (a bug or a hand-edited database).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// Anything else from the database driver.
    #[error("database error: {0}")]
    Db(DbErr),
}

impl From<DbErr> for StoreError {
    fn from(e: DbErr) -> Self {
        match e.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(m)) => StoreError::Conflict(m),
            Some(SqlErr::ForeignKeyConstraintViolation(m)) => StoreError::MissingReference(m),
            _ => match e {
                DbErr::RecordNotFound(_) | DbErr::RecordNotUpdated => StoreError::NotFound,
                other => StoreError::Db(other),
            },
        }
    }
}

/// How many pages SQLite's write-ahead log grows by before the commit that
/// crosses it checkpoints (copies the log into the database file and syncs
/// that file), on every connection that writes: the pool's and the
/// group-commit writer's.
///
/// SQLite's default is 1,000. A checkpoint copies each page once however
/// often it was rewritten, and a chat rewrites the same few pages (its
/// conversation rows, the leaves of its indexes) in every commit: at 4,000
/// messages/s the writer spent 30–60 ms of each second in checkpoints of
/// 1,000 pages and 3–7 ms in those of 16,000, and the messages that queued
/// behind them set the delivery p99 (docs/benchmarks.md §4k). The cost is a
/// log of up to 16,000 × 4 KiB = 64 MiB on disk, replayed after a crash.
/// The group-commit writer keeps the bound but copies most of the log on a
/// thread beside it (`store::sqlite_checkpoint`).
pub const SQLITE_WAL_AUTOCHECKPOINT_PAGES: u32 = 16_000;

/// A pooled connection idle at least this long is pinged before it is
/// handed out; a busier one is handed out as it is.
///
/// The pool's default pings on every acquire: a round trip before each
/// transaction and each read through the pool (to PostgreSQL, or to the
/// thread a SQLite connection runs on). On PostgreSQL a message group's
/// `BEGIN` took 1.0–1.4 ms with it and 0.5–0.6 ms without (docs/benchmarks.md
/// §4l). What the ping guards against, a connection the server or a proxy
/// dropped, happens to connections left idle; one that breaks while busy
/// fails its statement, is closed by the pool, and the caller sees the
/// error (the committer retries a failed group's requests one by one).
pub const POOL_PING_IF_IDLE_FOR: Duration = Duration::from_secs(30);

/// Opens the pool for the configured database. SQLite runs in WAL mode with
/// `synchronous=FULL` (an acknowledged write survives power loss), foreign
/// keys on, checkpoints every [`SQLITE_WAL_AUTOCHECKPOINT_PAGES`] and a busy
/// timeout so concurrent writers wait instead of failing. PostgreSQL
/// sessions start with `synchronous_commit=on` whatever the server, the
/// database, the role or the URL's `options` say: a commit returns once its
/// log is flushed, so an acknowledged message survives a crash there too
/// (a client's startup option outranks every default but a later `SET`,
/// which no code here issues).
pub async fn connect(settings: &Settings) -> Result<Db, StoreError> {
    let url = settings.database_url();
    let kind = settings
        .database_kind()
        .map_err(|e| StoreError::Db(DbErr::Custom(e.to_string())))?;
    if kind == DatabaseKind::Sqlite {
        std::fs::create_dir_all(&settings.server.data_dir).map_err(|e| {
            StoreError::Db(DbErr::Custom(format!(
                "cannot create data directory {}: {e}",
                settings.server.data_dir.display()
            )))
        })?;
    }
    let mut opts = ConnectOptions::new(url);
    opts.max_connections(settings.database.max_connections)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .test_before_acquire_if_idle_for(POOL_PING_IF_IDLE_FOR)
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .pragma(
                    "wal_autocheckpoint",
                    SQLITE_WAL_AUTOCHECKPOINT_PAGES.to_string(),
                )
                .busy_timeout(Duration::from_secs(10))
                .create_if_missing(true)
        })
        .map_sqlx_postgres_opts(|o| o.options([("synchronous_commit", "on")]));
    Ok(Database::connect(opts).await?)
}

/// Starts a transaction that will write. On SQLite it is `BEGIN IMMEDIATE`:
/// it takes the write lock up front, waiting (busy timeout) for another
/// writer, instead of reading first and failing at once with "database is
/// locked" when it later tries to write after another connection committed.
/// PostgreSQL ignores the mode.
pub async fn begin(db: &Db) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    })
    .await
}

/// Applies every pending migration.
pub async fn migrate(db: &Db) -> Result<(), StoreError> {
    Migrator::up(db, None).await?;
    Ok(())
}

/// Whether the database answers; `/readyz` uses it.
pub async fn ping(db: &Db) -> Result<(), StoreError> {
    db.ping().await?;
    Ok(())
}

/// Clamps a page size to `1..=max`, with `default` when absent.
pub fn page_size(requested: Option<u64>, default: u64, max: u64) -> u64 {
    requested.unwrap_or(default).clamp(1, max)
}
