//! Group commit: one writer task commits the message batches of many
//! conversations in one transaction.
//!
//! Each Conversation actor still decides its messages' `seq` and waits for
//! its batch to be durable before acking; what changes is that batches that
//! arrive while a transaction runs are committed together in the next one.
//! On SQLite that turns one fsync per conversation batch into one per
//! group, and stops concurrent writers from queueing on the write lock; on
//! PostgreSQL it saves round trips and commits. Durability is unchanged:
//! `synchronous=FULL` / `synchronous_commit=on`, and a batch's waiters hear
//! back only after the commit that holds it.
//!
//! A batch whose conversation refuses it (its `last_seq` moved or its fence
//! changed: another writer) is answered `Stale` and the others proceed.
//! Any other failure retries each batch of the group in a transaction of
//! its own, so one bad batch cannot fail the rest.

use entity::messages;
use tokio::sync::{mpsc, oneshot};

use crate::domain::ConversationId;
use crate::store::conversations::Fence;
use crate::store::messages::NewMessage;
use crate::store::{self, Db, StoreError};

/// Most batches in one transaction.
const MAX_GROUP: usize = 256;
/// Batches waiting for the writer before senders wait for room.
const QUEUE: usize = 4096;

/// One conversation's batch and who waits for it.
struct Request {
    conversation: ConversationId,
    fence: Fence,
    batch: Vec<NewMessage>,
    reply: oneshot::Sender<Result<Vec<messages::Model>, StoreError>>,
}

/// The way to hand batches to the writer. Cheap to clone.
#[derive(Clone)]
pub struct Committer {
    tx: mpsc::Sender<Request>,
}

impl Committer {
    /// Starts the writer task on the current runtime.
    pub fn start(db: Db) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        actix_rt::spawn(writer(db, rx));
        Committer { tx }
    }

    /// Commits `batch` (gap-free seqs after the stored `last_seq`) with
    /// whatever else is waiting; resolves once it is durable, or failed.
    pub async fn commit(
        &self,
        conversation: ConversationId,
        fence: Fence,
        batch: Vec<NewMessage>,
    ) -> Result<Vec<messages::Model>, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Request {
                conversation,
                fence,
                batch,
                reply,
            })
            .await
            .map_err(|_| writer_gone())?;
        rx.await.map_err(|_| writer_gone())?
    }
}

fn writer_gone() -> StoreError {
    StoreError::Db(sea_orm::DbErr::Custom(
        "the message writer stopped".to_owned(),
    ))
}

/// Takes what is waiting (up to `MAX_GROUP`), commits it as one, repeats.
async fn writer(db: Db, mut rx: mpsc::Receiver<Request>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while rx.recv_many(&mut group, MAX_GROUP).await > 0 {
        commit_group(&db, std::mem::take(&mut group)).await;
    }
}

async fn commit_group(db: &Db, group: Vec<Request>) {
    match try_group(db, &group).await {
        Ok(results) => {
            for (req, res) in group.into_iter().zip(results) {
                let _ = req.reply.send(res);
            }
        }
        Err(e) => {
            tracing::warn!(batches = group.len(), error = %e, "group commit failed; committing one by one");
            for req in group {
                let res =
                    store::messages::commit_batch(db, req.conversation, req.fence, &req.batch)
                        .await;
                let _ = req.reply.send(res);
            }
        }
    }
}

/// One transaction for every batch. A conversation that refuses its
/// batch (`Stale`: nothing was written) gets that answer; any other error
/// fails the whole group (and the transaction is rolled back).
async fn try_group(
    db: &Db,
    group: &[Request],
) -> Result<Vec<Result<Vec<messages::Model>, StoreError>>, StoreError> {
    let txn = store::begin(db).await?;
    let mut results = Vec::with_capacity(group.len());
    for req in group {
        match store::messages::append(&txn, req.conversation, req.fence, &req.batch).await {
            Ok(rows) => results.push(Ok(rows)),
            // The conditional update wrote nothing, so the transaction is
            // intact and the other batches go on.
            Err(StoreError::Stale(m)) => results.push(Err(StoreError::Stale(m))),
            Err(e) => return Err(e),
        }
    }
    txn.commit().await?;
    Ok(results)
}
