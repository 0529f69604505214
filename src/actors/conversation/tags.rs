//! Tagging a conversation. It goes through the actor like every other
//! change, so the followers get `conversation.updated` in order with the
//! rest of the conversation's events.

use actix::prelude::*;

use super::Conversation;
use crate::actors::{ActorError, Party};
use crate::domain::protocol::{ConversationView, ServerFrame};
use crate::store;
use crate::store::tags::TagChange;

/// Change the conversation's tags (staff who may read it, in any state).
#[derive(Message, serde::Serialize, serde::Deserialize)]
#[rtype(result = "Result<ConversationView, ActorError>")]
pub struct SetTags {
    /// Who tags.
    pub by: Party,
    /// Tag ids to set, add or remove (they exist: the caller resolved them).
    pub change: TagChange,
}

impl Handler<SetTags> for Conversation {
    type Result = AtomicResponse<Self, Result<ConversationView, ActorError>>;

    #[tracing::instrument(skip_all, fields(conversation_id = %self.id))]
    fn handle(&mut self, msg: SetTags, _: &mut Self::Context) -> Self::Result {
        // From here on its view has (or may have) tags to read.
        self.bare_visitor = None;
        if let Err(e) = self.authorize(&msg.by) {
            return AtomicResponse::new(Box::pin(fut::ready(Err(e))));
        }
        if let Party::Customer { .. } = msg.by {
            return AtomicResponse::new(Box::pin(fut::ready(Err(ActorError::forbidden(
                "tags are for staff",
            )))));
        }
        let db = self.db.clone();
        let id = self.id;
        let change = msg.change;
        AtomicResponse::new(Box::pin(
            async move {
                let txn = store::begin(&db).await.map_err(store::StoreError::from)?;
                let changed = store::tags::change_on_conversation(&txn, id, &change).await?;
                txn.commit().await.map_err(store::StoreError::from)?;
                let row = store::conversations::find(&db, id)
                    .await?
                    .ok_or(store::StoreError::NotFound)?;
                let view = store::conversations::view(&db, row.clone()).await?;
                Ok::<_, ActorError>((changed, row, view))
            }
            .into_actor(self)
            .map(|res, act, _| {
                let (changed, row, view) = res?;
                // Keep the actor's row in step (updated_at moved), but
                // leave the rest of it alone: tags change no state.
                if let Some(r) = act.row.as_mut() {
                    r.updated_at = row.updated_at;
                }
                if changed {
                    act.broadcast(
                        &ServerFrame::ConversationUpdated {
                            conversation: view.clone(),
                        },
                        None,
                    );
                }
                Ok(view)
            }),
        ))
    }
}
