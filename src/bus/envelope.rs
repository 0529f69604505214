//! What nodes say to each other over Redis pub/sub: one JSON envelope per
//! published message, versioned and bounded in size. Pure (no I/O), so the
//! format is unit-tested on its own.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::actors::SessionId;
use crate::domain::{ConversationId, TeamId, UserId};

/// The envelope format this code speaks. A node drops envelopes of another
/// version (logged), so a rolling upgrade that changes the format must run
/// old and new nodes apart.
pub const VERSION: u8 = 1;

/// Largest envelope sent or accepted, in bytes. A socket frame is at most a
/// few KiB after validation; this leaves room for a batch of them.
pub const MAX_BYTES: usize = 1 << 20;

/// Names one virtual actor, cluster-wide (`conversation:42`, `team:3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ActorKey {
    /// A conversation actor.
    Conversation(ConversationId),
    /// A team queue actor.
    Team(TeamId),
}

impl fmt::Display for ActorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ActorKey::Conversation(id) => write!(f, "conversation:{id}"),
            ActorKey::Team(id) => write!(f, "team:{id}"),
        }
    }
}

/// A string that is not an actor key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an actor key: {0:?}")]
pub struct BadKey(pub String);

impl FromStr for ActorKey {
    type Err = BadKey;

    fn from_str(s: &str) -> Result<Self, BadKey> {
        let bad = || BadKey(s.to_owned());
        let (kind, id) = s.split_once(':').ok_or_else(bad)?;
        let id: i64 = id.parse().map_err(|_| bad())?;
        match kind {
            "conversation" => Ok(ActorKey::Conversation(ConversationId(id))),
            "team" => Ok(ActorKey::Team(TeamId(id))),
            _ => Err(bad()),
        }
    }
}

impl Serialize for ActorKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ActorKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Why a remote call failed on the node that got it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "error", content = "detail", rename_all = "snake_case")]
pub enum RemoteError {
    /// That node does not host the actor (any more): resolve again.
    #[error("actor not hosted there")]
    NotHere,
    /// The id names nothing.
    #[error("not found")]
    NotFound,
    /// The node could not run the call (actor stopped, timed out, …).
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The call or its answer did not (de)serialise: a version mismatch.
    #[error("bad call: {0}")]
    BadCall(String),
}

/// Sent to every node: things about an agent, whose sockets may be on any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum AgentBroadcast {
    /// A frame for every socket of the agent.
    Deliver {
        /// The serialised frame.
        frame: String,
    },
    /// End the agent's sockets (all, or one login session's).
    Kick {
        /// Only this login session's sockets; `None`: all.
        family: Option<String>,
        /// For the close frame.
        reason: String,
        /// Closed so that the client reconnects at once (1012) instead of
        /// as a login that ended (1008). Absent from a node that predates
        /// it: that node ends the sockets as a login that ended, and the
        /// dashboard still reconnects (the reason does not say ended).
        #[serde(default)]
        reconnect: bool,
    },
    /// Every socket of the agent starts following this conversation.
    Follow {
        /// The conversation given to the agent.
        conversation: ConversationId,
        /// Its last committed seq when it was given (0 from a node that
        /// predates it: the socket then catches up on all of it).
        #[serde(default)]
        after_seq: i64,
    },
}

/// What an envelope carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Body {
    /// Run a call on an actor the receiving node hosts. `id` 0 means no
    /// answer is wanted (a tell).
    Call {
        /// Matches the `Reply`.
        id: u64,
        /// The actor.
        to: ActorKey,
        /// The message's name (`Call::NAME`).
        call: String,
        /// The message.
        payload: Value,
    },
    /// The answer to a `Call`.
    Reply {
        /// The call's id.
        id: u64,
        /// The handler's result, serialised.
        result: Result<Value, RemoteError>,
    },
    /// One frame for several sockets on the receiving node (fan-out sends
    /// one envelope per node, not one per socket).
    Deliver {
        /// The actor that sent it, told when a socket is gone.
        source: Option<ActorKey>,
        /// The sockets.
        sessions: Vec<SessionId>,
        /// The serialised frame.
        frame: String,
        /// Whether the sockets asked for it (absent from a node that
        /// predates it: live).
        #[serde(default, skip_serializing_if = "super::Pace::is_live")]
        pace: super::Pace,
    },
    /// For the sockets of one agent, wherever they are.
    Agent {
        /// The agent.
        agent: UserId,
        /// What to do.
        event: AgentBroadcast,
    },
}

/// One published message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Format version ([`VERSION`]).
    pub v: u8,
    /// The sending node.
    pub from: String,
    /// Its place in what the sending process published (set when it is
    /// queued for publishing; absent from a node that predates it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<Serial>,
    /// What it says.
    #[serde(flatten)]
    pub body: Body,
}

/// Where an envelope stands in its sender's stream: Redis delivers one
/// connection's publishes in order, so serials arrive rising, and one that
/// does not rise is a copy (the publisher sends a whole pipeline again
/// after a failed round trip, and Redis may have delivered part of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Serial {
    /// The sending process, random at its start: a node restarted under
    /// the same id begins a new stream.
    pub run: u64,
    /// Counts that process's envelopes in the order it publishes them.
    pub n: u64,
}

/// An envelope that cannot be sent or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// Over [`MAX_BYTES`].
    #[error("envelope of {0} bytes is over the {MAX_BYTES} byte limit")]
    TooLarge(usize),
    /// Another format version.
    #[error("envelope version {0} is not {VERSION}")]
    Version(u8),
    /// Not an envelope at all.
    #[error("malformed envelope: {0}")]
    Malformed(String),
}

impl Envelope {
    /// An envelope from `from` in this version.
    pub fn new(from: &str, body: Body) -> Self {
        Envelope {
            v: VERSION,
            from: from.to_owned(),
            serial: None,
            body,
        }
    }

    /// The bytes to publish.
    pub fn encode(&self) -> Result<Vec<u8>, EnvelopeError> {
        let bytes =
            serde_json::to_vec(self).map_err(|e| EnvelopeError::Malformed(e.to_string()))?;
        if bytes.len() > MAX_BYTES {
            return Err(EnvelopeError::TooLarge(bytes.len()));
        }
        Ok(bytes)
    }

    /// Reads published bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        if bytes.len() > MAX_BYTES {
            return Err(EnvelopeError::TooLarge(bytes.len()));
        }
        #[derive(Deserialize)]
        struct Head {
            v: u8,
        }
        let head: Head =
            serde_json::from_slice(bytes).map_err(|e| EnvelopeError::Malformed(e.to_string()))?;
        if head.v != VERSION {
            return Err(EnvelopeError::Version(head.v));
        }
        serde_json::from_slice(bytes).map_err(|e| EnvelopeError::Malformed(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn a_serial_travels_in_the_envelope_and_an_older_nodes_envelope_has_none() {
        let mut e = Envelope::new(
            "n1",
            Body::Reply {
                id: 1,
                result: Ok(json!(null)),
            },
        );
        e.serial = Some(Serial { run: 9, n: 4 });
        let bytes = e.encode().unwrap();
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["serial"], json!({"run": 9, "n": 4}));
        assert_eq!(Envelope::decode(&bytes).unwrap(), e);
        let old = br#"{"v":1,"from":"n1","kind":"reply","id":1,"result":{"Ok":null}}"#;
        assert_eq!(Envelope::decode(old).unwrap().serial, None);
    }

    #[test]
    fn envelopes_round_trip_in_a_stable_shape() {
        let e = Envelope::new(
            "node-a",
            Body::Call {
                id: 7,
                to: ActorKey::Conversation(ConversationId(42)),
                call: "send_message".into(),
                payload: json!({"text": "hi"}),
            },
        );
        let bytes = e.encode().unwrap();
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            v,
            json!({"v": 1, "from": "node-a", "kind": "call", "id": 7, "to": "conversation:42",
                   "call": "send_message", "payload": {"text": "hi"}})
        );
        assert_eq!(Envelope::decode(&bytes).unwrap(), e);
        let reply = Envelope::new(
            "b",
            Body::Reply {
                id: 7,
                result: Err(RemoteError::Unavailable("stopped".into())),
            },
        );
        assert_eq!(Envelope::decode(&reply.encode().unwrap()).unwrap(), reply);
        let agent = Envelope::new(
            "b",
            Body::Agent {
                agent: UserId(3),
                event: AgentBroadcast::Kick {
                    family: None,
                    reason: "deactivated".into(),
                    reconnect: false,
                },
            },
        );
        assert_eq!(Envelope::decode(&agent.encode().unwrap()).unwrap(), agent);
        // A kick from a node that predates `reconnect` ends the sockets.
        let older = br#"{"v": 1, "from": "b", "kind": "agent", "agent": 3,
                         "event": {"event": "kick", "family": null, "reason": "deactivated"}}"#;
        assert_eq!(Envelope::decode(older).unwrap(), agent);
    }

    #[test]
    fn a_delivery_says_its_pace_only_when_the_socket_asked_for_it() {
        let deliver = |pace| {
            Envelope::new(
                "a",
                Body::Deliver {
                    source: None,
                    sessions: vec![1],
                    frame: "{}".into(),
                    pace,
                },
            )
        };
        let bytes = deliver(crate::bus::Pace::Live).encode().unwrap();
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert!(v.to_string().find("pace").is_none(), "{v}");
        let back =
            Envelope::decode(&deliver(crate::bus::Pace::Requested).encode().unwrap()).unwrap();
        assert!(matches!(
            back.body,
            Body::Deliver {
                pace: crate::bus::Pace::Requested,
                ..
            }
        ));
        let old = Envelope::decode(&bytes).unwrap();
        assert!(matches!(
            old.body,
            Body::Deliver {
                pace: crate::bus::Pace::Live,
                ..
            }
        ));
    }

    #[test]
    fn other_versions_oversize_and_garbage_are_refused() {
        let other = br#"{"v": 2, "from": "x", "kind": "reply", "id": 1, "result": {"Ok": null}}"#;
        assert_eq!(Envelope::decode(other), Err(EnvelopeError::Version(2)));
        assert!(matches!(
            Envelope::decode(b"not json"),
            Err(EnvelopeError::Malformed(_))
        ));
        assert!(matches!(
            Envelope::decode(br#"{"v": 1, "from": "x", "kind": "teleport"}"#),
            Err(EnvelopeError::Malformed(_))
        ));
        let huge = Envelope::new(
            "a",
            Body::Deliver {
                source: None,
                sessions: vec![1],
                frame: "x".repeat(MAX_BYTES),
                pace: crate::bus::Pace::Live,
            },
        );
        assert!(matches!(huge.encode(), Err(EnvelopeError::TooLarge(_))));
        assert!(matches!(
            Envelope::decode(&vec![b' '; MAX_BYTES + 1]),
            Err(EnvelopeError::TooLarge(_))
        ));
    }

    #[test]
    fn actor_keys_parse_and_print() {
        for k in [
            ActorKey::Conversation(ConversationId(9)),
            ActorKey::Team(TeamId(3)),
        ] {
            assert_eq!(k.to_string().parse::<ActorKey>(), Ok(k));
        }
        assert!("agent:1".parse::<ActorKey>().is_err());
        assert!("team:x".parse::<ActorKey>().is_err());
        assert!("team".parse::<ActorKey>().is_err());
    }
}
