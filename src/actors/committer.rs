//! Group commit: one writer task commits the message batches and automatic
//! assignments of many conversations in one transaction.
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
//! Assignments are the same: a draining backlog is thousands of them, and
//! one transaction (one fsync, one turn of SQLite's write lock) each capped
//! the drain well below what the queue can plan. An assignment that is
//! refused (agent away or full, conversation no longer waiting) writes
//! nothing and is answered alone.
//!
//! On SQLite a group goes to [`crate::store::sqlite_writer`] — one
//! hand-over to a thread with its own connection instead of a hand-over per
//! statement through the pool. An assignment's view is built from the
//! visitor its actor hands over when the actor knows the view holds nothing
//! else; otherwise the visitors, tags and ratings are read through the
//! pool, while it commits. On PostgreSQL everything goes through the pool,
//! in one transaction.
//!
//! A batch whose conversation refuses it (its `last_seq` moved or its fence
//! changed: another writer) is answered `Stale` and the others proceed.
//! Any other failure retries each batch of the group in a transaction of
//! its own, so one bad batch cannot fail the rest.

use std::sync::Arc;

use entity::{conversations, messages, visitors};
use tokio::sync::{mpsc, oneshot};

use crate::domain::conversation::ConversationState;
use crate::domain::protocol::ConversationView;
use crate::domain::{ConversationId, UserId};
use crate::store::conversations::{ChangeError, Fence, NewConversation};
use crate::store::messages::NewMessage;
use crate::store::sqlite_writer::{Assignment, Batch, BatchOutcome, Group, SqliteWriter};
use crate::store::{self, Db, StoreError};

/// The states an automatic assignment takes a conversation from, and
/// whether its agent must be online: the queue only assigns waiting
/// conversations to agents who are there.
const AUTO_FROM: &[ConversationState] = &[ConversationState::Queued];
const AUTO_REQUIRES_ONLINE: bool = true;

/// Most requests in one transaction.
const MAX_GROUP: usize = 256;
/// Requests waiting for the writer before senders wait for room.
const QUEUE: usize = 4096;

/// One conversation's write and who waits for it.
enum Request {
    /// A new visitor and the waiting conversation it starts (no skills, no
    /// first message: those are written through the pool), assigned at once
    /// if its queue reserved an agent who still has room.
    Create {
        /// Shared with the SQLite writer thread, which reads it there.
        new: Arc<NewConversation>,
        reply: oneshot::Sender<Result<Created, StoreError>>,
    },
    /// A batch of new messages.
    Messages {
        conversation: ConversationId,
        fence: Fence,
        /// Shared with the SQLite writer thread, which reads it there.
        batch: Arc<Vec<NewMessage>>,
        reply: oneshot::Sender<Result<Vec<messages::Model>, StoreError>>,
    },
    /// An automatic assignment of a waiting conversation to an online agent.
    Assign {
        conversation: ConversationId,
        fence: Fence,
        agent: UserId,
        /// Its visitor, when its actor knows the view holds nothing else
        /// (no tags, no rating): the view is then built without a read.
        visitor: Option<Box<visitors::Model>>,
        reply: oneshot::Sender<Result<Assigned, ChangeError>>,
    },
}

/// A committed assignment: the row and the view its parties are sent.
pub type Assigned = (conversations::Model, ConversationView);

/// A committed creation: the visitor and the conversation as inserted.
pub type Created = (visitors::Model, conversations::Model);

/// What [`Request::write`] did: an answer, or an assignment whose view is
/// still to be read.
enum Written {
    Done(Outcome),
    Assigned(Box<conversations::Model>),
}

/// What one request came to.
enum Outcome {
    Create(Box<Result<Created, StoreError>>),
    Messages(Result<Vec<messages::Model>, StoreError>),
    Assign(Box<Result<Assigned, ChangeError>>),
}

impl Request {
    /// The lock order of a group on PostgreSQL: assignments lock their
    /// agent's row, so two nodes' groups take them in the same order (by
    /// agent) and cannot deadlock. A creation locks no existing row unless
    /// it is assigned at once to the agent reserved for it: then it is
    /// ordered with the assignments.
    fn order(&self) -> (u8, i64) {
        match self {
            Request::Create { new, .. } => match new.assign_to {
                Some(agent) => (1, agent.0),
                None => (0, 0),
            },
            Request::Assign { agent, .. } => (1, agent.0),
            Request::Messages { .. } => (2, 0),
        }
    }

    /// Runs this request in `txn`; `Err` only for a failure that spoils
    /// the transaction (a refusal is an `Ok` outcome: nothing was written).
    /// An assignment's view is read here too unless its actor handed its
    /// parts over (a group reads its views together instead, see
    /// [`try_group`]).
    async fn run(&self, txn: &sea_orm::DatabaseTransaction) -> Result<Outcome, StoreError> {
        match self.write(txn).await? {
            Written::Assigned(row) => match self.held(row) {
                Ok(out) => Ok(out),
                Err(row) => {
                    let view = store::conversations::view(txn, (*row).clone()).await?;
                    Ok(Outcome::Assign(Box::new(Ok((*row, view)))))
                }
            },
            Written::Done(out) => Ok(out),
        }
    }

    /// The answer to an assignment that committed `row`, its view built
    /// from the visitor its actor handed over; `Err(row)` when there is
    /// none and the view must be read. The tags and rating such a view
    /// lacks are known to be none.
    fn held(&self, row: Box<conversations::Model>) -> Result<Outcome, Box<conversations::Model>> {
        match self {
            Request::Assign {
                visitor: Some(v), ..
            } if v.id == row.visitor_id => {
                let res = store::conversations::new_view((*row).clone(), v)
                    .map(|view| (*row, view))
                    .map_err(ChangeError::Store);
                Ok(Outcome::Assign(Box::new(res)))
            }
            _ => Err(row),
        }
    }

    /// The writes of [`Self::run`], without an assignment's view.
    async fn write(&self, txn: &sea_orm::DatabaseTransaction) -> Result<Written, StoreError> {
        match self {
            Request::Create { new, .. } => {
                let created = store::conversations::create_with_visitor(txn, new).await?;
                Ok(Written::Done(Outcome::Create(Box::new(Ok(created)))))
            }
            Request::Messages {
                conversation,
                fence,
                batch,
                ..
            } => match store::messages::append(txn, *conversation, *fence, batch).await {
                Ok(rows) => Ok(Written::Done(Outcome::Messages(Ok(rows)))),
                // The conditional update wrote nothing, so the transaction
                // is intact and the other requests go on.
                Err(StoreError::Stale(m)) => {
                    Ok(Written::Done(Outcome::Messages(Err(StoreError::Stale(m)))))
                }
                Err(e) => Err(e),
            },
            Request::Assign {
                conversation,
                fence,
                agent,
                ..
            } => match store::conversations::assign(
                txn,
                *conversation,
                *fence,
                *agent,
                AUTO_FROM,
                AUTO_REQUIRES_ONLINE,
            )
            .await
            {
                Ok(row) => Ok(Written::Assigned(Box::new(row))),
                Err(ChangeError::Store(e)) => Err(e),
                Err(refused) => Ok(Written::Done(Outcome::Assign(Box::new(Err(refused))))),
            },
        }
    }

    /// Runs this request in a transaction of its own.
    async fn run_alone(&self, db: &Db) -> Outcome {
        let res = async {
            let txn = store::begin(db).await?;
            let out = self.run(&txn).await?;
            txn.commit().await?;
            Ok::<_, StoreError>(out)
        }
        .await;
        match res {
            Ok(out) => out,
            Err(e) => self.failed(e),
        }
    }

    /// The outcome of this request's kind for a failure.
    fn failed(&self, e: StoreError) -> Outcome {
        match self {
            Request::Create { .. } => Outcome::Create(Box::new(Err(e))),
            Request::Messages { .. } => Outcome::Messages(Err(e)),
            Request::Assign { .. } => Outcome::Assign(Box::new(Err(ChangeError::Store(e)))),
        }
    }

    fn answer(self, outcome: Outcome) {
        match (self, outcome) {
            (Request::Create { reply, .. }, Outcome::Create(res)) => {
                let _ = reply.send(*res);
            }
            (Request::Messages { reply, .. }, Outcome::Messages(res)) => {
                let _ = reply.send(res);
            }
            (Request::Assign { reply, .. }, Outcome::Assign(res)) => {
                let _ = reply.send(*res);
            }
            // `run` and `failed` answer each request with its own kind, so
            // this does not happen; if it did, the waiter hears "gone".
            (req, _) => {
                let out = req.failed(writer_gone());
                req.answer(out);
            }
        }
    }
}

/// The way to hand batches to the writer. Cheap to clone.
#[derive(Clone)]
pub struct Committer {
    tx: mpsc::Sender<Request>,
}

impl Committer {
    /// Starts the writer task on the current runtime. With `sqlite` (a file
    /// database), message batches are committed by that writer thread and
    /// only assignments go through `db`.
    pub fn start(db: Db, sqlite: Option<SqliteWriter>) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        actix_rt::spawn(writer(db, sqlite, rx));
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
        let batch = Arc::new(batch);
        self.ask(|reply| Request::Messages {
            conversation,
            fence,
            batch,
            reply,
        })
        .await
    }

    /// Assigns the waiting `conversation` to `agent` (conditional on its
    /// state, the agent being online and under capacity, and the fence),
    /// with whatever else is waiting; resolves with the row and its view
    /// once durable. With `visitor` (its actor knows the conversation has
    /// no tags and no rating), the view is built from it and the committed
    /// row instead of read: on one core those reads competed with the
    /// commit they ran beside (docs/benchmarks.md §4h).
    pub async fn assign(
        &self,
        conversation: ConversationId,
        fence: Fence,
        agent: UserId,
        visitor: Option<visitors::Model>,
    ) -> Result<Assigned, ChangeError> {
        self.ask(|reply| Request::Assign {
            conversation,
            fence,
            agent,
            visitor: visitor.map(Box::new),
            reply,
        })
        .await
    }

    /// Inserts the visitor and the conversation of `new` (which must need
    /// no skills and bring no first message) with whatever else is waiting,
    /// assigned to `new.assign_to` if that agent still has room; resolves
    /// with both rows once durable. On SQLite that is one
    /// hand-over to the writer thread instead of four statements through
    /// the pool, on the way from a customer's arrival to an agent
    /// (docs/benchmarks.md §4h).
    pub async fn create(&self, new: NewConversation) -> Result<Created, StoreError> {
        self.ask(|reply| Request::Create {
            new: Arc::new(new),
            reply,
        })
        .await
    }

    /// Hands the writer the request `make` builds around a reply channel,
    /// and waits for the answer.
    async fn ask<T, E: From<StoreError>>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, E>>) -> Request,
    ) -> Result<T, E> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(make(reply)).await.map_err(|_| writer_gone())?;
        rx.await.map_err(|_| writer_gone())?
    }
}

fn writer_gone() -> StoreError {
    StoreError::Db(sea_orm::DbErr::Custom(
        "the message writer stopped".to_owned(),
    ))
}

/// Takes what is waiting (up to `MAX_GROUP`), commits it as one, repeats.
async fn writer(db: Db, sqlite: Option<SqliteWriter>, mut rx: mpsc::Receiver<Request>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while rx.recv_many(&mut group, MAX_GROUP).await > 0 {
        let group = std::mem::take(&mut group);
        match &sqlite {
            Some(w) => commit_on_sqlite(&db, w, group).await,
            None => commit_group(&db, group).await,
        }
    }
}

/// Commits a group on the SQLite writer thread: its creations, assignments
/// and message batches in one transaction, one hand-over. Creations and
/// message batches are answered first (they wait on nothing else), then the
/// assignments, once their views are built or read. If the group fails,
/// each request is retried alone through the pool.
async fn commit_on_sqlite(db: &Db, writer: &SqliteWriter, group: Vec<Request>) {
    // One pass sorts the requests and builds what the writer is sent, in
    // the same order: `creates[i]` is `sent.creations[i]`, `assigns[i]` is
    // `sent.assignments[i]`, `messages[i]` is `sent.batches[i]`. Each
    // assignment keeps its agent beside it, for the reason of a refusal,
    // and each batch its conversation, for the answer to a stale one.
    let mut creates: Vec<Request> = Vec::new();
    let mut assigns: Vec<(Request, UserId)> = Vec::new();
    let mut messages: Vec<(Request, ConversationId)> = Vec::new();
    let mut sent = Group::default();
    for r in group {
        match &r {
            Request::Create { new, .. } => {
                sent.creations.push(Arc::clone(new));
                creates.push(r);
            }
            Request::Assign {
                conversation,
                fence,
                agent,
                ..
            } => {
                sent.assignments.push(Assignment {
                    conversation: *conversation,
                    update: store::conversations::assign_statement(
                        *conversation,
                        *fence,
                        *agent,
                        AUTO_FROM,
                        AUTO_REQUIRES_ONLINE,
                    ),
                });
                let agent = *agent;
                assigns.push((r, agent));
            }
            Request::Messages {
                conversation,
                fence,
                batch,
                ..
            } => {
                sent.batches.push(Batch {
                    conversation: *conversation,
                    fence: *fence,
                    messages: Arc::clone(batch),
                });
                let conversation = *conversation;
                messages.push((r, conversation));
            }
        }
    }
    // The visitors, tags and ratings of the assigned conversations whose
    // actors did not hand their visitor over (which an assignment does not
    // change, and which only their actors, waiting on this, would change)
    // are read while the writer commits.
    let ids: Vec<ConversationId> = assigns
        .iter()
        .filter_map(|(r, _)| match r {
            Request::Assign {
                conversation,
                visitor: None,
                ..
            } => Some(*conversation),
            _ => None,
        })
        .collect();
    let parts = async {
        if ids.is_empty() {
            None
        } else {
            Some(store::conversations::view_parts_at_once(db, &ids).await)
        }
    };
    let (written, parts) = futures_util::join!(writer.commit(sent), parts);
    match written {
        Ok(out)
            if out.created.len() == creates.len()
                && out.assigned.len() == assigns.len()
                && out.batches.len() == messages.len() =>
        {
            for (req, rows) in creates.into_iter().zip(out.created) {
                req.answer(Outcome::Create(Box::new(Ok(rows))));
            }
            for ((req, conversation), out) in messages.into_iter().zip(out.batches) {
                let res = match out {
                    BatchOutcome::Stored(rows) => Ok(rows),
                    BatchOutcome::Stale => Err(stale(conversation)),
                };
                req.answer(Outcome::Messages(res));
            }
            let results = assigns
                .into_iter()
                .zip(out.assigned)
                .map(|((req, agent), row)| (req, agent, row))
                .collect();
            answer_assignments(db, results, parts).await;
        }
        res => {
            let why = res.err().map(|e| e.to_string()).unwrap_or_default();
            let group: Vec<Request> = creates
                .into_iter()
                .chain(assigns.into_iter().map(|(r, _)| r))
                .chain(messages.into_iter().map(|(r, _)| r))
                .collect();
            tracing::warn!(requests = group.len(), error = %why, "sqlite group commit failed; committing one by one");
            one_by_one(db, group).await;
        }
    }
}

/// Answers the assignments of a group the SQLite writer committed: the
/// views of those made, from the parts read during the commit (or, if that
/// read failed, read now); for each refused one, why (read now; nothing was
/// written).
async fn answer_assignments(
    db: &Db,
    results: Vec<(Request, UserId, Option<conversations::Model>)>,
    parts: Option<Result<store::conversations::ViewParts, StoreError>>,
) {
    let mut reqs: Vec<Request> = Vec::new();
    let mut rows: Vec<conversations::Model> = Vec::new();
    let mut refused: Vec<(Request, UserId)> = Vec::new();
    for (req, agent, row) in results {
        match row {
            Some(row) => match req.held(Box::new(row)) {
                Ok(out) => req.answer(out),
                Err(row) => {
                    reqs.push(req);
                    rows.push(*row);
                }
            },
            None => refused.push((req, agent)),
        }
    }
    if !rows.is_empty() {
        let views = match parts
            .map(|p| p.and_then(|p| store::conversations::views_with(rows.iter().cloned(), p)))
        {
            Some(Ok(views)) => views.into_iter().map(Ok).collect(),
            _ => assigned_views(db, &rows).await,
        };
        for ((req, row), view) in reqs.into_iter().zip(rows).zip(views) {
            let res = view.map(|v| (row, v)).map_err(ChangeError::Store);
            req.answer(Outcome::Assign(Box::new(res)));
        }
    }
    for (req, agent) in refused {
        let why = store::conversations::why_not_assigned(db, agent, AUTO_REQUIRES_ONLINE).await;
        req.answer(Outcome::Assign(Box::new(Err(why))));
    }
}

/// After a failed group: each request in a transaction of its own, so one
/// bad request cannot fail the rest.
async fn one_by_one(db: &Db, group: Vec<Request>) {
    for req in group {
        let res = req.run_alone(db).await;
        req.answer(res);
    }
}

async fn commit_group(db: &Db, mut group: Vec<Request>) {
    group.sort_by_key(Request::order);
    let res = match messages_only(&group) {
        Some(claims) if store::messages::appended_at_once(db.get_database_backend(), &claims) => {
            append_on_its_own(db, &claims).await
        }
        _ => try_group(db, &group).await,
    };
    match res {
        Ok(results) => {
            for (req, res) in group.into_iter().zip(results) {
                req.answer(res);
            }
        }
        Err(e) => {
            tracing::warn!(requests = group.len(), error = %e, "group commit failed; committing one by one");
            one_by_one(db, group).await;
        }
    }
}

/// The claims of a group that holds message batches and nothing else.
fn messages_only(group: &[Request]) -> Option<Vec<store::messages::Claim<'_>>> {
    group
        .iter()
        .map(|r| match r {
            Request::Messages {
                conversation,
                fence,
                batch,
                ..
            } => Some((*conversation, *fence, batch.as_slice())),
            _ => None,
        })
        .collect()
}

/// A group of message batches that one statement writes: no transaction
/// around it (the statement is atomic, and durable when it returns), so no
/// `BEGIN` and `COMMIT` round trips.
async fn append_on_its_own(
    db: &Db,
    claims: &[store::messages::Claim<'_>],
) -> Result<Vec<Outcome>, StoreError> {
    let appended = store::messages::append_at_once(db, claims, chrono::Utc::now()).await?;
    Ok(claims
        .iter()
        .zip(appended)
        .map(|((conversation, _, _), rows)| {
            Outcome::Messages(rows.ok_or_else(|| stale(*conversation)))
        })
        .collect())
}

/// The answer to a batch its conversation refused: the conditional update
/// wrote nothing, so the transaction is intact and the other requests go on.
fn stale(conversation: ConversationId) -> StoreError {
    StoreError::Stale(format!(
        "conversation {conversation}: last_seq moved or its writer lost the fence"
    ))
}

/// One transaction for every request. A refusal (a stale batch, a refused
/// assignment: nothing was written) is that request's answer; any other
/// error fails the whole group (and the transaction is rolled back). The
/// batches are claimed and their messages inserted at the end, together
/// (`store::messages::append_many`).
async fn try_group(db: &Db, group: &[Request]) -> Result<Vec<Outcome>, StoreError> {
    let txn = store::begin(db).await?;
    let now = chrono::Utc::now();
    let mut results: Vec<Option<Outcome>> = group.iter().map(|_| None).collect();
    let mut to_claim: Vec<(usize, store::messages::Claim<'_>)> = Vec::new();
    let mut assigned: Vec<(usize, conversations::Model)> = Vec::new();
    // Creations and assignments in the group's lock order; the message
    // batches (last in that order) are claimed together after them.
    for (i, req) in group.iter().enumerate() {
        match req {
            Request::Messages {
                conversation,
                fence,
                batch,
                ..
            } => to_claim.push((i, (*conversation, *fence, batch.as_slice()))),
            Request::Create { .. } | Request::Assign { .. } => match req.write(&txn).await? {
                Written::Assigned(row) => match req.held(row) {
                    Ok(out) => results[i] = Some(out),
                    Err(row) => assigned.push((i, *row)),
                },
                Written::Done(out) => results[i] = Some(out),
            },
        }
    }
    let (slots, claims): (Vec<usize>, Vec<store::messages::Claim<'_>>) =
        to_claim.into_iter().unzip();
    let appended = store::messages::append_many(&txn, &claims, now).await?;
    for ((i, (conversation, _, _)), rows) in slots.into_iter().zip(claims).zip(appended) {
        results[i] = Some(Outcome::Messages(rows.ok_or_else(|| stale(conversation))));
    }
    txn.commit().await?;
    // The views of every assignment of the group whose actor could not
    // hand them over: after the commit (not
    // holding the write lock), in one read of each table they draw on, the
    // three at once.
    if !assigned.is_empty() {
        let (slots, rows): (Vec<usize>, Vec<conversations::Model>) = assigned.into_iter().unzip();
        let views = assigned_views(db, &rows).await;
        for ((i, row), view) in slots.into_iter().zip(rows).zip(views) {
            results[i] = Some(Outcome::Assign(Box::new(
                view.map(|v| (row, v)).map_err(ChangeError::Store),
            )));
        }
    }
    results
        .into_iter()
        .map(|r| r.ok_or_else(writer_gone))
        .collect()
}

/// The views of committed assignments. They are committed whatever this
/// read does, so a failed read (the pool exhausted, say) must not turn them
/// into refusals (the group would be retried and refused as taken, and the
/// conversations' actors would believe them still waiting): it gives views
/// from the rows alone (no visitor details, tags or rating in that one
/// frame; the next change sends them again) and says so in the log.
async fn assigned_views(
    db: &Db,
    rows: &[conversations::Model],
) -> Vec<Result<ConversationView, StoreError>> {
    match store::conversations::views_at_once(db, rows).await {
        Ok(views) => views.into_iter().map(Ok).collect(),
        Err(e) => {
            tracing::warn!(assignments = rows.len(), error = %e,
                "could not read the views of committed assignments; sending them from the rows alone");
            rows.iter()
                .cloned()
                .map(store::conversations::view_from_row)
                .collect()
        }
    }
}
