//! The queue between this node's threads and its one publisher task. Every
//! envelope gets its [`Serial`] here, and numbering and queueing happen
//! under one lock: the serials leave in the order they were given. A
//! receiver drops an envelope whose serial does not rise as a copy
//! ([`super::inbound`]), so an envelope numbered before another but queued
//! after it would be lost, not merely late.

use std::sync::Mutex;

use tokio::sync::mpsc;

use super::BusError;
use super::envelope::{ActorKey, Envelope, Serial};
use crate::actors::SessionId;

/// What to do when nobody received a published envelope (its node is gone).
pub(super) enum Unheard {
    /// Fail the waiting call at once instead of after its timeout.
    FailCall(u64),
    /// Tell the actor that sent a frame that these sockets are gone.
    SessionsGone {
        source: ActorKey,
        sessions: Vec<SessionId>,
    },
    /// Nothing.
    Ignore,
}

/// One envelope for the publisher, numbered and encoded.
pub(super) struct Outgoing {
    pub(super) channel: String,
    pub(super) bytes: Vec<u8>,
    pub(super) unheard: Unheard,
}

/// The sending end: numbers envelopes and queues them for the publisher.
pub(super) struct EnvelopeQueue {
    /// This process's stream of envelopes: random at start ([`Serial::run`]).
    run: u64,
    /// The serial of the next envelope queued.
    next: Mutex<u64>,
    tx: mpsc::Sender<Outgoing>,
}

impl EnvelopeQueue {
    /// A queue of at most `capacity` envelopes for stream `run`, and its
    /// receiving end for the publisher.
    pub(super) fn new(run: u64, capacity: usize) -> (Self, mpsc::Receiver<Outgoing>) {
        let (tx, rx) = mpsc::channel(capacity);
        let queue = EnvelopeQueue {
            run,
            next: Mutex::new(1),
            tx,
        };
        (queue, rx)
    }

    /// Numbers `env` and queues it for `channel`. A full (or closed)
    /// queue refuses it and its serial goes to the next envelope.
    pub(super) fn push(
        &self,
        channel: String,
        mut env: Envelope,
        unheard: Unheard,
    ) -> Result<(), BusError> {
        // Encoding stays under the lock: the serial is inside the bytes,
        // and bytes must enter the channel in serial order.
        let mut next = self
            .next
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        env.serial = Some(Serial {
            run: self.run,
            n: *next,
        });
        let bytes = env
            .encode()
            .map_err(|e| BusError::Unavailable(e.to_string()))?;
        self.tx
            .try_send(Outgoing {
                channel,
                bytes,
                unheard,
            })
            .map_err(|_| {
                tracing::warn!("cluster outbox full or closed; envelope dropped");
                BusError::Unavailable("the cluster link is saturated".into())
            })?;
        *next += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::bus::envelope::Body;

    fn reply(id: u64) -> Envelope {
        Envelope::new(
            "node-a",
            Body::Reply {
                id,
                result: Ok(serde_json::Value::Null),
            },
        )
    }

    fn serial_of(out: &Outgoing) -> Serial {
        Envelope::decode(&out.bytes)
            .expect("queued bytes decode")
            .serial
            .expect("queued envelopes are numbered")
    }

    #[test]
    fn serials_rise_in_queue_order_while_threads_push_at_once() {
        const THREADS: u64 = 4;
        const EACH: u64 = 25_000;
        let (queue, mut rx) = EnvelopeQueue::new(7, (THREADS * EACH) as usize);
        std::thread::scope(|s| {
            for t in 0..THREADS {
                let queue = &queue;
                s.spawn(move || {
                    for i in 0..EACH {
                        queue
                            .push("chan".into(), reply(t * EACH + i), Unheard::Ignore)
                            .expect("room for every envelope");
                    }
                });
            }
        });
        let mut last = 0;
        let mut count = 0;
        let mut ids = std::collections::HashSet::new();
        while let Ok(out) = rx.try_recv() {
            let serial = serial_of(&out);
            assert_eq!(serial.run, 7);
            assert!(
                serial.n > last,
                "serial {} queued after {last}: a receiver would drop it as a copy",
                serial.n
            );
            last = serial.n;
            count += 1;
            if let Body::Reply { id, .. } = Envelope::decode(&out.bytes).unwrap().body {
                ids.insert(id);
            }
        }
        assert_eq!(count, THREADS * EACH);
        assert_eq!(ids.len() as u64, THREADS * EACH, "every envelope once");
    }

    #[test]
    fn a_refused_envelope_leaves_its_serial_to_the_next() {
        let (queue, mut rx) = EnvelopeQueue::new(9, 1);
        queue
            .push("chan".into(), reply(1), Unheard::Ignore)
            .unwrap();
        assert!(
            queue
                .push("chan".into(), reply(2), Unheard::Ignore)
                .is_err(),
            "a full queue refuses"
        );
        assert_eq!(serial_of(&rx.try_recv().unwrap()).n, 1);
        queue
            .push("chan".into(), reply(3), Unheard::Ignore)
            .unwrap();
        assert_eq!(serial_of(&rx.try_recv().unwrap()).n, 2);
    }
}
