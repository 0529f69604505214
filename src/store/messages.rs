//! Messages: the batch insert that makes them durable (and moves the
//! conversation's `last_seq` and unread counts in the same transaction), and
//! the history reads behind `resume` and REST pagination.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{conversations, messages};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Statement,
};

use super::StoreError;
use crate::domain::ConversationId;
use crate::domain::protocol::{MessageView, PartyKind, Sender};

/// A message with its seq already assigned by the Conversation actor.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// Its place in the conversation.
    pub seq: i64,
    /// The sender's idempotency key.
    pub client_msg_id: Option<String>,
    /// Who sent it.
    pub sender: Sender,
    /// The text as sent.
    pub text: String,
}

/// Commits `batch` (ascending, gap-free seqs following the stored
/// `last_seq`) in one transaction with the conversation's counters. Either
/// every message is durable when this returns `Ok`, or none is.
pub async fn commit_batch(
    db: &sea_orm::DatabaseConnection,
    conversation: ConversationId,
    fence: super::conversations::Fence,
    batch: &[NewMessage],
) -> Result<Vec<messages::Model>, StoreError> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    let txn = super::begin(db).await?;
    let stored = append(&txn, conversation, fence, batch).await?;
    txn.commit().await?;
    Ok(stored)
}

/// Inserts `batch` and moves the conversation's `last_seq`, unread counters
/// and first response, inside the caller's transaction. Refuses (without
/// writing) unless the stored `last_seq` is the one before the batch.
pub async fn append(
    db: &impl ConnectionTrait,
    conversation: ConversationId,
    fence: super::conversations::Fence,
    batch: &[NewMessage],
) -> Result<Vec<messages::Model>, StoreError> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    let now = Utc::now();
    claim(db, conversation, fence, batch, now).await?;
    insert(db, &[(conversation, batch)], now).await
}

/// What a batch moves besides `last_seq`: the unread counters of each side
/// and whether it holds the first response.
/// (The SQLite writer thread's claim counts with it too.)
pub(super) struct Tally {
    /// Messages the agent has not read yet.
    pub(super) from_customer: usize,
    /// Messages the customer has not read yet (agents' and bots').
    pub(super) from_staff: usize,
    /// An agent wrote in it.
    pub(super) staff_replied: bool,
}

impl Tally {
    /// The tally of `batch`.
    pub(super) fn of(batch: &[NewMessage]) -> Tally {
        let from_customer = batch
            .iter()
            .filter(|m| m.sender.kind == PartyKind::Customer)
            .count();
        Tally {
            from_customer,
            from_staff: batch.len() - from_customer,
            staff_replied: batch.iter().any(|m| m.sender.kind == PartyKind::Agent),
        }
    }
}

/// The first half of [`append`]: moves the conversation's `last_seq` over
/// `batch`, its unread counters and first response, conditional on the
/// stored `last_seq` being the one before the batch (and on the fence).
/// Refuses with `Stale`, writing nothing, otherwise.
pub async fn claim(
    db: &impl ConnectionTrait,
    conversation: ConversationId,
    fence: super::conversations::Fence,
    batch: &[NewMessage],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
        return Ok(());
    };
    let Tally {
        from_customer,
        from_staff,
        staff_replied,
    } = Tally::of(batch);
    let mut update = conversations::Entity::update_many()
        .col_expr(conversations::Column::LastSeq, Expr::value(last.seq))
        .col_expr(conversations::Column::UpdatedAt, Expr::value(now))
        .col_expr(
            conversations::Column::AgentUnread,
            Expr::col(conversations::Column::AgentUnread).add(count_i32(from_customer)),
        )
        .col_expr(
            conversations::Column::CustomerUnread,
            Expr::col(conversations::Column::CustomerUnread).add(count_i32(from_staff)),
        );
    if staff_replied {
        update = update.col_expr(
            conversations::Column::FirstResponseAt,
            Expr::col(conversations::Column::FirstResponseAt).if_null(now),
        );
    }
    // The conditional update goes first: it takes the row's write lock, and
    // if another writer moved last_seq (this actor is not the only writer:
    // a lost lease) nothing is written at all, rather than a gap or a fork.
    let res = fence
        .guard(update)
        .filter(conversations::Column::Id.eq(conversation.0))
        .filter(conversations::Column::LastSeq.eq(first.seq - 1))
        .exec(db)
        .await?;
    if res.rows_affected != 1 {
        return Err(StoreError::Stale(format!(
            "conversation {conversation}: last_seq is not {} or its writer lost the fence",
            first.seq - 1
        )));
    }
    Ok(())
}

/// One batch to [`append_many`]: its conversation, that writer's fence and
/// the messages.
pub type Claim<'a> = (
    ConversationId,
    super::conversations::Fence,
    &'a [NewMessage],
);

/// [`append`] for the batches of many conversations, inside the caller's
/// transaction or on its own: per batch, in order, its stored rows (in seq
/// order), or `None` when its conversation refused it as [`claim`] refuses
/// with `Stale` (nothing of it written; the others go on).
///
/// On PostgreSQL, when no conversation is named twice, this is one
/// statement that claims every batch and inserts the messages of those
/// claimed ([`appended_at_once`]), and its SQL is the same whatever the
/// group holds (the rows travel as two JSON parameters), so a connection
/// prepares it once. A group's claims and insert were two statements whose
/// text changed with the group's size (each prepared anew, a round trip of
/// its own, whenever that size was new to the connection), inside `BEGIN` …
/// `COMMIT`: four to six round trips, where a group of messages alone is now
/// one (docs/benchmarks.md §4l). Elsewhere (SQLite's
/// pool path, a conversation named twice, which one statement could not
/// tell apart) each batch is claimed on its own, in order, and the claimed
/// ones inserted together.
pub async fn append_many(
    db: &impl ConnectionTrait,
    batches: &[Claim<'_>],
    now: DateTime<Utc>,
) -> Result<Vec<Option<Vec<messages::Model>>>, StoreError> {
    if appended_at_once(db.get_database_backend(), batches) {
        return append_at_once(db, batches, now).await;
    }
    let mut claimed = Vec::with_capacity(batches.len());
    for (conversation, fence, batch) in batches {
        claimed.push(match claim(db, *conversation, *fence, batch, now).await {
            Ok(()) => true,
            Err(StoreError::Stale(_)) => false,
            Err(e) => return Err(e),
        });
    }
    let to_insert: Vec<(ConversationId, &[NewMessage])> = batches
        .iter()
        .zip(&claimed)
        .filter(|(_, ok)| **ok)
        .map(|((c, _, batch), _)| (*c, *batch))
        .collect();
    let mut rows = insert(db, &to_insert, now).await?.into_iter();
    Ok(batches
        .iter()
        .zip(claimed)
        .map(|((_, _, batch), ok)| ok.then(|| rows.by_ref().take(batch.len()).collect()))
        .collect())
}

/// Whether [`append_many`] writes `batches` in one statement on `backend`:
/// atomic by itself, so a group of nothing else needs no transaction (and
/// no `BEGIN` and `COMMIT` round trips) around it.
pub fn appended_at_once(backend: DbBackend, batches: &[Claim<'_>]) -> bool {
    let mut seen = std::collections::HashSet::with_capacity(batches.len());
    backend == DbBackend::Postgres
        && !batches.is_empty()
        && batches.iter().all(|(c, _, _)| seen.insert(*c))
}

/// The statement of [`append_many`] on PostgreSQL. `$1` is the time, `$2`
/// the claims (the conditions are [`claim`]'s: the stored `last_seq` is the
/// one before the batch, and the fence, if any, is still the row's owner),
/// `$3` the messages with their place in the group (`ord`), inserted in that
/// order so that ids follow seqs.
const APPEND_MANY_PG: &str = r#"WITH v AS (
  SELECT * FROM jsonb_to_recordset($2::jsonb) AS v("id" int8, "prev_seq" int8, "last_seq" int8,
    "from_customer" int4, "from_staff" int4, "staff_replied" bool, "fence" int8)
), claimed AS (
  UPDATE conversations AS c SET last_seq = v.last_seq, updated_at = $1,
    agent_unread = c.agent_unread + v.from_customer,
    customer_unread = c.customer_unread + v.from_staff,
    first_response_at = CASE WHEN v.staff_replied
      THEN COALESCE(c.first_response_at, $1) ELSE c.first_response_at END
  FROM v
  WHERE c.id = v.id AND c.last_seq = v.prev_seq AND (v.fence IS NULL OR c.owner_token = v.fence)
  RETURNING c.id
)
INSERT INTO messages (conversation_id, seq, client_msg_id, sender_kind, sender_id, sender_name,
  "text", attachments, created_at)
SELECT m.conversation_id, m.seq, m.client_msg_id, m.sender_kind, m.sender_id, m.sender_name,
  m."text", '[]'::jsonb, $1
FROM jsonb_to_recordset($3::jsonb) AS m("ord" int8, "conversation_id" int8, "seq" int8,
  "client_msg_id" text, "sender_kind" text, "sender_id" int8, "sender_name" text, "text" text)
WHERE m.conversation_id IN (SELECT id FROM claimed)
ORDER BY m.ord
RETURNING *"#;

/// One claim of [`APPEND_MANY_PG`]'s `$2`.
#[derive(serde::Serialize)]
struct ClaimRow {
    id: i64,
    prev_seq: i64,
    last_seq: i64,
    from_customer: i32,
    from_staff: i32,
    staff_replied: bool,
    fence: Option<i64>,
}

/// One message of [`APPEND_MANY_PG`]'s `$3`.
#[derive(serde::Serialize)]
struct MessageRow<'a> {
    ord: usize,
    conversation_id: i64,
    seq: i64,
    client_msg_id: Option<&'a str>,
    sender_kind: &'a str,
    sender_id: Option<i64>,
    sender_name: Option<&'a str>,
    text: &'a str,
}

/// [`append_many`] as one statement, on PostgreSQL only and for batches of
/// distinct conversations ([`appended_at_once`], which the caller has
/// checked): atomic and, outside a transaction, durable when it returns.
pub async fn append_at_once(
    db: &impl ConnectionTrait,
    batches: &[Claim<'_>],
    now: DateTime<Utc>,
) -> Result<Vec<Option<Vec<messages::Model>>>, StoreError> {
    let mut claims = Vec::with_capacity(batches.len());
    let mut rows = Vec::new();
    for (conversation, fence, batch) in batches {
        let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
            continue;
        };
        let Tally {
            from_customer,
            from_staff,
            staff_replied,
        } = Tally::of(batch);
        claims.push(ClaimRow {
            id: conversation.0,
            prev_seq: first.seq - 1,
            last_seq: last.seq,
            from_customer: count_i32(from_customer),
            from_staff: count_i32(from_staff),
            staff_replied,
            fence: fence.0,
        });
        for m in batch.iter() {
            rows.push(MessageRow {
                ord: rows.len(),
                conversation_id: conversation.0,
                seq: m.seq,
                client_msg_id: m.client_msg_id.as_deref(),
                sender_kind: m.sender.kind.as_str(),
                sender_id: m.sender.id,
                sender_name: m.sender.name.as_deref(),
                text: &m.text,
            });
        }
    }
    let stored = if claims.is_empty() {
        Vec::new()
    } else {
        messages::Entity::find()
            .from_raw_sql(Statement::from_sql_and_values(
                DbBackend::Postgres,
                APPEND_MANY_PG,
                [now.into(), json_text(&claims)?, json_text(&rows)?],
            ))
            .all(db)
            .await?
    };
    let mut stored = by_key(stored);
    batches
        .iter()
        .map(|(conversation, _, batch)| match batch.first() {
            // Every message of a claimed batch was inserted: its first one
            // tells whether it was claimed.
            Some(first) if !stored.contains_key(&(conversation.0, first.seq)) => Ok(None),
            _ => take_batch(&mut stored, *conversation, batch).map(Some),
        })
        .collect()
}

/// `rows` as JSON text for a `$n::jsonb` parameter: serialised straight to
/// text, not through a `serde_json::Value` tree per message.
fn json_text<T: serde::Serialize>(rows: &T) -> Result<sea_orm::Value, StoreError> {
    serde_json::to_string(rows)
        .map(Into::into)
        .map_err(|e| StoreError::Db(sea_orm::DbErr::Custom(e.to_string())))
}

/// Rows returned by an `INSERT … RETURNING`, by (conversation, seq):
/// RETURNING does not promise an order, and that pair is unique.
fn by_key(rows: Vec<messages::Model>) -> HashMap<(i64, i64), messages::Model> {
    rows.into_iter()
        .map(|m| ((m.conversation_id, m.seq), m))
        .collect()
}

/// The stored rows of `batch`, in its order, taken out of `stored`.
fn take_batch(
    stored: &mut HashMap<(i64, i64), messages::Model>,
    conversation: ConversationId,
    batch: &[NewMessage],
) -> Result<Vec<messages::Model>, StoreError> {
    batch
        .iter()
        .map(|m| {
            stored.remove(&(conversation.0, m.seq)).ok_or_else(|| {
                StoreError::Db(sea_orm::DbErr::Custom(format!(
                    "message {conversation}/{} was not returned by its insert",
                    m.seq
                )))
            })
        })
        .collect()
}

/// Most rows in one `INSERT`: well under the bound-parameter limits of
/// SQLite (32,766) and PostgreSQL (65,535) at 9 columns a row.
const INSERT_CHUNK: usize = 1000;

/// The second half of [`append`]: inserts the messages of batches already
/// claimed, all of them in multi-row `INSERT … RETURNING` statements (one
/// statement per group instead of one per message). The stored rows come
/// back in the order of `batches`, each batch's in seq order.
pub async fn insert(
    db: &impl ConnectionTrait,
    batches: &[(ConversationId, &[NewMessage])],
    now: DateTime<Utc>,
) -> Result<Vec<messages::Model>, StoreError> {
    let rows: Vec<messages::ActiveModel> = batches
        .iter()
        .flat_map(|(conversation, batch)| {
            batch.iter().map(move |m| messages::ActiveModel {
                conversation_id: Set(conversation.0),
                seq: Set(m.seq),
                client_msg_id: Set(m.client_msg_id.clone()),
                sender_kind: Set(m.sender.kind.as_str().to_owned()),
                sender_id: Set(m.sender.id),
                sender_name: Set(m.sender.name.clone()),
                text: Set(m.text.clone()),
                attachments: Set(serde_json::json!([])),
                created_at: Set(now),
                ..Default::default()
            })
        })
        .collect();
    let wanted = rows.len();
    let mut stored = HashMap::with_capacity(wanted);
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<messages::ActiveModel> = rows.by_ref().take(INSERT_CHUNK).collect();
        stored.extend(by_key(
            messages::Entity::insert_many(chunk)
                .exec_with_returning(db)
                .await?,
        ));
    }
    let mut out = Vec::with_capacity(wanted);
    for (conversation, batch) in batches {
        out.extend(take_batch(&mut stored, *conversation, batch)?);
    }
    Ok(out)
}

fn count_i32(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// The client view of a stored message.
pub fn view(m: &messages::Model) -> MessageView {
    MessageView {
        id: m.id,
        conversation_id: m.conversation_id,
        seq: m.seq,
        client_msg_id: m.client_msg_id.clone(),
        sender: Sender {
            kind: PartyKind::parse(&m.sender_kind).unwrap_or(PartyKind::System),
            id: m.sender_id,
            name: m.sender_name.clone(),
        },
        text: m.text.clone(),
        attachments: m.attachments.as_array().cloned().unwrap_or_default(),
        created_at: m.created_at,
    }
}

/// Messages with `seq > after_seq`, ascending, at most `limit`.
pub async fn after(
    db: &impl ConnectionTrait,
    conversation: ConversationId,
    after_seq: i64,
    limit: u64,
) -> Result<Vec<messages::Model>, StoreError> {
    Ok(messages::Entity::find()
        .filter(messages::Column::ConversationId.eq(conversation.0))
        .filter(messages::Column::Seq.gt(after_seq))
        .order_by_asc(messages::Column::Seq)
        .limit(limit)
        .all(db)
        .await?)
}

/// Messages with `seq < before_seq`, the newest `limit` of them, ascending.
pub async fn before(
    db: &impl ConnectionTrait,
    conversation: ConversationId,
    before_seq: i64,
    limit: u64,
) -> Result<Vec<messages::Model>, StoreError> {
    let mut rows = messages::Entity::find()
        .filter(messages::Column::ConversationId.eq(conversation.0))
        .filter(messages::Column::Seq.lt(before_seq))
        .order_by_desc(messages::Column::Seq)
        .limit(limit)
        .all(db)
        .await?;
    rows.reverse();
    Ok(rows)
}

/// The message one sender's `client_msg_id` produced, if any. The key is
/// the sender's own: another party's message with the same id is not it.
pub async fn by_client_id(
    db: &impl ConnectionTrait,
    conversation: ConversationId,
    sender_kind: PartyKind,
    sender_id: Option<i64>,
    client_msg_id: &str,
) -> Result<Option<messages::Model>, StoreError> {
    let sender = match sender_id {
        Some(id) => messages::Column::SenderId.eq(id),
        None => messages::Column::SenderId.is_null(),
    };
    Ok(messages::Entity::find()
        .filter(messages::Column::ConversationId.eq(conversation.0))
        .filter(messages::Column::ClientMsgId.eq(client_msg_id))
        .filter(messages::Column::SenderKind.eq(sender_kind.as_str()))
        .filter(sender)
        .one(db)
        .await?)
}

/// A committed message's idempotency key: who sent it and the
/// `client_msg_id` it gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentKey {
    /// The sender's side.
    pub sender_kind: PartyKind,
    /// Visitor or user id; `None` for the bot.
    pub sender_id: Option<i64>,
    /// The sender's key.
    pub client_msg_id: String,
}

/// Every idempotency key used in a conversation: the Conversation actor's
/// idempotence memory, loaded on activation.
pub async fn client_ids(
    db: &impl ConnectionTrait,
    conversation: ConversationId,
) -> Result<Vec<SentKey>, StoreError> {
    let rows: Vec<(String, Option<i64>, Option<String>)> = messages::Entity::find()
        .select_only()
        .column(messages::Column::SenderKind)
        .column(messages::Column::SenderId)
        .column(messages::Column::ClientMsgId)
        .filter(messages::Column::ConversationId.eq(conversation.0))
        .filter(messages::Column::ClientMsgId.is_not_null())
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(kind, sender_id, id)| {
            Some(SentKey {
                // The column's CHECK admits only the kinds parse knows.
                sender_kind: PartyKind::parse(&kind)?,
                sender_id,
                client_msg_id: id?,
            })
        })
        .collect())
}

/// Messages after `seq` sent by one of `kinds` (unread counting).
pub async fn count_after(
    db: &impl ConnectionTrait,
    conversation: ConversationId,
    seq: i64,
    kinds: &[&str],
) -> Result<u64, StoreError> {
    Ok(messages::Entity::find()
        .filter(messages::Column::ConversationId.eq(conversation.0))
        .filter(messages::Column::Seq.gt(seq))
        .filter(messages::Column::SenderKind.is_in(kinds.iter().copied()))
        .count(db)
        .await?)
}

/// When the customer last wrote (or the conversation began), for the idle timer.
pub async fn last_customer_activity(
    db: &impl ConnectionTrait,
    conversation: ConversationId,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    Ok(messages::Entity::find()
        .filter(messages::Column::ConversationId.eq(conversation.0))
        .filter(messages::Column::SenderKind.eq(PartyKind::Customer.as_str()))
        .order_by_desc(messages::Column::Seq)
        .one(db)
        .await?
        .map(|m| m.created_at))
}
