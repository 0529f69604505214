//! `conversations`: one support chat between a visitor and the team/agent handling it, with its routing state and read counters.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// One conversation.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "conversations")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The customer of this conversation (deleted with the visitor).
    #[sea_orm(indexed)]
    pub visitor_id: i64,
    /// Team the conversation is routed to, if any (NULL if the team is deleted).
    pub team_id: Option<i64>,
    /// Agent the conversation is assigned to, if any (NULL if the user is deleted).
    pub assignee_id: Option<i64>,
    /// Lifecycle state: `bot`, `queued`, `assigned` or `closed` (CHECK constraint).
    #[sea_orm(column_type = "Text")]
    pub state: String,
    /// Queue priority, higher first (default 0).
    #[sea_orm(default_value = 0)]
    pub priority: i32,
    /// Issue type chosen by the visitor or the bot, if any.
    #[sea_orm(column_type = "Text")]
    pub issue_type: Option<String>,
    /// Conversation language (e.g. `en`), if known.
    #[sea_orm(column_type = "Text")]
    pub language: Option<String>,
    /// Channel: `widget`, `whatsapp` or `api` (default `widget`, CHECK constraint).
    #[sea_orm(column_type = "Text", default_value = "widget")]
    pub channel: String,
    /// Free-form conversation attributes as a JSON object.
    #[sea_orm(column_type = "JsonBinary")]
    pub attributes: Json,
    /// Whether the conversation was started outside business hours / with no agent online (default false).
    #[sea_orm(default_value = false)]
    pub offline: bool,
    /// Optimistic-concurrency version, bumped by every conditional write (default 0).
    #[sea_orm(default_value = 0)]
    pub version: i64,
    /// Fencing token of the node hosting the conversation's actor: its
    /// writes are conditional on it, so a node that lost the conversation
    /// cannot write any more (0 on a single node).
    #[sea_orm(default_value = 0)]
    pub owner_token: i64,
    /// Highest message `seq` allocated in this conversation (default 0).
    #[sea_orm(default_value = 0)]
    pub last_seq: i64,
    /// Highest message `seq` the customer has read (default 0).
    #[sea_orm(default_value = 0)]
    pub customer_last_read_seq: i64,
    /// Highest message `seq` the agent side has read (default 0).
    #[sea_orm(default_value = 0)]
    pub agent_last_read_seq: i64,
    /// Messages unread by the customer (default 0).
    #[sea_orm(default_value = 0)]
    pub customer_unread: i32,
    /// Messages unread by the agent side (default 0).
    #[sea_orm(default_value = 0)]
    pub agent_unread: i32,
    /// Since when the conversation has been waiting in the queue, if queued.
    pub waiting_since: Option<DateTimeUtc>,
    /// Time of the first agent reply, if any.
    pub first_response_at: Option<DateTimeUtc>,
    /// Time the conversation was closed, if closed.
    pub closed_at: Option<DateTimeUtc>,
    /// Why the conversation was closed, if closed.
    #[sea_orm(column_type = "Text")]
    pub closed_reason: Option<String>,
    /// Creation time.
    pub created_at: DateTimeUtc,
    /// Last update time.
    pub updated_at: DateTimeUtc,
    /// The visitor.
    #[sea_orm(belongs_to, from = "visitor_id", to = "id", on_delete = "Cascade")]
    pub visitor: BelongsTo<super::visitors::Entity>,
    /// The team, if any.
    #[sea_orm(belongs_to, from = "team_id", to = "id", on_delete = "SetNull")]
    pub team: BelongsTo<Option<super::teams::Entity>>,
    /// The assigned agent, if any.
    #[sea_orm(belongs_to, from = "assignee_id", to = "id", on_delete = "SetNull")]
    pub assignee: BelongsTo<Option<super::users::Entity>>,
    /// Messages of this conversation.
    #[sea_orm(has_many)]
    pub messages: HasMany<super::messages::Entity>,
    /// Internal notes on this conversation.
    #[sea_orm(has_many)]
    pub notes: HasMany<super::notes::Entity>,
    /// Skill requirements of this conversation (junction rows).
    #[sea_orm(has_many)]
    pub conversation_skills: HasMany<super::conversation_skills::Entity>,
    /// Skills required by this conversation, through `conversation_skills`.
    #[sea_orm(has_many, via = "conversation_skills")]
    pub skills: HasMany<super::skills::Entity>,
    /// Tag assignments of this conversation (junction rows).
    #[sea_orm(has_many)]
    pub conversation_tags: HasMany<super::conversation_tags::Entity>,
    /// Tags of this conversation, through `conversation_tags`.
    #[sea_orm(has_many, via = "conversation_tags")]
    pub tags: HasMany<super::tags::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}
