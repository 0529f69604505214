//! A rating arrived. `POST /widget/csat` stores it (one per conversation,
//! after the close) and then tells the actor, so the followers (the agent
//! who had the chat, supervisors following it, the customer's other tabs)
//! get `conversation.updated` with its `csat`, in order with the rest of
//! the conversation's events, instead of learning about it on their next
//! fetch.

use actix::prelude::*;

use super::Conversation;
use crate::actors::ActorError;
use crate::domain::protocol::{ConversationView, ServerFrame};
use crate::store;

/// The conversation was rated (the rating is committed): push the
/// conversation, `csat` included, to every follower.
#[derive(Message, serde::Serialize, serde::Deserialize)]
#[rtype(result = "Result<ConversationView, ActorError>")]
pub struct Rated;

impl Handler<Rated> for Conversation {
    type Result = AtomicResponse<Self, Result<ConversationView, ActorError>>;

    #[tracing::instrument(skip_all, fields(conversation_id = %self.id))]
    fn handle(&mut self, _: Rated, _: &mut Self::Context) -> Self::Result {
        if let Err(e) = self.loaded() {
            return AtomicResponse::new(Box::pin(fut::ready(Err(e))));
        }
        let db = self.db.clone();
        let id = self.id;
        AtomicResponse::new(Box::pin(
            async move {
                let row = store::conversations::find(&db, id)
                    .await?
                    .ok_or(store::StoreError::NotFound)?;
                Ok::<_, ActorError>(store::conversations::view(&db, row).await?)
            }
            .into_actor(self)
            .map(|res, act, _| {
                let view = res?;
                // A rating changes nothing in the conversation's row, so
                // the actor's copy stays as it is.
                act.broadcast(
                    &ServerFrame::ConversationUpdated {
                        conversation: view.clone(),
                    },
                    None,
                );
                Ok(view)
            }),
        ))
    }
}
