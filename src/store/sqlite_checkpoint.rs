//! Checkpoints of SQLite's write-ahead log for the group-commit writer,
//! mostly off its thread.
//!
//! A checkpoint copies the log's pages into the database file and syncs
//! that file. Left to SQLite, the writer's commit that crosses
//! [`super::SQLITE_WAL_AUTOCHECKPOINT_PAGES`] runs the whole checkpoint
//! inside its `COMMIT`, and every group behind it waits: at 20,000
//! messages/s that was one 15–150 ms stall a second, which set the
//! delivery p99 (docs/benchmarks.md §4o). Here the writer only counts: every
//! [`BACKGROUND_STEP`] pages it asks a thread of its own, on a connection of
//! its own, for a passive checkpoint, which copies while the writer goes on
//! committing. The log restarts from its beginning only when a write
//! transaction starts with every page of it copied, which under steady
//! writes never happens by itself; so at the bound the writer checkpoints
//! once more on its own thread, after answering its group, copying only
//! what arrived since the last background pass. The log stays as bounded
//! as before; what a group waits for is that remainder, not the whole.

use std::cell::Cell;
use std::os::raw::c_int;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::sqlite_writer::WriterError;

/// Log pages between two background checkpoints. Smaller copies the pages
/// every commit rewrites (conversation rows, index tails) more often; larger
/// leaves more for the writer's own pass at the bound.
pub const BACKGROUND_STEP: u32 = 4_000;

/// What the writer does after a commit left the log at some size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Nothing: the log grew less than a step since the last request.
    Wait,
    /// Ask the background thread for a checkpoint.
    Background,
    /// Checkpoint on the writer's own connection, so the next write
    /// transaction restarts the log.
    Here,
}

/// Decides, from the log's size after each of the writer's commits, when
/// to ask for a checkpoint and where. Pure bookkeeping, no I/O.
#[derive(Debug)]
pub struct Policy {
    step: u32,
    bound: u32,
    asked_at: u32,
}

impl Policy {
    /// A background checkpoint every `step` pages, the writer's own at
    /// `bound` pages.
    pub fn new(step: u32, bound: u32) -> Self {
        Policy {
            step: step.max(1),
            bound,
            asked_at: 0,
        }
    }

    /// The step for a log of `pages` after a commit.
    pub fn after_commit(&mut self, pages: u32) -> Step {
        if pages < self.asked_at {
            // The log restarted from its beginning.
            self.asked_at = 0;
        }
        if pages >= self.bound {
            self.asked_at = pages;
            Step::Here
        } else if pages >= self.asked_at + self.step {
            self.asked_at = pages;
            Step::Background
        } else {
            Step::Wait
        }
    }
}

thread_local! {
    /// The log's size in pages after the last commit on this thread's
    /// connection (the writer's: only its thread commits on it).
    static LOG_PAGES: Cell<u32> = const { Cell::new(0) };
}

/// Replaces SQLite's automatic checkpoint on `conn` with a note of the
/// log's size after each commit, read back with [`log_pages`]. Only for a
/// connection used on one thread.
pub fn watch_log(conn: &Connection) {
    conn.wal_hook(Some(note_log_pages));
}

fn note_log_pages(_: &rusqlite::hooks::Wal, pages: c_int) -> rusqlite::Result<()> {
    LOG_PAGES.with(|p| p.set(u32::try_from(pages).unwrap_or(0)));
    // An error here would fail a `COMMIT` that has already happened.
    Ok(())
}

/// The log's size after this thread's last commit (see [`watch_log`]).
pub fn log_pages() -> u32 {
    LOG_PAGES.with(Cell::get)
}

/// A passive checkpoint on `conn`: copies what it can without waiting for
/// anyone; a checkpoint already running elsewhere makes it a no-op. Errors
/// are logged: nothing waits on a checkpoint, and the next one catches up.
/// One on the writer's thread that takes longer than [`SLOW`] is logged
/// too: the groups behind it waited that long.
pub fn checkpoint(conn: &Connection, on: Thread) {
    let started = Instant::now();
    let res = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
        ))
    });
    let took = started.elapsed();
    let took_ms = took.as_secs_f64() * 1e3;
    match res {
        Ok((busy, log, copied)) if on == Thread::Writer && took > SLOW => {
            tracing::warn!(by = ?on, busy, log, copied, took_ms, "slow sqlite checkpoint")
        }
        Ok((busy, log, copied)) => {
            tracing::debug!(by = ?on, busy, log, copied, took_ms, "sqlite checkpoint")
        }
        Err(e) => tracing::warn!(by = ?on, error = %e, took_ms, "sqlite checkpoint failed"),
    }
}

/// The thread a checkpoint runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Thread {
    /// The group-commit writer's, between two groups.
    Writer,
    /// The checkpoint thread's, beside the writer.
    Background,
}

/// A checkpoint on the writer's thread slower than this is logged.
const SLOW: Duration = Duration::from_millis(20);

/// The background checkpoint thread. Dropping it ends the thread.
pub struct Checkpointer {
    tx: mpsc::SyncSender<()>,
    passes: Arc<AtomicU64>,
}

impl Checkpointer {
    /// Opens a connection of its own to the database at `path` and starts
    /// the thread.
    pub fn start(path: &Path) -> Result<Self, WriterError> {
        let conn = super::sqlite_writer::connect(path)?;
        // Its own (read-only) use never commits; it should not checkpoint
        // on a commit either.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        // One request waiting is enough: a checkpoint copies everything up
        // to the moment it starts.
        let (tx, rx) = mpsc::sync_channel::<()>(1);
        let passes = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&passes);
        std::thread::Builder::new()
            .name("sqlite-checkpoint".to_owned())
            .spawn(move || {
                for () in rx {
                    checkpoint(&conn, Thread::Background);
                    counted.fetch_add(1, Ordering::Release);
                }
            })
            .map_err(WriterError::Thread)?;
        Ok(Checkpointer { tx, passes })
    }

    /// How many checkpoints the thread has finished, failed ones included.
    pub fn passes(&self) -> u64 {
        self.passes.load(Ordering::Acquire)
    }

    /// Asks for a checkpoint; returns at once. A request already waiting
    /// covers this one.
    pub fn request(&self) {
        let _ = self.tx.try_send(());
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]
    use super::*;

    #[test]
    fn a_background_checkpoint_is_asked_for_once_per_step_of_growth() {
        let mut p = Policy::new(100, 1_000);
        let steps: Vec<Step> = [40, 99, 100, 150, 199, 200, 260]
            .into_iter()
            .map(|pages| p.after_commit(pages))
            .collect();
        use Step::*;
        assert_eq!(
            steps,
            [Wait, Wait, Background, Wait, Wait, Background, Wait]
        );
    }

    #[test]
    fn at_the_bound_the_writer_checkpoints_itself_until_the_log_restarts() {
        let mut p = Policy::new(100, 1_000);
        assert_eq!(p.after_commit(950), Step::Background);
        assert_eq!(p.after_commit(1_000), Step::Here);
        // The log did not restart (a reader held it): at the bound still.
        assert_eq!(p.after_commit(1_010), Step::Here);
        // Restarted: counting begins again from the start.
        assert_eq!(p.after_commit(30), Step::Wait);
        assert_eq!(p.after_commit(100), Step::Background);
    }

    #[test]
    fn the_hook_notes_the_log_size_of_each_commit_and_checkpoints_restart_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("c.db");
        let conn = super::super::sqlite_writer::connect(&path).expect("open");
        conn.pragma_update(None, "wal_autocheckpoint", 1_000)
            .expect("pragma");
        watch_log(&conn);
        conn.execute_batch("CREATE TABLE t (x BLOB)")
            .expect("create");
        let insert = |n: usize| {
            for _ in 0..n {
                conn.execute("INSERT INTO t VALUES (zeroblob(3000))", [])
                    .expect("insert");
            }
        };
        insert(20);
        let grown = log_pages();
        assert!(grown >= 20, "each commit adds a page at least: {grown}");
        // The hook replaced SQLite's own checkpoint: past the 1,000 pages
        // set above the log has not restarted.
        insert(1_100);
        assert!(log_pages() > 1_100, "log at {}", log_pages());

        // A checkpoint from another connection copies it all (nothing is
        // written while it runs: a commit meanwhile would leave a page it
        // did not copy); the next write restarts the log from its
        // beginning.
        let other = Checkpointer::start(&path).expect("checkpointer");
        other.request();
        let deadline = Instant::now() + Duration::from_secs(60);
        while other.passes() == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(other.passes(), 1, "the checkpoint did not finish");
        insert(1);
        assert!(log_pages() < 10, "log still at {} pages", log_pages());
    }
}
