//! Conversations and their visitors: creation, the read model clients see,
//! access-filtered listing, and the conditional writes behind every state
//! change (DESIGN.md invariant 4: the database is the final arbiter).

use std::collections::HashMap;

use chrono::Utc;
use entity::{conversation_skills, conversation_tags, conversations, tags, users, visitors};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};

use super::StoreError;
use crate::domain::access::{ConversationScope, StaffScope};
use crate::domain::conversation::ConversationState;
use crate::domain::inbox::{SearchText, TagName};
use crate::domain::protocol::{ConversationView, PartyKind, Unread, VisitorView};
use crate::domain::{ConversationId, Role, TeamId, UserId, VisitorId};

/// A visitor and the conversation it starts, from the widget's pre-chat form.
#[derive(Debug, Clone)]
pub struct NewConversation {
    /// Visitor name.
    pub name: Option<String>,
    /// Visitor e-mail.
    pub email: Option<String>,
    /// Browser user agent.
    pub user_agent: Option<String>,
    /// The page the visitor started from.
    pub page_url: Option<String>,
    /// Chosen issue type.
    pub issue_type: Option<String>,
    /// Preferred language.
    pub language: Option<String>,
    /// Custom pre-chat fields.
    pub attributes: serde_json::Value,
    /// The team whose queue it waits in.
    pub team: Option<TeamId>,
    /// Initial state (`queued`, or `bot` once triage exists).
    pub state: ConversationState,
    /// From the matching routing rule; higher is served first.
    pub priority: i32,
    /// Left as a message while nobody was available (picked up later).
    pub offline: bool,
    /// The agent its team's queue reserved for it: the conversation is
    /// assigned to them in the creating transaction if they are still
    /// online, active and under capacity, and otherwise stays queued. One
    /// commit from a customer's arrival to an agent instead of two
    /// (docs/benchmarks.md §4j).
    pub assign_to: Option<UserId>,
}

impl NewConversation {
    /// The agent to assign it to in its creating transaction: the one
    /// reserved for it, if it starts waiting (a bot conversation reaches
    /// the queue later).
    fn reserved_agent(&self) -> Option<UserId> {
        self.assign_to
            .filter(|_| self.state == ConversationState::Queued)
    }
}

/// The states a reserved assignment takes a new conversation from, and
/// whether the agent must be online (as for the queue's other
/// assignments).
const RESERVED_FROM: &[ConversationState] = &[ConversationState::Queued];
const RESERVED_REQUIRES_ONLINE: bool = true;

/// Creates the visitor and its conversation in one transaction, assigned
/// to `new.assign_to` if that agent still has room.
pub async fn create_with_visitor(
    db: &impl ConnectionTrait,
    new: &NewConversation,
) -> Result<(visitors::Model, conversations::Model), StoreError> {
    let now = Utc::now();
    let visitor = new_visitor(new, now).insert(db).await?;
    let conversation = new_conversation(new, visitor.id, now).insert(db).await?;
    let conversation = match new.reserved_agent() {
        Some(agent) => {
            let id = ConversationId(conversation.id);
            // `None`: the agent went away or filled up since the queue
            // chose them; the conversation waits, as without a reservation.
            let fence = Fence::default();
            assign_if_room(
                db,
                id,
                fence,
                agent,
                RESERVED_FROM,
                RESERVED_REQUIRES_ONLINE,
            )
            .await?
            .unwrap_or(conversation)
        }
        None => conversation,
    };
    Ok((visitor, conversation))
}

/// The conditional assignment of a new conversation (just inserted as
/// `conversation`) to the agent reserved for it, as the SQLite writer runs
/// it in the creating transaction: [`assign_statement`] with the
/// conditions of [`create_with_visitor`]. `None` when nothing was
/// reserved.
pub fn reserved_assign_statement(
    new: &NewConversation,
    conversation: ConversationId,
) -> Option<sea_orm::Statement> {
    let agent = new.reserved_agent()?;
    Some(assign_statement(
        conversation,
        Fence::default(),
        agent,
        RESERVED_FROM,
        RESERVED_REQUIRES_ONLINE,
    ))
}

/// The visitor row of [`create_with_visitor`], as the SQLite writer inserts
/// it (`RETURNING *`): one builder for both paths.
pub fn visitor_insert_statement(
    new: &NewConversation,
    now: chrono::DateTime<Utc>,
) -> sea_orm::Statement {
    returning_insert(visitors::Entity::insert(new_visitor(new, now)))
}

/// The conversation row of [`create_with_visitor`] for the visitor
/// `visitor_id`, as the SQLite writer inserts it (`RETURNING *`).
pub fn conversation_insert_statement(
    new: &NewConversation,
    visitor_id: i64,
    now: chrono::DateTime<Utc>,
) -> sea_orm::Statement {
    returning_insert(conversations::Entity::insert(new_conversation(
        new, visitor_id, now,
    )))
}

fn returning_insert<A: ActiveModelTrait>(insert: sea_orm::Insert<A>) -> sea_orm::Statement {
    use sea_orm::QueryTrait;
    let mut query = insert.into_query();
    query.returning_all();
    sea_orm::DbBackend::Sqlite.build(&query)
}

fn new_visitor(new: &NewConversation, now: chrono::DateTime<Utc>) -> visitors::ActiveModel {
    visitors::ActiveModel {
        name: Set(new.name.clone()),
        email: Set(new.email.clone()),
        user_agent: Set(new.user_agent.clone()),
        page_url: Set(new.page_url.clone()),
        attributes: Set(serde_json::json!({})),
        created_at: Set(now),
        last_seen_at: Set(now),
        ..Default::default()
    }
}

/// `waiting_since` is the creation time when it starts queued: that stamp
/// is what "queued" means in the assignment benchmarks.
fn new_conversation(
    new: &NewConversation,
    visitor_id: i64,
    now: chrono::DateTime<Utc>,
) -> conversations::ActiveModel {
    let queued = new.state == ConversationState::Queued;
    conversations::ActiveModel {
        visitor_id: Set(visitor_id),
        team_id: Set(new.team.map(|t| t.0)),
        assignee_id: Set(None),
        state: Set(new.state.as_str().to_owned()),
        priority: Set(new.priority),
        issue_type: Set(new.issue_type.clone()),
        language: Set(new.language.clone()),
        channel: Set("widget".to_owned()),
        attributes: Set(new.attributes.clone()),
        offline: Set(new.offline),
        version: Set(0),
        owner_token: Set(0),
        last_seq: Set(0),
        customer_last_read_seq: Set(0),
        agent_last_read_seq: Set(0),
        customer_unread: Set(0),
        agent_unread: Set(0),
        waiting_since: Set(queued.then_some(now)),
        first_response_at: Set(None),
        closed_at: Set(None),
        closed_reason: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        id: NotSet,
    }
}

/// Finds a conversation row.
pub async fn find(
    db: &impl ConnectionTrait,
    id: ConversationId,
) -> Result<Option<conversations::Model>, StoreError> {
    Ok(conversations::Entity::find_by_id(id.0).one(db).await?)
}

/// The stored state of a row, parsed.
pub fn state_of(row: &conversations::Model) -> Result<ConversationState, StoreError> {
    ConversationState::parse(&row.state)
        .ok_or_else(|| StoreError::Corrupt(format!("conversation state {:?}", row.state)))
}

/// The facts access checks need.
pub fn scope_of(row: &conversations::Model) -> Result<ConversationScope, StoreError> {
    Ok(ConversationScope {
        state: state_of(row)?,
        team: row.team_id.map(TeamId),
        assignee: row.assignee_id.map(UserId),
    })
}

/// Builds the client view of many rows with three extra queries.
pub async fn views(
    db: &impl ConnectionTrait,
    rows: Vec<conversations::Model>,
) -> Result<Vec<ConversationView>, StoreError> {
    let ids: Vec<i64> = rows.iter().map(|c| c.id).collect();
    let visitors = visitors_of(db, &rows).await?;
    let ratings = super::csat::for_conversations(db, &ids).await?;
    let tags = tags_of(db, &ids).await?;
    assemble_views(rows, visitors, ratings, tags)
}

/// [`views`] with its three queries run at once, each on a connection of
/// the pool (outside any transaction): one round trip of latency instead of
/// three. The group-commit writer reads a group's assignment views so, after
/// the commit.
pub async fn views_at_once(
    db: &super::Db,
    rows: &[conversations::Model],
) -> Result<Vec<ConversationView>, StoreError> {
    let ids: Vec<ConversationId> = rows.iter().map(|c| ConversationId(c.id)).collect();
    views_with(rows.iter().cloned(), view_parts_at_once(db, &ids).await?)
}

/// What a conversation's view draws on besides its row: its visitor, tags
/// and rating. None of them changes when the conversation is assigned.
pub struct ViewParts {
    visitors: HashMap<i64, visitors::Model>,
    ratings: HashMap<i64, entity::csat_ratings::Model>,
    tags: HashMap<i64, Vec<String>>,
}

/// The [`ViewParts`] of the conversations `ids`, read by id alone (the
/// visitors through a subquery), the three reads at once: the group commit
/// reads them while the SQLite writer commits its assignments, so the way
/// to the agent's socket does not wait for them after the commit.
pub async fn view_parts_at_once(
    db: &super::Db,
    ids: &[ConversationId],
) -> Result<ViewParts, StoreError> {
    let raw: Vec<i64> = ids.iter().map(|c| c.0).collect();
    let (visitors, ratings, tags) = futures_util::try_join!(
        visitors_of_conversations(db, &raw),
        super::csat::for_conversations(db, &raw),
        tags_of(db, &raw),
    )?;
    Ok(ViewParts {
        visitors,
        ratings,
        tags,
    })
}

/// The views of `rows` from parts read for them (rows without parts get a
/// view without visitor details, tags or rating).
pub fn views_with(
    rows: impl IntoIterator<Item = conversations::Model>,
    parts: ViewParts,
) -> Result<Vec<ConversationView>, StoreError> {
    assemble_views(rows, parts.visitors, parts.ratings, parts.tags)
}

/// The visitors of the conversations `ids`, by visitor id.
async fn visitors_of_conversations(
    db: &impl ConnectionTrait,
    ids: &[i64],
) -> Result<HashMap<i64, visitors::Model>, StoreError> {
    let theirs = Query::select()
        .column(conversations::Column::VisitorId)
        .from(conversations::Entity)
        .and_where(conversations::Column::Id.is_in(ids.iter().copied()))
        .to_owned();
    Ok(visitors::Entity::find()
        .filter(visitors::Column::Id.in_subquery(theirs))
        .all(db)
        .await?
        .into_iter()
        .map(|v| (v.id, v))
        .collect())
}

/// The visitors of `rows`, by id.
async fn visitors_of(
    db: &impl ConnectionTrait,
    rows: &[conversations::Model],
) -> Result<HashMap<i64, visitors::Model>, StoreError> {
    let visitor_ids: Vec<i64> = rows.iter().map(|c| c.visitor_id).collect();
    Ok(visitors::Entity::find()
        .filter(visitors::Column::Id.is_in(visitor_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|v| (v.id, v))
        .collect())
}

/// The tag names of each of the conversations `ids`.
async fn tags_of(
    db: &impl ConnectionTrait,
    ids: &[i64],
) -> Result<HashMap<i64, Vec<String>>, StoreError> {
    let mut tags_by_conv: HashMap<i64, Vec<String>> = HashMap::new();
    for (ct, tag) in conversation_tags::Entity::find()
        .filter(conversation_tags::Column::ConversationId.is_in(ids.iter().copied()))
        .find_also_related(tags::Entity)
        .all(db)
        .await?
    {
        if let Some(tag) = tag {
            tags_by_conv
                .entry(ct.conversation_id)
                .or_default()
                .push(tag.name);
        }
    }
    Ok(tags_by_conv)
}

fn assemble_views(
    rows: impl IntoIterator<Item = conversations::Model>,
    visitors: HashMap<i64, visitors::Model>,
    mut ratings: HashMap<i64, entity::csat_ratings::Model>,
    mut tags: HashMap<i64, Vec<String>>,
) -> Result<Vec<ConversationView>, StoreError> {
    rows.into_iter()
        .map(|c| {
            let v = visitors.get(&c.visitor_id);
            let mine = tags.remove(&c.id).unwrap_or_default();
            let csat = ratings.remove(&c.id);
            view_of(c, v, mine, csat.as_ref())
        })
        .collect()
}

/// The client view of a conversation just created with `visitor` (in the
/// creating transaction): it has no tags and no rating yet, so nothing
/// needs reading. Equal to what [`view`] reads back (a test pins it).
pub fn new_view(
    row: conversations::Model,
    visitor: &visitors::Model,
) -> Result<ConversationView, StoreError> {
    view_of(row, Some(visitor), Vec::new(), None)
}

/// The client view of a row alone, without the visitor's details, tags or
/// rating: for when those cannot be read.
pub fn view_from_row(row: conversations::Model) -> Result<ConversationView, StoreError> {
    view_of(row, None, Vec::new(), None)
}

/// The client view of a row, from its visitor, tags and rating.
fn view_of(
    c: conversations::Model,
    v: Option<&visitors::Model>,
    mut tags: Vec<String>,
    csat: Option<&entity::csat_ratings::Model>,
) -> Result<ConversationView, StoreError> {
    tags.sort();
    Ok(ConversationView {
        id: c.id,
        state: state_of(&c)?,
        team_id: c.team_id,
        assignee_id: c.assignee_id,
        visitor: VisitorView {
            id: c.visitor_id,
            name: v.and_then(|v| v.name.clone()),
            email: v.and_then(|v| v.email.clone()),
            user_agent: v.and_then(|v| v.user_agent.clone()),
            page_url: v.and_then(|v| v.page_url.clone()),
        },
        issue_type: c.issue_type,
        language: c.language,
        priority: c.priority,
        tags,
        attributes: c.attributes,
        unread: Unread {
            customer: c.customer_unread,
            agent: c.agent_unread,
        },
        last_seq: c.last_seq,
        closed_reason: c.closed_reason,
        offline: c.offline,
        csat: csat.map(super::csat::view),
        created_at: c.created_at,
        updated_at: c.updated_at,
    })
}

/// The client view of one row.
pub async fn view(
    db: &impl ConnectionTrait,
    row: conversations::Model,
) -> Result<ConversationView, StoreError> {
    views(db, vec![row])
        .await?
        .pop()
        .ok_or(StoreError::NotFound)
}

/// Which conversations to list.
pub struct ConversationFilter {
    /// Only this state.
    pub state: Option<ConversationState>,
    /// Only this team.
    pub team: Option<TeamId>,
    /// Only this assignee.
    pub assignee: Option<UserId>,
    /// Only those with this tag.
    pub tag: Option<TagName>,
    /// Only those with (`true`) or without (`false`) unread customer messages.
    pub unread: Option<bool>,
    /// Visitor name or e-mail contains it, or the id equals it.
    pub search: Option<SearchText>,
    /// Keyset cursor: ids below this (newest first).
    pub before_id: Option<i64>,
    /// Page size.
    pub limit: u64,
}

/// Lists what `staff` may see, newest first, with the same rule as
/// [`crate::domain::access::staff_may_access`], expressed in SQL.
pub async fn list_for(
    db: &impl ConnectionTrait,
    staff: &StaffScope,
    filter: &ConversationFilter,
) -> Result<Vec<conversations::Model>, StoreError> {
    Ok(list_query(staff, filter).all(db).await?)
}

/// The query behind [`list_for`] (public so tests can ask the database how
/// it plans it).
pub fn list_query(
    staff: &StaffScope,
    filter: &ConversationFilter,
) -> sea_orm::Select<conversations::Entity> {
    let mut q = conversations::Entity::find().order_by_desc(conversations::Column::Id);
    let teams: Vec<i64> = staff.teams.iter().map(|t| t.0).collect();
    let mine = conversations::Column::AssigneeId.eq(staff.user.0);
    q = match staff.role {
        Role::Admin => q,
        Role::Supervisor => q.filter(
            Condition::any()
                .add(mine)
                .add(conversations::Column::TeamId.is_in(teams)),
        ),
        Role::Agent => q.filter(
            Condition::any().add(mine).add(
                Condition::all()
                    .add(conversations::Column::State.eq(ConversationState::Queued.as_str()))
                    .add(conversations::Column::TeamId.is_in(teams)),
            ),
        ),
    };
    if let Some(s) = filter.state {
        q = q.filter(conversations::Column::State.eq(s.as_str()));
    }
    if let Some(t) = filter.team {
        q = q.filter(conversations::Column::TeamId.eq(t.0));
    }
    if let Some(a) = filter.assignee {
        q = q.filter(conversations::Column::AssigneeId.eq(a.0));
    }
    if let Some(tag) = &filter.tag {
        // Through the junction's tag index and the unique tag name.
        q = q.filter(
            conversations::Column::Id.in_subquery(
                Query::select()
                    .column(conversation_tags::Column::ConversationId)
                    .from(conversation_tags::Entity)
                    .inner_join(
                        tags::Entity,
                        Expr::col((tags::Entity, tags::Column::Id))
                            .equals((conversation_tags::Entity, conversation_tags::Column::TagId)),
                    )
                    .and_where(Expr::col((tags::Entity, tags::Column::Name)).eq(tag.as_str()))
                    .to_owned(),
            ),
        );
    }
    match filter.unread {
        Some(true) => q = q.filter(conversations::Column::AgentUnread.gt(0)),
        Some(false) => q = q.filter(conversations::Column::AgentUnread.eq(0)),
        None => {}
    }
    if let Some(search) = &filter.search {
        // A substring search cannot use an index; it scans the visitors,
        // which is fine for an interactive filter on one deployment.
        let like = || LikeExpr::new(search.like_pattern()).escape('\\');
        let lower = |c: visitors::Column| Expr::expr(Func::lower(Expr::col((visitors::Entity, c))));
        let mut any = Condition::any().add(
            conversations::Column::VisitorId.in_subquery(
                Query::select()
                    .column(visitors::Column::Id)
                    .from(visitors::Entity)
                    .cond_where(
                        Condition::any()
                            .add(lower(visitors::Column::Name).like(like()))
                            .add(lower(visitors::Column::Email).like(like())),
                    )
                    .to_owned(),
            ),
        );
        if let Ok(id) = search.as_str().trim_start_matches('#').parse::<i64>() {
            any = any.add(conversations::Column::Id.eq(id));
        }
        q = q.filter(any);
    }
    if let Some(b) = filter.before_id {
        q = q.filter(conversations::Column::Id.lt(b));
    }
    q.limit(filter.limit)
}

/// Ids of open conversations assigned to `agent` (a new socket subscribes to them).
pub async fn open_assigned_to(
    db: &impl ConnectionTrait,
    agent: UserId,
) -> Result<Vec<ConversationId>, StoreError> {
    let ids: Vec<i64> = conversations::Entity::find()
        .select_only()
        .column(conversations::Column::Id)
        .filter(conversations::Column::AssigneeId.eq(agent.0))
        .filter(conversations::Column::State.eq(ConversationState::Assigned.as_str()))
        .into_tuple()
        .all(db)
        .await?;
    Ok(ids.into_iter().map(ConversationId).collect())
}

/// How many open conversations `agent` holds.
pub async fn load_of(db: &impl ConnectionTrait, agent: UserId) -> Result<u64, StoreError> {
    Ok(conversations::Entity::find()
        .filter(conversations::Column::AssigneeId.eq(agent.0))
        .filter(conversations::Column::State.eq(ConversationState::Assigned.as_str()))
        .count(db)
        .await?)
}

/// Loads of many agents at once.
pub async fn loads_of(
    db: &impl ConnectionTrait,
    agents: &[UserId],
) -> Result<HashMap<UserId, i64>, StoreError> {
    let rows: Vec<(Option<i64>, i64)> = conversations::Entity::find()
        .select_only()
        .column(conversations::Column::AssigneeId)
        .column_as(conversations::Column::Id.count(), "n")
        .filter(conversations::Column::AssigneeId.is_in(agents.iter().map(|a| a.0)))
        .filter(conversations::Column::State.eq(ConversationState::Assigned.as_str()))
        .group_by(conversations::Column::AssigneeId)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(a, n)| a.map(|a| (UserId(a), n)))
        .collect())
}

/// The open conversations (state `assigned`) each of `agents` holds, by
/// id: a team queue merges them with its assignments still being written,
/// which a count could not (an assignment committed but not yet answered
/// would be counted twice).
pub async fn assigned_ids_of(
    db: &impl ConnectionTrait,
    agents: &[UserId],
) -> Result<HashMap<UserId, Vec<ConversationId>>, StoreError> {
    if agents.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(i64, Option<i64>)> = conversations::Entity::find()
        .select_only()
        .column(conversations::Column::Id)
        .column(conversations::Column::AssigneeId)
        .filter(conversations::Column::AssigneeId.is_in(agents.iter().map(|a| a.0)))
        .filter(conversations::Column::State.eq(ConversationState::Assigned.as_str()))
        .into_tuple()
        .all(db)
        .await?;
    let mut out: HashMap<UserId, Vec<ConversationId>> = HashMap::new();
    for (id, agent) in rows {
        if let Some(agent) = agent {
            out.entry(UserId(agent))
                .or_default()
                .push(ConversationId(id));
        }
    }
    Ok(out)
}

/// Conversations waiting in `team`, in serving order (priority, then age).
pub async fn queued_in_team(
    db: &impl ConnectionTrait,
    team: TeamId,
) -> Result<Vec<conversations::Model>, StoreError> {
    Ok(queued_in(team)
        .order_by_desc(conversations::Column::Priority)
        .order_by_asc(conversations::Column::WaitingSince)
        .order_by_asc(conversations::Column::Id)
        .all(db)
        .await?)
}

/// How many conversations wait in `team`'s queue (a count, not the rows:
/// a widget's init asks it on every page load, also with a long queue).
pub async fn count_queued_in_team(
    db: &impl ConnectionTrait,
    team: TeamId,
) -> Result<u64, StoreError> {
    Ok(queued_in(team).count(db).await?)
}

/// The conversations waiting in `team`'s queue.
fn queued_in(team: TeamId) -> sea_orm::Select<conversations::Entity> {
    conversations::Entity::find()
        .filter(conversations::Column::TeamId.eq(team.0))
        .filter(conversations::Column::State.eq(ConversationState::Queued.as_str()))
}

/// Why a conditional state change did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// Someone else changed the conversation first, or its state forbids this.
    #[error("the conversation changed; reload and retry")]
    Conflict,
    /// The agent already holds as many conversations as it may.
    #[error("agent is at capacity")]
    AtCapacity,
    /// The agent does not exist or is deactivated.
    #[error("no such active agent")]
    AgentUnavailable,
    /// The target team does not exist.
    #[error("no such team")]
    NoSuchTeam,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The fencing token a conversation's writer holds: `Some` on a node of a
/// cluster (the writes are conditional on it), `None` on a single node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Fence(pub Option<i64>);

impl Fence {
    /// Makes an update conditional on the token.
    pub fn guard(
        self,
        q: sea_orm::UpdateMany<conversations::Entity>,
    ) -> sea_orm::UpdateMany<conversations::Entity> {
        match self.0 {
            Some(t) => q.filter(conversations::Column::OwnerToken.eq(t)),
            None => q,
        }
    }
}

/// Takes a new fencing token for the actor starting on this node: every
/// later write of an older holder is refused.
pub async fn take_ownership(db: &super::Db, id: ConversationId) -> Result<Fence, StoreError> {
    let txn = super::begin(db).await?;
    conversations::Entity::update_many()
        .col_expr(
            conversations::Column::OwnerToken,
            Expr::col(conversations::Column::OwnerToken).add(1),
        )
        .filter(conversations::Column::Id.eq(id.0))
        .exec(&txn)
        .await?;
    let token = owner_token(&txn, id).await?;
    txn.commit().await?;
    Ok(Fence(token))
}

/// The token the conversation's current writer holds.
pub async fn owner_token(
    db: &impl ConnectionTrait,
    id: ConversationId,
) -> Result<Option<i64>, StoreError> {
    Ok(conversations::Entity::find_by_id(id.0)
        .select_only()
        .column(conversations::Column::OwnerToken)
        .into_tuple()
        .one(db)
        .await?)
}

/// The row a conditional transition returned (`UPDATE … RETURNING`: one
/// statement, where an update and a read back were two round trips):
/// `Conflict` unless exactly that row was written (another writer got there
/// first, or its state forbade it).
fn returned_row(rows: Vec<conversations::Model>) -> Result<conversations::Model, ChangeError> {
    <[conversations::Model; 1]>::try_from(rows)
        .map(|[row]| row)
        .map_err(|_| ChangeError::Conflict)
}

fn transitioned(
    q: sea_orm::UpdateMany<conversations::Entity>,
    fence: Fence,
) -> sea_orm::UpdateMany<conversations::Entity> {
    fence
        .guard(q)
        .col_expr(
            conversations::Column::Version,
            Expr::col(conversations::Column::Version).add(1),
        )
        .col_expr(conversations::Column::UpdatedAt, Expr::value(Utc::now()))
}

/// Gives a conversation to `agent` if it is still in one of `from` states
/// and the agent is active (and, with `require_online`, online) and under
/// its capacity. Call it inside a write transaction (`store::begin`). The
/// checks and the write are one conditional `UPDATE … RETURNING`: the
/// agent's row and its load are subqueries of the update's `WHERE`, so an
/// assignment costs one statement (it was four, each a round trip to the
/// driver's thread: the largest part of a draining backlog's CPU). On
/// PostgreSQL the agent's row is first locked `FOR UPDATE`, which
/// serialises every assignment to that agent across transactions and nodes,
/// so the load the update counts cannot change before it commits; on
/// SQLite the transaction holds the write lock from its start (DESIGN.md
/// invariant 4: no capacity overrun). A refusal writes nothing, so the
/// transaction can go on with other work (group commit); only then is the
/// reason read.
pub async fn assign(
    db: &impl ConnectionTrait,
    id: ConversationId,
    fence: Fence,
    agent: UserId,
    from: &[ConversationState],
    require_online: bool,
) -> Result<conversations::Model, ChangeError> {
    match assign_if_room(db, id, fence, agent, from, require_online).await? {
        Some(row) => Ok(row),
        None => Err(why_not_assigned(db, agent, require_online).await),
    }
}

/// [`assign`] without the reason of a refusal: the row assigned, or `None`
/// when nothing was written.
async fn assign_if_room(
    db: &impl ConnectionTrait,
    id: ConversationId,
    fence: Fence,
    agent: UserId,
    from: &[ConversationState],
    require_online: bool,
) -> Result<Option<conversations::Model>, StoreError> {
    if db.get_database_backend() == sea_orm::DbBackend::Postgres {
        users::Entity::find_by_id(agent.0)
            .select_only()
            .column(users::Column::Id)
            .lock_exclusive()
            .into_tuple::<i64>()
            .one(db)
            .await?;
    }
    let res = assign_update(id, fence, agent, from, require_online)
        .exec_with_returning(db)
        .await?;
    Ok(returned_row(res).ok())
}

/// [`assign`]'s conditional update with `RETURNING *`, as an SQLite
/// statement for the SQLite writer thread (`store::sqlite_writer`), which
/// runs it in its group's transaction: the row returned is the assignment
/// made, none a refusal ([`why_not_assigned`] tells which). One builder for
/// both, so the two paths cannot drift apart.
pub fn assign_statement(
    id: ConversationId,
    fence: Fence,
    agent: UserId,
    from: &[ConversationState],
    require_online: bool,
) -> sea_orm::Statement {
    use sea_orm::QueryTrait;
    let mut update = assign_update(id, fence, agent, from, require_online).into_query();
    update.returning_all();
    sea_orm::DbBackend::Sqlite.build(&update)
}

/// The conditional update behind [`assign`] and [`assign_statement`].
fn assign_update(
    id: ConversationId,
    fence: Fence,
    agent: UserId,
    from: &[ConversationState],
    require_online: bool,
) -> sea_orm::UpdateMany<conversations::Entity> {
    transitioned(conversations::Entity::update_many(), fence)
        .col_expr(
            conversations::Column::State,
            Expr::value(ConversationState::Assigned.as_str()),
        )
        .col_expr(conversations::Column::AssigneeId, Expr::value(agent.0))
        .col_expr(
            conversations::Column::WaitingSince,
            Expr::value(Option::<chrono::DateTime<Utc>>::None),
        )
        .filter(conversations::Column::Id.eq(id.0))
        .filter(conversations::Column::State.is_in(from.iter().map(|s| s.as_str())))
        .filter(
            Condition::any()
                .add(conversations::Column::AssigneeId.is_null())
                .add(conversations::Column::AssigneeId.ne(agent.0)),
        )
        .filter(Expr::exists(agent_has_room(agent, require_online)))
}

/// `SELECT 1 FROM users WHERE id = agent AND active [AND status = online]
/// AND capacity > (its open conversations)`: the agent may take one more.
fn agent_has_room(agent: UserId, require_online: bool) -> sea_orm::sea_query::SelectStatement {
    // The load counts the conversations table under another name: inside
    // an UPDATE of `conversations`, the bare name would be ambiguous.
    let held = sea_orm::sea_query::Alias::new("held");
    let load = Query::select()
        .expr(Expr::col((held.clone(), conversations::Column::Id)).count())
        .from_as(conversations::Entity, held.clone())
        .and_where(Expr::col((held.clone(), conversations::Column::AssigneeId)).eq(agent.0))
        .and_where(
            Expr::col((held, conversations::Column::State))
                .eq(ConversationState::Assigned.as_str()),
        )
        .to_owned();
    Query::select()
        .expr(Expr::val(1))
        .from(users::Entity)
        .cond_where(agent_available(agent, require_online))
        .and_where(
            Expr::col((users::Entity, users::Column::Capacity))
                .gt(Expr::SubQuery(None, Box::new(load.into()))),
        )
        .to_owned()
}

/// The agent's row, if it is active (and, with `require_online`, online).
fn agent_available(agent: UserId, require_online: bool) -> Condition {
    let cond = Condition::all()
        .add(users::Column::Id.eq(agent.0))
        .add(users::Column::Active.eq(true));
    if require_online {
        cond.add(users::Column::Status.eq(crate::domain::AgentStatus::Online.as_str()))
    } else {
        cond
    }
}

/// Why [`assign`] wrote nothing, read in the same transaction (or, after a
/// refusal on the SQLite writer thread, just after it): the agent is not
/// there (or not online), it is full, or else the conversation moved.
pub async fn why_not_assigned(
    db: &impl ConnectionTrait,
    agent: UserId,
    require_online: bool,
) -> ChangeError {
    let found = users::Entity::find()
        .filter(agent_available(agent, require_online))
        .one(db)
        .await;
    let capacity = match found {
        Ok(Some(u)) => i64::from(u.capacity),
        Ok(None) => return ChangeError::AgentUnavailable,
        Err(e) => return StoreError::from(e).into(),
    };
    match load_of(db, agent).await {
        Ok(load) if i64::try_from(load).unwrap_or(i64::MAX) >= capacity => ChangeError::AtCapacity,
        Ok(_) => ChangeError::Conflict,
        Err(e) => e.into(),
    }
}

/// Ids of every conversation that is not closed (activated at start so
/// their idle timers run).
pub async fn open_ids(db: &impl ConnectionTrait) -> Result<Vec<ConversationId>, StoreError> {
    let ids: Vec<i64> = conversations::Entity::find()
        .select_only()
        .column(conversations::Column::Id)
        .filter(conversations::Column::State.ne(ConversationState::Closed.as_str()))
        .into_tuple()
        .all(db)
        .await?;
    Ok(ids.into_iter().map(ConversationId).collect())
}

/// Puts a conversation back in `team`'s queue (transfer to a team, reopen).
pub async fn requeue(
    db: &impl ConnectionTrait,
    id: ConversationId,
    fence: Fence,
    team: Option<TeamId>,
    from: &[ConversationState],
) -> Result<conversations::Model, ChangeError> {
    let res = transitioned(conversations::Entity::update_many(), fence)
        .col_expr(
            conversations::Column::State,
            Expr::value(ConversationState::Queued.as_str()),
        )
        .col_expr(
            conversations::Column::AssigneeId,
            Expr::value(Option::<i64>::None),
        )
        .col_expr(
            conversations::Column::TeamId,
            Expr::value(team.map(|t| t.0)),
        )
        .col_expr(conversations::Column::WaitingSince, Expr::value(Utc::now()))
        .col_expr(
            conversations::Column::ClosedAt,
            Expr::value(Option::<chrono::DateTime<Utc>>::None),
        )
        .col_expr(
            conversations::Column::ClosedReason,
            Expr::value(Option::<String>::None),
        )
        .filter(conversations::Column::Id.eq(id.0))
        .filter(conversations::Column::State.is_in(from.iter().map(|s| s.as_str())))
        .exec_with_returning(db)
        .await
        .map_err(StoreError::from)?;
    returned_row(res)
}

/// Closes a conversation that is not closed yet.
pub async fn close(
    db: &impl ConnectionTrait,
    id: ConversationId,
    fence: Fence,
    reason: &str,
) -> Result<conversations::Model, ChangeError> {
    let now = Utc::now();
    let res = transitioned(conversations::Entity::update_many(), fence)
        .col_expr(
            conversations::Column::State,
            Expr::value(ConversationState::Closed.as_str()),
        )
        .col_expr(conversations::Column::ClosedAt, Expr::value(now))
        .col_expr(conversations::Column::ClosedReason, Expr::value(reason))
        .col_expr(
            conversations::Column::WaitingSince,
            Expr::value(Option::<chrono::DateTime<Utc>>::None),
        )
        .filter(conversations::Column::Id.eq(id.0))
        .filter(conversations::Column::State.ne(ConversationState::Closed.as_str()))
        .exec_with_returning(db)
        .await
        .map_err(StoreError::from)?;
    returned_row(res)
}

/// Records that `side` has read up to `up_to_seq` and recounts its unread
/// messages exactly. Returns the new read mark.
pub async fn mark_read(
    db: &impl ConnectionTrait,
    id: ConversationId,
    side: PartyKind,
    up_to_seq: i64,
) -> Result<(), StoreError> {
    let row = find(db, id).await?.ok_or(StoreError::NotFound)?;
    let (mark_col, unread_col, current, from_kinds): (_, _, i64, &[&str]) = match side {
        PartyKind::Customer => (
            conversations::Column::CustomerLastReadSeq,
            conversations::Column::CustomerUnread,
            row.customer_last_read_seq,
            &["agent", "bot", "system"],
        ),
        _ => (
            conversations::Column::AgentLastReadSeq,
            conversations::Column::AgentUnread,
            row.agent_last_read_seq,
            &["customer"],
        ),
    };
    let mark = Ord::min(Ord::max(up_to_seq, current), row.last_seq);
    let unread = super::messages::count_after(db, id, mark, from_kinds).await?;
    conversations::Entity::update_many()
        .col_expr(mark_col, Expr::value(mark))
        .col_expr(
            unread_col,
            Expr::value(i32::try_from(unread).unwrap_or(i32::MAX)),
        )
        .filter(conversations::Column::Id.eq(id.0))
        .exec(db)
        .await?;
    Ok(())
}

/// A visitor row.
pub async fn visitor(
    db: &impl ConnectionTrait,
    id: VisitorId,
) -> Result<Option<visitors::Model>, StoreError> {
    Ok(visitors::Entity::find_by_id(id.0).one(db).await?)
}

/// Sets the skills a conversation needs (replacing any), by skill id.
pub async fn set_required_skills(
    db: &impl ConnectionTrait,
    id: ConversationId,
    skills: &[(i64, u8)],
) -> Result<(), StoreError> {
    conversation_skills::Entity::delete_many()
        .filter(conversation_skills::Column::ConversationId.eq(id.0))
        .exec(db)
        .await?;
    if skills.is_empty() {
        return Ok(());
    }
    let rows = skills
        .iter()
        .map(|(skill, level)| conversation_skills::ActiveModel {
            conversation_id: Set(id.0),
            skill_id: Set(*skill),
            min_level: Set(i32::from(*level)),
        });
    conversation_skills::Entity::insert_many(rows)
        .exec(db)
        .await?;
    Ok(())
}

/// Sets the skills a conversation needs by name → least level (replacing
/// any), creating skills that do not exist yet.
pub async fn require_skills(
    db: &impl ConnectionTrait,
    id: ConversationId,
    required: &std::collections::BTreeMap<String, u8>,
) -> Result<(), StoreError> {
    let names: Vec<crate::domain::SkillName> = required
        .keys()
        .filter_map(|n| crate::domain::SkillName::parse(n).ok())
        .collect();
    let levels: Vec<(i64, u8)> = super::skills::ensure(db, &names)
        .await?
        .iter()
        .map(|(n, skill)| (skill.0, required.get(n.as_str()).copied().unwrap_or(1)))
        .collect();
    set_required_skills(db, id, &levels).await
}

/// What a conversation leaving the triage bot takes into the queue.
pub struct BotHandoff {
    /// The queue it joins.
    pub team: Option<TeamId>,
    /// Issue type (possibly chosen in triage).
    pub issue_type: Option<String>,
    /// Language (possibly chosen in triage).
    pub language: Option<String>,
    /// Its attributes with the bot's answers merged in.
    pub attributes: serde_json::Value,
    /// From the routing rules.
    pub priority: i32,
}

/// Moves a conversation from the bot to a queue, only if it is still with
/// the bot (a second handoff, or a close meanwhile, is a conflict).
pub async fn leave_bot(
    db: &impl ConnectionTrait,
    id: ConversationId,
    fence: Fence,
    handoff: BotHandoff,
) -> Result<conversations::Model, ChangeError> {
    let res = transitioned(conversations::Entity::update_many(), fence)
        .col_expr(
            conversations::Column::State,
            Expr::value(ConversationState::Queued.as_str()),
        )
        .col_expr(
            conversations::Column::TeamId,
            Expr::value(handoff.team.map(|t| t.0)),
        )
        .col_expr(
            conversations::Column::IssueType,
            Expr::value(handoff.issue_type),
        )
        .col_expr(
            conversations::Column::Language,
            Expr::value(handoff.language),
        )
        .col_expr(
            conversations::Column::Attributes,
            Expr::value(handoff.attributes),
        )
        .col_expr(
            conversations::Column::Priority,
            Expr::value(handoff.priority),
        )
        .col_expr(conversations::Column::WaitingSince, Expr::value(Utc::now()))
        .filter(conversations::Column::Id.eq(id.0))
        .filter(conversations::Column::State.eq(ConversationState::Bot.as_str()))
        .exec_with_returning(db)
        .await
        .map_err(StoreError::from)?;
    returned_row(res)
}

/// The skills each of `ids` needs: name → least level.
pub async fn required_skills(
    db: &impl ConnectionTrait,
    ids: &[ConversationId],
) -> Result<HashMap<ConversationId, std::collections::BTreeMap<String, u8>>, StoreError> {
    let mut out: HashMap<ConversationId, std::collections::BTreeMap<String, u8>> = HashMap::new();
    for (req, skill) in conversation_skills::Entity::find()
        .filter(conversation_skills::Column::ConversationId.is_in(ids.iter().map(|c| c.0)))
        .find_also_related(entity::skills::Entity)
        .all(db)
        .await?
    {
        if let Some(skill) = skill {
            out.entry(ConversationId(req.conversation_id))
                .or_default()
                .insert(skill.name, u8::try_from(req.min_level).unwrap_or(5));
        }
    }
    Ok(out)
}

/// Puts a queued conversation into another team's queue, keeping its
/// waiting time and skills (overflow). Only if it still waits in `from`.
pub async fn overflow(
    db: &impl ConnectionTrait,
    id: ConversationId,
    fence: Fence,
    from: TeamId,
    to: TeamId,
) -> Result<conversations::Model, ChangeError> {
    let res = transitioned(conversations::Entity::update_many(), fence)
        .col_expr(conversations::Column::TeamId, Expr::value(to.0))
        .filter(conversations::Column::Id.eq(id.0))
        .filter(conversations::Column::TeamId.eq(from.0))
        .filter(conversations::Column::State.eq(ConversationState::Queued.as_str()))
        .exec_with_returning(db)
        .await
        .map_err(StoreError::from)?;
    returned_row(res)
}

/// Gives an agent's conversation back to its team's queue, at the front
/// (it waits since it was created), when the agent went offline or stayed
/// disconnected. Only if that agent still holds it.
pub async fn requeue_front(
    db: &impl ConnectionTrait,
    id: ConversationId,
    fence: Fence,
    agent: UserId,
) -> Result<conversations::Model, ChangeError> {
    let res = transitioned(conversations::Entity::update_many(), fence)
        .col_expr(
            conversations::Column::State,
            Expr::value(ConversationState::Queued.as_str()),
        )
        .col_expr(
            conversations::Column::AssigneeId,
            Expr::value(Option::<i64>::None),
        )
        .col_expr(
            conversations::Column::WaitingSince,
            Expr::col(conversations::Column::CreatedAt),
        )
        .filter(conversations::Column::Id.eq(id.0))
        .filter(conversations::Column::State.eq(ConversationState::Assigned.as_str()))
        .filter(conversations::Column::AssigneeId.eq(agent.0))
        .exec_with_returning(db)
        .await
        .map_err(StoreError::from)?;
    returned_row(res)
}
