//! Reads the agent dashboard needs beyond the conversation routes: a
//! visitor's conversations, the last message of many conversations at once,
//! and the staff directory with loads.

use std::collections::HashMap;

use entity::{conversations, messages, team_members, users, visitors};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait,
};

use super::StoreError;
use crate::domain::access::{StaffScope, staff_may_access};
use crate::domain::{TeamId, UserId, VisitorId};

/// Every conversation of a visitor and, when `email` is given, of every
/// visitor who gave the same e-mail (each widget session is a new visitor,
/// so the e-mail is what ties a returning customer's chats together).
/// Newest first; `idx_conversations_visitor_id` and `idx_visitors_email`
/// find them.
pub async fn conversations_of_visitor(
    db: &impl ConnectionTrait,
    visitor: VisitorId,
    email: Option<&str>,
) -> Result<Vec<conversations::Model>, StoreError> {
    let mut same = Condition::any().add(conversations::Column::VisitorId.eq(visitor.0));
    if let Some(email) = email {
        let others = visitors::Entity::find()
            .select_only()
            .column(visitors::Column::Id)
            .filter(visitors::Column::Email.eq(email))
            .into_query();
        same = same.add(conversations::Column::VisitorId.in_subquery(others));
    }
    Ok(conversations::Entity::find()
        .filter(same)
        .order_by_desc(conversations::Column::Id)
        .all(db)
        .await?)
}

/// Splits rows into those `staff` may read and the number of the others.
pub fn visible_to(
    staff: &StaffScope,
    rows: Vec<conversations::Model>,
) -> Result<(Vec<conversations::Model>, usize), StoreError> {
    let mut visible = Vec::new();
    let mut hidden = 0;
    for row in rows {
        if staff_may_access(staff, &super::conversations::scope_of(&row)?) {
            visible.push(row);
        } else {
            hidden += 1;
        }
    }
    Ok((visible, hidden))
}

/// Conversations asked about in one query of [`last_messages`]: each adds
/// a level of nesting to the condition sea-query builds, recursively, and
/// SQLite bounds an expression's depth at 1,000. A visitor profile lists
/// every conversation under the visitor's e-mail, which anyone can multiply
/// through the widget: in one query, a thousand of them overflowed the
/// stack and took the server down.
const LAST_MESSAGES_PER_QUERY: usize = 100;

/// The last message of each conversation that has one, by conversation id:
/// one lookup per row on the unique `(conversation_id, seq)` index, in
/// queries of [`LAST_MESSAGES_PER_QUERY`] conversations.
pub async fn last_messages(
    db: &impl ConnectionTrait,
    rows: &[conversations::Model],
) -> Result<HashMap<i64, messages::Model>, StoreError> {
    let wanted: Vec<&conversations::Model> = rows.iter().filter(|r| r.last_seq > 0).collect();
    let mut last = HashMap::with_capacity(wanted.len());
    for chunk in wanted.chunks(LAST_MESSAGES_PER_QUERY) {
        let any = chunk.iter().fold(Condition::any(), |any, r| {
            any.add(
                Condition::all()
                    .add(messages::Column::ConversationId.eq(r.id))
                    .add(messages::Column::Seq.eq(r.last_seq)),
            )
        });
        last.extend(
            messages::Entity::find()
                .filter(any)
                .all(db)
                .await?
                .into_iter()
                .map(|m| (m.conversation_id, m)),
        );
    }
    Ok(last)
}

/// One member of the staff directory.
pub struct DirectoryEntry {
    /// The user.
    pub user: users::Model,
    /// Its teams.
    pub teams: Vec<TeamId>,
    /// Conversations assigned to it now.
    pub load: i64,
}

/// Active staff, by name, optionally only the members of `team`, with their
/// teams and loads (three queries whatever the number of users).
pub async fn directory(
    db: &impl ConnectionTrait,
    team: Option<TeamId>,
) -> Result<Vec<DirectoryEntry>, StoreError> {
    let mut q = users::Entity::find()
        .filter(users::Column::Active.eq(true))
        .order_by_asc(users::Column::Name)
        .order_by_asc(users::Column::Id);
    if let Some(t) = team {
        let members = team_members::Entity::find()
            .select_only()
            .column(team_members::Column::UserId)
            .filter(team_members::Column::TeamId.eq(t.0))
            .into_query();
        q = q.filter(users::Column::Id.in_subquery(members));
    }
    let rows = q.all(db).await?;
    let ids: Vec<UserId> = rows.iter().map(|u| UserId(u.id)).collect();
    let mut teams: HashMap<i64, Vec<TeamId>> = HashMap::new();
    for m in team_members::Entity::find()
        .filter(team_members::Column::UserId.is_in(ids.iter().map(|u| u.0)))
        .order_by_asc(team_members::Column::TeamId)
        .all(db)
        .await?
    {
        teams.entry(m.user_id).or_default().push(TeamId(m.team_id));
    }
    let loads = super::conversations::loads_of(db, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|user| DirectoryEntry {
            teams: teams.remove(&user.id).unwrap_or_default(),
            load: loads.get(&UserId(user.id)).copied().unwrap_or(0),
            user,
        })
        .collect())
}
