//! What a node does with the envelopes it receives: runs calls on the local
//! actors they address (answering the caller), hands frames to local
//! sockets, and applies agent broadcasts. Envelopes are handled in the
//! order they arrive, and a call is enqueued on its actor before the next
//! envelope is looked at, so one sender's calls keep their order.

use std::collections::HashMap;
use std::sync::Arc;

use actix::Addr;

use super::cluster::Cluster;
use super::envelope::{ActorKey, Body, Envelope, RemoteError};
use super::{Bus, BusError, calls};
use crate::actors::conversation::Conversation;
use crate::actors::team_queue::TeamQueue;

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
