//! A conversation's memory of the `client_msg_id`s it has committed
//! (invariant 3), kept small: a 64-bit fingerprint per id instead of the
//! id itself. An id whose fingerprint is absent was surely never
//! committed, the answer for nearly every send. One whose fingerprint is
//! present was committed, or (odds about 2⁻⁶⁴ per remembered id) shares
//! its fingerprint with one that was: the store decides, and the
//! conversation takes the send as new if the store holds no such message.
//!
//! The triage bot's own reply keys (`bot:N`) are kept exactly: the bot
//! decides from memory alone whether a reply was already written.

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};

/// Prefix of the keys the triage bot gives its replies.
pub(super) const BOT_REPLY_PREFIX: &str = "bot:";

/// The committed `client_msg_id`s of one conversation.
pub(super) struct SentIds {
    /// Keyed at random per conversation, so nobody can choose ids that
    /// collide with another's (a collision only costs a store read).
    keys: RandomState,
    fingerprints: HashSet<u64>,
    bot_replies: HashSet<String>,
}

impl SentIds {
    /// Remembers nothing.
    pub(super) fn new() -> Self {
        SentIds {
            keys: RandomState::new(),
            fingerprints: HashSet::new(),
            bot_replies: HashSet::new(),
        }
    }

    /// Remembers every id in `ids` (the store's, on activation).
    pub(super) fn from_ids(ids: impl IntoIterator<Item = String>) -> Self {
        let mut sent = SentIds::new();
        for id in ids {
            sent.remember(&id);
        }
        sent
    }

    fn fingerprint(&self, id: &str) -> u64 {
        self.keys.hash_one(id)
    }

    /// Remembers `id`, just committed.
    pub(super) fn remember(&mut self, id: &str) {
        self.fingerprints.insert(self.fingerprint(id));
        if id.starts_with(BOT_REPLY_PREFIX) {
            self.bot_replies.insert(id.to_owned());
        }
    }

    /// False: `id` was surely never committed here. True: it was, unless
    /// its fingerprint is another's; ask the store.
    pub(super) fn may_hold(&self, id: &str) -> bool {
        self.fingerprints.contains(&self.fingerprint(id))
    }

    /// Whether the bot reply keyed `key` was committed (exact).
    pub(super) fn holds_bot_reply(&self, key: &str) -> bool {
        self.bot_replies.contains(key)
    }

    /// How many ids are remembered.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.fingerprints.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn a_remembered_id_is_always_held(
            ids in proptest::collection::vec("[ -~]{1,64}", 1..200),
        ) {
            let sent = SentIds::from_ids(ids.iter().cloned());
            for id in &ids {
                prop_assert!(sent.may_hold(id), "{id:?} forgotten");
            }
        }
    }

    #[test]
    fn ids_never_committed_are_not_held() {
        let sent = SentIds::from_ids((0..10_000).map(|n| format!("c-{n}")));
        assert_eq!(sent.len(), 10_000);
        let held = (10_000..20_000)
            .filter(|n| sent.may_hold(&format!("c-{n}")))
            .count();
        assert_eq!(held, 0, "10,000 new ids, each a 2^-64 chance of a clash");
    }

    #[test]
    fn bot_replies_are_known_exactly_and_only_once_committed() {
        let mut sent = SentIds::from_ids(["c-1".to_owned(), "bot:0".to_owned()]);
        assert!(sent.holds_bot_reply("bot:0"));
        assert!(!sent.holds_bot_reply("bot:1"));
        assert!(!sent.holds_bot_reply("c-1"), "a customer's id is no reply");
        sent.remember("bot:1");
        assert!(sent.holds_bot_reply("bot:1"));
        assert!(sent.may_hold("bot:1"));
    }
}
