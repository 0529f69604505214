//! The conversation state machine: which changes are allowed from which
//! state. The Conversation actor asks these before writing; the store's
//! conditional writes enforce the same rules against concurrent writers.

use serde::{Deserialize, Serialize};

/// Where a conversation is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ConversationState {
    /// Talking to the triage bot, not yet waiting for a human.
    Bot,
    /// Waiting in a team queue.
    Queued,
    /// An agent has it.
    Assigned,
    /// Finished; may be reopened.
    Closed,
}

/// A change someone asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The bot hands over to the queue.
    Enqueue,
    /// An agent takes it (from the queue), or is given it (assign/reassign).
    Assign,
    /// Sent back to a queue (transfer to a team, agent lost).
    Requeue,
    /// Ended by either side, or by the idle timer.
    Close,
    /// A closed conversation starts again (back to the queue).
    Reopen,
}

/// Why a transition was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cannot {transition:?} a conversation that is {from:?}")]
pub struct InvalidTransition {
    /// The state it was in.
    pub from: ConversationState,
    /// What was asked.
    pub transition: Transition,
}

impl ConversationState {
    /// The name stored in the database and used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ConversationState::Bot => "bot",
            ConversationState::Queued => "queued",
            ConversationState::Assigned => "assigned",
            ConversationState::Closed => "closed",
        }
    }

    /// Parses a stored state.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "bot" => Some(ConversationState::Bot),
            "queued" => Some(ConversationState::Queued),
            "assigned" => Some(ConversationState::Assigned),
            "closed" => Some(ConversationState::Closed),
            _ => None,
        }
    }

    /// The state after `t`, or why `t` is not allowed now.
    pub fn apply(self, t: Transition) -> Result<ConversationState, InvalidTransition> {
        use ConversationState::*;
        let next = match (self, t) {
            (Bot, Transition::Enqueue) => Queued,
            (Queued | Assigned, Transition::Assign) => Assigned,
            (Assigned | Queued, Transition::Requeue) => Queued,
            (Bot | Queued | Assigned, Transition::Close) => Closed,
            (Closed, Transition::Reopen) => Queued,
            (from, transition) => return Err(InvalidTransition { from, transition }),
        };
        Ok(next)
    }

    /// Whether customers and agents may still post messages.
    pub fn is_open(self) -> bool {
        self != ConversationState::Closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_state() -> impl Strategy<Value = ConversationState> {
        prop_oneof![
            Just(ConversationState::Bot),
            Just(ConversationState::Queued),
            Just(ConversationState::Assigned),
            Just(ConversationState::Closed),
        ]
    }

    fn any_transition() -> impl Strategy<Value = Transition> {
        prop_oneof![
            Just(Transition::Enqueue),
            Just(Transition::Assign),
            Just(Transition::Requeue),
            Just(Transition::Close),
            Just(Transition::Reopen),
        ]
    }

    #[test]
    fn the_happy_path_is_allowed() {
        let s = ConversationState::Bot;
        let s = s.apply(Transition::Enqueue).unwrap_or(s);
        assert_eq!(s, ConversationState::Queued);
        assert_eq!(s.apply(Transition::Assign), Ok(ConversationState::Assigned));
        assert_eq!(
            ConversationState::Assigned.apply(Transition::Close),
            Ok(ConversationState::Closed)
        );
        assert_eq!(
            ConversationState::Closed.apply(Transition::Reopen),
            Ok(ConversationState::Queued)
        );
    }

    #[test]
    fn a_closed_conversation_only_reopens() {
        for t in [
            Transition::Enqueue,
            Transition::Assign,
            Transition::Requeue,
            Transition::Close,
        ] {
            assert!(ConversationState::Closed.apply(t).is_err(), "{t:?}");
        }
    }

    proptest! {
        /// Over any sequence of requests, the state is always one a real
        /// conversation can be in, refused requests change nothing, and an
        /// assigned state is reached only through `Assign`.
        #[test]
        fn any_sequence_keeps_the_machine_consistent(
            start in any_state(),
            steps in proptest::collection::vec(any_transition(), 0..40),
        ) {
            let mut s = start;
            for t in steps {
                match s.apply(t) {
                    Ok(next) => {
                        if next == ConversationState::Assigned {
                            prop_assert_eq!(t, Transition::Assign);
                        }
                        if s == ConversationState::Closed {
                            prop_assert_eq!(t, Transition::Reopen);
                        }
                        s = next;
                    }
                    Err(e) => {
                        prop_assert_eq!(e.from, s);
                    }
                }
                prop_assert_eq!(ConversationState::parse(s.as_str()), Some(s));
            }
        }
    }
}
