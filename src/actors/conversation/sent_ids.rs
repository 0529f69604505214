//! A conversation's memory of the idempotency keys it has committed
//! (invariant 3), kept small: a 64-bit fingerprint per key instead of the
//! key itself. A key is the sender and its `client_msg_id`: the same id
//! from another party is another message (a customer and an agent whose
//! clients both count 1, 2, 3 must not answer each other's sends). A key
//! whose fingerprint is absent was surely never committed, the answer for
//! nearly every send. One whose fingerprint is present was committed, or
//! (odds about 2⁻⁶⁴ per remembered key) shares its fingerprint with one
//! that was: the store decides, and the conversation takes the send as
//! new if the store holds no such message.
//!
//! The triage bot's own reply keys (`bot:N`, sent as the bot) are kept
//! exactly: the bot decides from memory alone whether a reply was already
//! written. A customer's `bot:0` is the customer's key, not the bot's.

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};

use crate::domain::protocol::{PartyKind, Sender};
use crate::store::messages::SentKey;

/// Who sent a message (side and visitor or user id) under which
/// `client_msg_id`: the unit of invariant 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Key<'a> {
    /// The sender's side.
    pub kind: PartyKind,
    /// Visitor or user id; `None` for the bot.
    pub sender: Option<i64>,
    /// The sender's own key.
    pub client_msg_id: &'a str,
}

impl<'a> Key<'a> {
    /// The key `sender` gave a message as `client_msg_id`.
    pub(super) fn sent_by(sender: &Sender, client_msg_id: &'a str) -> Self {
        Key {
            kind: sender.kind,
            sender: sender.id,
            client_msg_id,
        }
    }

    /// The key of the triage bot's reply `client_msg_id`.
    pub(super) fn bot(client_msg_id: &'a str) -> Self {
        Key {
            kind: PartyKind::Bot,
            sender: None,
            client_msg_id,
        }
    }
}

impl<'a> From<&'a SentKey> for Key<'a> {
    fn from(k: &'a SentKey) -> Self {
        Key {
            kind: k.sender_kind,
            sender: k.sender_id,
            client_msg_id: &k.client_msg_id,
        }
    }
}

/// The committed idempotency keys of one conversation.
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

    /// Remembers every key in `keys` (the store's, on activation).
    pub(super) fn from_keys(keys: &[SentKey]) -> Self {
        let mut sent = SentIds::new();
        for k in keys {
            sent.remember(k.into());
        }
        sent
    }

    fn fingerprint(&self, key: Key<'_>) -> u64 {
        self.keys.hash_one(key)
    }

    /// Remembers `key`, just committed.
    pub(super) fn remember(&mut self, key: Key<'_>) {
        self.fingerprints.insert(self.fingerprint(key));
        if key.kind == PartyKind::Bot {
            self.bot_replies.insert(key.client_msg_id.to_owned());
        }
    }

    /// False: `key` was surely never committed here. True: it was, unless
    /// its fingerprint is another's; ask the store.
    pub(super) fn may_hold(&self, key: Key<'_>) -> bool {
        self.fingerprints.contains(&self.fingerprint(key))
    }

    /// Whether the bot's reply keyed `client_msg_id` was committed (exact).
    pub(super) fn holds_bot_reply(&self, client_msg_id: &str) -> bool {
        self.bot_replies.contains(client_msg_id)
    }

    /// How many keys are remembered.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.fingerprints.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn customer(visitor: i64, id: &str) -> SentKey {
        SentKey {
            sender_kind: PartyKind::Customer,
            sender_id: Some(visitor),
            client_msg_id: id.to_owned(),
        }
    }

    fn side() -> impl Strategy<Value = PartyKind> {
        prop_oneof![
            Just(PartyKind::Customer),
            Just(PartyKind::Agent),
            Just(PartyKind::Bot),
        ]
    }

    proptest! {
        #[test]
        fn a_remembered_key_is_always_held(
            keys in proptest::collection::vec(
                (side(), proptest::option::of(1i64..5), "[ -~]{1,64}"),
                1..200,
            ),
        ) {
            let keys: Vec<SentKey> = keys
                .into_iter()
                .map(|(sender_kind, sender_id, client_msg_id)| SentKey {
                    sender_kind,
                    sender_id,
                    client_msg_id,
                })
                .collect();
            let sent = SentIds::from_keys(&keys);
            for k in &keys {
                prop_assert!(sent.may_hold(k.into()), "{k:?} forgotten");
            }
        }
    }

    #[test]
    fn ids_never_committed_are_not_held() {
        let keys: Vec<SentKey> = (0..10_000)
            .map(|n| customer(1, &format!("c-{n}")))
            .collect();
        let sent = SentIds::from_keys(&keys);
        assert_eq!(sent.len(), 10_000);
        let held = (10_000..20_000)
            .filter(|n| sent.may_hold((&customer(1, &format!("c-{n}"))).into()))
            .count();
        assert_eq!(held, 0, "10,000 new ids, each a 2^-64 chance of a clash");
    }

    #[test]
    fn the_same_id_from_another_sender_is_not_held() {
        let sent = SentIds::from_keys(&[customer(7, "1")]);
        assert!(sent.may_hold((&customer(7, "1")).into()));
        let others = [
            customer(8, "1"),
            SentKey {
                sender_kind: PartyKind::Agent,
                sender_id: Some(7),
                client_msg_id: "1".to_owned(),
            },
            SentKey {
                sender_kind: PartyKind::Bot,
                sender_id: None,
                client_msg_id: "1".to_owned(),
            },
        ];
        for k in &others {
            assert!(!sent.may_hold(k.into()), "{k:?} is another sender's");
        }
    }

    #[test]
    fn bot_replies_are_known_exactly_and_only_once_committed() {
        let bot_first = SentKey {
            sender_kind: PartyKind::Bot,
            sender_id: None,
            client_msg_id: "bot:0".to_owned(),
        };
        let mut sent = SentIds::from_keys(&[customer(1, "c-1"), bot_first]);
        assert!(sent.holds_bot_reply("bot:0"));
        assert!(!sent.holds_bot_reply("bot:1"));
        assert!(!sent.holds_bot_reply("c-1"), "a customer's id is no reply");
        sent.remember(Key::bot("bot:1"));
        assert!(sent.holds_bot_reply("bot:1"));
        assert!(sent.may_hold(Key::bot("bot:1")));
    }

    #[test]
    fn a_customer_id_that_looks_like_a_bot_reply_is_not_one() {
        let sent = SentIds::from_keys(&[customer(1, "bot:0")]);
        assert!(!sent.holds_bot_reply("bot:0"));
        assert!(!sent.may_hold(Key::bot("bot:0")));
        assert!(sent.may_hold((&customer(1, "bot:0")).into()));
    }
}
