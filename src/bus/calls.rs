//! The messages that may cross nodes, by name, and how a node runs one it
//! received on the local actor it addresses.
//!
//! A message is callable remotely when it implements [`Call`]: it (and its
//! answer) serialise with serde, and it has a stable name. The tables at the
//! end of this file list them per actor; adding a message to an actor that
//! other nodes must reach means adding it there.

use std::pin::Pin;

use actix::dev::ToEnvelope;
use actix::{Actor, Addr, Handler, Message};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::ASK_TIMEOUT;
use super::envelope::RemoteError;
use crate::actors::conversation::{
    Accept, AddNote, Assign, AutoAssign, Close, Conversation, MarkRead, Overflow, Rated,
    Relinquish, Reopen, RequeueFront, SendMessage, SessionsGone, SetTags, SetTyping, Subscribe,
    Transfer, Unsubscribe,
};
use crate::actors::team_queue::{
    Dequeue, Enqueue, RefreshAgent, Reload, Reserve, Settle, SlaAlert, TeamQueue, Unwatch, Watch,
    WatchersGone,
};

/// A message other nodes may send: serialisable, with a stable name.
pub trait Call: Message + Serialize + DeserializeOwned + Send + 'static {
    /// Its name on the wire.
    const NAME: &'static str;
}

/// A call's answer, serialised, once the local actor handled it.
pub type Answer = Pin<Box<dyn Future<Output = Result<Value, RemoteError>> + Send>>;

/// Deserialises `payload` as `M` and enqueues it on `addr` at once (so calls
/// from one sender keep their order); the answer follows.
fn run<A, M>(addr: &Addr<A>, payload: Value) -> Answer
where
    A: Actor + Handler<M>,
    A::Context: ToEnvelope<A, M>,
    M: Call,
    M::Result: Serialize + Send,
{
    match serde_json::from_value::<M>(payload) {
        Err(e) => Box::pin(std::future::ready(Err(RemoteError::BadCall(format!(
            "{}: {e}",
            M::NAME
        ))))),
        Ok(msg) => {
            let request = addr.send(msg).timeout(ASK_TIMEOUT);
            Box::pin(async move {
                let answer = request
                    .await
                    .map_err(|e| RemoteError::Unavailable(e.to_string()))?;
                serde_json::to_value(answer).map_err(|e| RemoteError::BadCall(e.to_string()))
            })
        }
    }
}

macro_rules! calls {
    ($(#[$doc:meta])* $dispatch:ident for $actor:ty { $($msg:ty = $name:literal),* $(,)? }) => {
        $(impl Call for $msg {
            const NAME: &'static str = $name;
        })*

        $(#[$doc])*
        pub fn $dispatch(addr: &Addr<$actor>, call: &str, payload: Value) -> Answer {
            match call {
                $($name => run::<$actor, $msg>(addr, payload),)*
                other => Box::pin(std::future::ready(Err(RemoteError::BadCall(format!(
                    "no call {other:?} on {}", stringify!($actor)
                ))))),
            }
        }
    };
}

calls! {
    /// Runs a call received from another node on a local conversation.
    conversation for Conversation {
        Subscribe = "subscribe",
        Unsubscribe = "unsubscribe",
        SendMessage = "send_message",
        SetTyping = "set_typing",
        MarkRead = "mark_read",
        Accept = "accept",
        Assign = "assign",
        Transfer = "transfer",
        Close = "close",
        Reopen = "reopen",
        AddNote = "add_note",
        AutoAssign = "auto_assign",
        Overflow = "overflow",
        RequeueFront = "requeue_front",
        SessionsGone = "sessions_gone",
        Relinquish = "relinquish",
        SetTags = "set_tags",
        Rated = "rated",
    }
}

calls! {
    /// Runs a call received from another node on a local team queue.
    team for TeamQueue {
        Enqueue = "enqueue",
        Dequeue = "dequeue",
        Watch = "watch",
        Unwatch = "unwatch",
        RefreshAgent = "refresh_agent",
        Reload = "reload",
        SlaAlert = "sla_alert",
        WatchersGone = "watchers_gone",
        Reserve = "reserve",
        Settle = "settle",
    }
}
