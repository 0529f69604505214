//! This node's local registry: the running actors by id. Only the Router
//! writes it, as it starts and forgets actors; the [`Bus`](super::Bus)
//! reads it first on every resolution, from any thread. Reaching a running
//! local actor then costs a map lookup instead of a round trip through the
//! Router's mailbox (on a one-core node each such trip was two thread
//! switches, three of them on the way from a customer's arrival to an
//! agent). Activating an actor that is not running stays with the Router.
//!
//! The agents' sockets on this node are here too: a frame for an agent (a
//! new assignment, a notification) goes from its sender straight to the
//! agent's sockets instead of through the Router's mailbox.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{PoisonError, RwLock};

use actix::{Actor, Addr};

use super::LocalSession;
use crate::actors::conversation::Conversation;
use crate::actors::team_queue::TeamQueue;
use crate::actors::{Deliver, SessionId};
use crate::domain::{ConversationId, TeamId, UserId};

/// The running actors of one kind, by id.
pub struct Slots<K, A: Actor> {
    map: RwLock<HashMap<K, Addr<A>>>,
}

impl<K: Eq + Hash + Copy, A: Actor> Slots<K, A> {
    fn new() -> Self {
        Slots {
            map: RwLock::new(HashMap::new()),
        }
    }

    /// The actor of `id` if it is registered and still running.
    pub fn live(&self, id: K) -> Option<Addr<A>> {
        // A panic while the lock was held cannot leave the map half
        // written (every write is one insert or remove), so a poisoned lock
        // is read as it is.
        let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
        map.get(&id).filter(|a| a.connected()).cloned()
    }

    /// Registers `addr` as the actor of `id`, replacing any earlier one.
    pub(crate) fn insert(&self, id: K, addr: Addr<A>) {
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        map.insert(id, addr);
    }

    /// Forgets the actor of `id` if it is still `addr` (a newer actor
    /// started for the same id stays); says whether it was.
    pub(crate) fn remove_if(&self, id: K, addr: &Addr<A>) -> bool {
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        if map.get(&id) == Some(addr) {
            map.remove(&id);
            true
        } else {
            false
        }
    }

    /// The ids whose actors are still running.
    pub fn live_ids(&self) -> Vec<K> {
        let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
        map.iter()
            .filter(|(_, a)| a.connected())
            .map(|(id, _)| *id)
            .collect()
    }
}

/// The sockets of this node's agents, by agent: where their frames go.
#[derive(Default)]
pub struct AgentSockets {
    map: RwLock<HashMap<UserId, HashMap<SessionId, LocalSession>>>,
}

impl AgentSockets {
    /// `session` is a socket of `agent` here.
    pub(crate) fn insert(&self, agent: UserId, session: SessionId, to: LocalSession) {
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        map.entry(agent).or_default().insert(session, to);
    }

    /// `session` of `agent` has ended.
    pub(crate) fn remove(&self, agent: UserId, session: SessionId) {
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(sockets) = map.get_mut(&agent) {
            sockets.remove(&session);
            if sockets.is_empty() {
                map.remove(&agent);
            }
        }
    }

    /// Tells every agent socket here to reconnect (with `reason`), as when
    /// frames to this node were lost; returns how many were told.
    pub(crate) fn reconnect_all(&self, reason: &str) -> usize {
        let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
        let mut told = 0;
        for to in map.values().flat_map(HashMap::values) {
            to.reconnect(reason);
            told += 1;
        }
        told
    }

    /// Hands `frame` to every socket of `agent` here; returns how many took
    /// it. A socket that cannot misses it: one that stopped is removed when
    /// the Router hears it ended, one whose mailbox is full is told to
    /// reconnect ([`LocalSession::hand`]).
    pub fn deliver(&self, agent: UserId, frame: &Deliver) -> usize {
        let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
        map.get(&agent).map_or(0, |sockets| {
            sockets.values().filter(|to| to.hand(frame)).count()
        })
    }
}

/// The running Conversation and TeamQueue actors of this node, and its
/// agents' sockets.
pub struct Registry {
    /// Conversation actors.
    pub conversations: Slots<ConversationId, Conversation>,
    /// Team queues.
    pub teams: Slots<TeamId, TeamQueue>,
    /// Agents' sockets.
    pub agents: AgentSockets,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry {
            conversations: Slots::new(),
            teams: Slots::new(),
            agents: AgentSockets::default(),
        }
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A stand-in actor that stops when told.
    struct Probe;

    impl Actor for Probe {
        type Context = actix::Context<Self>;
    }

    #[derive(actix::Message)]
    #[rtype(result = "()")]
    struct Stop;

    impl actix::Handler<Stop> for Probe {
        type Result = ();
        fn handle(&mut self, _: Stop, ctx: &mut Self::Context) {
            actix::ActorContext::stop(ctx);
        }
    }

    /// A stand-in socket that counts the frames it was handed and keeps
    /// the orders it was given.
    #[derive(Default)]
    struct Socket {
        frames: std::sync::Arc<std::sync::atomic::AtomicUsize>,
        orders: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    }

    impl Socket {
        fn start_local(&self) -> LocalSession {
            let addr = Socket {
                frames: std::sync::Arc::clone(&self.frames),
                orders: std::sync::Arc::clone(&self.orders),
            }
            .start();
            LocalSession::new(addr.clone().recipient(), addr.recipient())
        }

        fn frames(&self) -> usize {
            self.frames.load(std::sync::atomic::Ordering::SeqCst)
        }
    }

    impl Actor for Socket {
        type Context = actix::Context<Self>;
    }

    impl actix::Handler<Deliver> for Socket {
        type Result = ();
        fn handle(&mut self, _: Deliver, _: &mut Self::Context) {
            self.frames
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    impl actix::Handler<crate::actors::Control> for Socket {
        type Result = ();
        fn handle(&mut self, msg: crate::actors::Control, _: &mut Self::Context) {
            match msg {
                crate::actors::Control::Reconnect(reason) => {
                    self.orders.lock().unwrap().push(reason)
                }
                crate::actors::Control::Requested(_) => {
                    self.frames
                        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
                _ => {}
            }
        }
    }

    /// Lets the stand-in sockets run until `done` holds (or a second passed).
    async fn settle(done: impl Fn() -> bool) {
        for _ in 0..200 {
            if done() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    #[actix::test]
    async fn an_agents_frames_reach_each_of_its_sockets_here_and_no_ended_one() {
        let sockets = AgentSockets::default();
        let stand_ins: Vec<Socket> = (0..3).map(|_| Socket::default()).collect();
        let (ann, bob) = (UserId(1), UserId(2));
        for (session, (agent, socket)) in [
            (10, (ann, &stand_ins[0])),
            (11, (ann, &stand_ins[1])),
            (20, (bob, &stand_ins[2])),
        ] {
            sockets.insert(agent, session, socket.start_local());
        }
        let frame = Deliver("{}".into());
        assert_eq!(sockets.deliver(ann, &frame), 2);
        sockets.remove(ann, 10);
        assert_eq!(sockets.deliver(ann, &frame), 1);
        sockets.remove(ann, 11);
        assert_eq!(sockets.deliver(ann, &frame), 0, "no socket left");
        assert_eq!(sockets.deliver(UserId(3), &frame), 0, "never connected");
        settle(|| stand_ins[0].frames() == 1 && stand_ins[1].frames() == 2).await;
        let got: Vec<usize> = stand_ins.iter().map(Socket::frames).collect();
        assert_eq!(got, vec![1, 2, 0], "bob's socket gets none of ann's frames");
    }

    #[actix::test]
    async fn a_socket_whose_mailbox_is_full_is_told_to_reconnect_not_left_out_silently() {
        let socket = Socket::default();
        let local = socket.start_local();
        // The stand-in does not run until this test awaits: its mailbox
        // (actix's default bound, 16) fills as a busy node's would.
        let frame = Deliver("{}".into());
        let taken = (0..100).filter(|_| local.hand(&frame)).count();
        assert!(taken < 100, "the mailbox never filled");
        settle(|| !socket.orders.lock().unwrap().is_empty()).await;
        assert_eq!(socket.frames(), taken, "every frame handed over arrives");
        let orders = socket.orders.lock().unwrap().clone();
        assert!(!orders.is_empty(), "the socket was never told");
        assert!(
            orders.iter().all(|o| o == super::super::FELL_BEHIND),
            "{orders:?}"
        );
    }

    #[actix::test]
    async fn frames_a_socket_asked_for_pass_a_full_mailbox_without_an_order() {
        // A resume's history is bounded by the request: were it refused at
        // the bound, a socket far behind would reconnect and resume for ever.
        let socket = Socket::default();
        let local = socket.start_local();
        let frame = Deliver("{}".into());
        assert!((0..100).all(|_| local.hand_requested(&frame)));
        settle(|| socket.frames() == 100).await;
        assert_eq!(socket.frames(), 100);
        assert!(socket.orders.lock().unwrap().is_empty());
    }

    #[actix::test]
    async fn a_stopped_actor_is_not_handed_out_and_a_newer_one_is_not_forgotten() {
        let slots: Slots<u32, Probe> = Slots::new();
        let first = Probe.start();
        slots.insert(1, first.clone());
        assert!(slots.live(1) == Some(first.clone()));
        assert_eq!(slots.live_ids(), vec![1]);

        first.send(Stop).await.unwrap();
        // Its mailbox closes once it has stopped.
        for _ in 0..100 {
            if !first.connected() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert!(
            slots.live(1).is_none(),
            "a stopped actor must not be reached"
        );
        assert!(slots.live_ids().is_empty());

        // The Router starts a replacement before it hears the first one
        // passivated: forgetting the old one must keep the new one.
        let second = Probe.start();
        slots.insert(1, second.clone());
        assert!(!slots.remove_if(1, &first));
        assert!(slots.live(1) == Some(second.clone()));
        assert!(slots.remove_if(1, &second));
        assert!(slots.live(1).is_none());
    }
}
