//! What a node does with the envelopes it receives: runs calls on the local
//! actors they address (answering the caller), hands frames to local
//! sockets, and applies agent broadcasts. Envelopes are handled in the
//! order they arrive, and a call is enqueued on its actor before the next
//! envelope is looked at, so one sender's calls keep their order. Copies of
//! envelopes already received (a pipeline published again after a failed
//! round trip) are recognised by their serials and dropped.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::Addr;

use super::cluster::Cluster;
use super::envelope::{ActorKey, Body, Envelope, RemoteError, Serial};
use super::{Bus, BusError, calls};
use crate::actors::conversation::Conversation;
use crate::actors::team_queue::TeamQueue;

/// The last serial received from each sending node, to recognise copies.
#[derive(Debug, Default)]
pub(super) struct SeenSerials {
    last: HashMap<String, Heard>,
}

#[derive(Debug)]
struct Heard {
    serial: Serial,
    at: Instant,
}

/// A sending node not heard from for this long is forgotten when another
/// one appears (node ids carry a random suffix unless configured, so each
/// restart is a new id). A copy follows its original within seconds.
const FORGET_AFTER: Duration = Duration::from_secs(3600);

impl SeenSerials {
    /// True the first time an envelope from `from` with `serial` arrives;
    /// false for a copy of one already received (or older). Envelopes
    /// without a serial are always new. A node restarted under the same id
    /// is a new stream and replaces its entry.
    pub(super) fn first_time(&mut self, from: &str, serial: Option<Serial>) -> bool {
        self.first_time_at(from, serial, Instant::now())
    }

    fn first_time_at(&mut self, from: &str, serial: Option<Serial>, now: Instant) -> bool {
        let Some(s) = serial else { return true };
        match self.last.get_mut(from) {
            Some(last) => {
                // Another run is a restarted node: a new stream.
                if last.serial.run == s.run && s.n <= last.serial.n {
                    return false;
                }
                *last = Heard { serial: s, at: now };
                true
            }
            None => {
                self.last
                    .retain(|_, h| now.saturating_duration_since(h.at) < FORGET_AFTER);
                self.last
                    .insert(from.to_owned(), Heard { serial: s, at: now });
                true
            }
        }
    }
}

/// A local actor a call can run on.
#[derive(Clone)]
enum Local {
    Conversation(Addr<Conversation>),
    Team(Addr<TeamQueue>),
}

impl Local {
    fn connected(&self) -> bool {
        match self {
            Local::Conversation(a) => a.connected(),
            Local::Team(a) => a.connected(),
        }
    }
}

/// Most cached actor addresses before dead ones are swept.
const CACHE: usize = 10_000;

/// The receiving end of one subscription.
pub(super) struct Inbound {
    bus: Bus,
    cluster: Arc<Cluster>,
    cache: HashMap<ActorKey, Local>,
}

fn remote_error(e: BusError) -> RemoteError {
    match e {
        BusError::NotFound => RemoteError::NotFound,
        BusError::Unavailable(m) => RemoteError::Unavailable(m),
    }
}

impl Inbound {
    pub(super) fn new(bus: Bus, cluster: Arc<Cluster>) -> Self {
        Inbound {
            bus,
            cluster,
            cache: HashMap::new(),
        }
    }

    /// The local actor for `key`, activating it if this node owns it;
    /// `NotHere` if another node does.
    async fn local(&mut self, key: ActorKey) -> Result<Local, RemoteError> {
        if let Some(l) = self.cache.get(&key).filter(|l| l.connected()) {
            return Ok(l.clone());
        }
        let local = match key {
            ActorKey::Conversation(id) => {
                let r = self.bus.conversation(id).await.map_err(remote_error)?;
                Local::Conversation(r.local_addr().ok_or(RemoteError::NotHere)?)
            }
            ActorKey::Team(id) => {
                let r = self.bus.team(id).await.map_err(remote_error)?;
                Local::Team(r.local_addr().ok_or(RemoteError::NotHere)?)
            }
        };
        if self.cache.len() >= CACHE {
            self.cache.retain(|_, l| l.connected());
        }
        self.cache.insert(key, local.clone());
        Ok(local)
    }

    /// Handles one envelope.
    pub(super) async fn handle(&mut self, env: Envelope) {
        let from = env.from;
        tracing::debug!(%from, body = ?env.body, "envelope in");
        match env.body {
            Body::Call {
                id,
                to,
                call,
                payload,
            } => {
                let answer = match self.local(to).await {
                    Ok(Local::Conversation(addr)) => calls::conversation(&addr, &call, payload),
                    Ok(Local::Team(addr)) => calls::team(&addr, &call, payload),
                    Err(e) => {
                        if id != 0 {
                            self.cluster.reply(&from, id, Err(e));
                        }
                        return;
                    }
                };
                // The answer is awaited even for a tell: a full mailbox holds
                // the message in the request until it is polled.
                let cluster = self.cluster.clone();
                actix_rt::spawn(async move {
                    let result = answer.await;
                    if id != 0 {
                        cluster.reply(&from, id, result);
                    }
                });
            }
            Body::Reply { id, result } => self.cluster.complete(id, result),
            Body::Deliver {
                source,
                sessions,
                frame,
                pace,
            } => {
                let gone = self.bus.deliver_here(&sessions, frame, pace);
                if !gone.is_empty()
                    && let Some(source) = source
                {
                    self.bus.sessions_gone(source, gone);
                }
            }
            Body::Agent { agent, event } => {
                // This node applied its own broadcasts when it sent them.
                if from != self.cluster.node() {
                    self.bus.agent_here(agent, event);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_of_an_envelope_already_received_is_recognised() {
        let mut seen = SeenSerials::default();
        let s = |run, n| Some(Serial { run, n });
        // A pipeline of 1..=3, cut after 2 went out, sent again whole.
        let arrivals = [
            ("a", s(1, 1)),
            ("a", s(1, 2)),
            ("b", s(7, 1)),
            ("a", s(1, 1)),
            ("a", s(1, 2)),
            ("a", s(1, 3)),
            // A gap (a queue overflow dropped one) is not a copy.
            ("a", s(1, 5)),
            ("a", s(1, 4)),
            // Restarted under the same id: a new stream from 1.
            ("a", s(2, 1)),
            ("a", s(2, 2)),
            // From a node without serials: always new.
            ("c", None),
            ("c", None),
        ];
        let firsts: Vec<bool> = arrivals
            .iter()
            .map(|(from, serial)| seen.first_time(from, *serial))
            .collect();
        assert_eq!(
            firsts,
            [
                true, true, true, false, false, true, true, false, true, true, true, true
            ]
        );
    }

    #[test]
    fn a_node_silent_for_an_hour_is_forgotten_when_another_appears() {
        let mut seen = SeenSerials::default();
        let t0 = Instant::now();
        let s = |n| Some(Serial { run: 1, n });
        assert!(seen.first_time_at("old", s(5), t0));
        assert!(seen.first_time_at("busy", s(1), t0));
        let later = t0 + FORGET_AFTER / 2;
        assert!(seen.first_time_at("busy", s(2), later));
        let hour_on = t0 + FORGET_AFTER + Duration::from_secs(1);
        assert!(seen.first_time_at("new", s(1), hour_on));
        assert_eq!(seen.last.len(), 2, "{:?}", seen.last.keys());
        assert!(!seen.last.contains_key("old"));
        // Still recognised: the busy node's copies.
        assert!(!seen.first_time_at("busy", s(2), hour_on));
    }
}
