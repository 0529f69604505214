//! The waiting list of a team queue, and how a reload from the store merges
//! with changes that arrived while the reload's query ran.
//!
//! A queue reloads from the store often (an agent's load or status changed,
//! an assignment was refused). The query runs while the actor goes on
//! handling messages, so its result can be older than the queue: a
//! conversation committed and enqueued after the query read the table would
//! vanish if the result simply replaced the list, and wait unseen (breaking
//! work conservation). So every change is logged with a number, a reload
//! remembers the number it started at, and its result is applied with the
//! changes logged since replayed on top. A result older than one already
//! applied is dropped.

use std::collections::{BTreeMap, HashMap};

use crate::domain::ConversationId;
use crate::domain::routing::{self, QueuedConversation};

/// One change to the waiting list.
#[derive(Debug, Clone)]
enum Change {
    /// Started (or went back to) waiting.
    Enqueued(QueuedConversation),
    /// Left (taken, moved, closed).
    Left(ConversationId),
}

/// Marks a reload in flight: give it back with the loaded rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadTicket(u64);

/// Where a conversation stands in serving order (`routing::serving_key`).
type Place = (std::cmp::Reverse<i32>, chrono::DateTime<chrono::Utc>, i64);

/// Waiting conversations in serving order, with the change log.
///
/// Kept in an ordered map with an index by id: a draining backlog removes
/// thousands of conversations from a list of thousands (twice each: the
/// assignment's answer and the conversation's dequeue), and a sorted `Vec`
/// made each removal a scan and a shift of the whole list.
#[derive(Debug, Default)]
pub struct Waiting {
    list: BTreeMap<Place, QueuedConversation>,
    places: HashMap<ConversationId, Place>,
    /// Number of the last change.
    seq: u64,
    /// Changes not yet covered by every reload in flight.
    log: Vec<(u64, Change)>,
    /// Start numbers of reloads in flight.
    loading: Vec<u64>,
    /// Start number of the newest reload applied.
    applied: Option<u64>,
}

impl Waiting {
    /// In serving order (priority, then age, then id).
    pub fn list(&self) -> impl Iterator<Item = &QueuedConversation> {
        self.list.values()
    }

    /// The list in serving order with `newcomer` (not in it) at its place:
    /// what a plan walks for a conversation not created yet. Lazy, so a
    /// long backlog is not read to its end.
    pub fn with_newcomer<'a>(
        &'a self,
        newcomer: &'a QueuedConversation,
    ) -> impl Iterator<Item = &'a QueuedConversation> {
        let place = routing::serving_key(newcomer);
        self.list
            .range(..place)
            .map(|(_, c)| c)
            .chain(std::iter::once(newcomer))
            .chain(self.list.range(place..).map(|(_, c)| c))
    }

    /// Whether `id` waits here.
    pub fn contains(&self, id: ConversationId) -> bool {
        self.places.contains_key(&id)
    }

    fn record(&mut self, change: Change) {
        self.seq += 1;
        if !self.loading.is_empty() {
            self.log.push((self.seq, change.clone()));
        }
        self.apply(change);
    }

    fn apply(&mut self, change: Change) {
        match change {
            Change::Enqueued(c) => {
                self.take(c.id);
                let place = routing::serving_key(&c);
                self.places.insert(c.id, place);
                self.list.insert(place, c);
            }
            Change::Left(id) => self.take(id),
        }
    }

    fn take(&mut self, id: ConversationId) {
        if let Some(place) = self.places.remove(&id) {
            self.list.remove(&place);
        }
    }

    /// Replaces the whole list with `rows`.
    fn replace(&mut self, rows: Vec<QueuedConversation>) {
        self.list.clear();
        self.places.clear();
        for c in rows {
            self.apply(Change::Enqueued(c));
        }
    }

    /// `conv` waits here now (replacing an older entry for it).
    pub fn enqueue(&mut self, conv: QueuedConversation) {
        self.record(Change::Enqueued(conv));
    }

    /// `id` no longer waits here; whether it did.
    pub fn remove(&mut self, id: ConversationId) -> bool {
        let was = self.contains(id);
        self.record(Change::Left(id));
        was
    }

    /// A reload starts reading the store now. Each gets its own number, so
    /// of two reloads the later-started one always wins (its agents and
    /// loads are fresher too, even when the waiting list did not change).
    pub fn begin_load(&mut self) -> LoadTicket {
        self.seq += 1;
        self.loading.push(self.seq);
        LoadTicket(self.seq)
    }

    /// A reload's rows arrived (`None`: it failed). Applies them with every
    /// change since the reload began, unless a newer reload was applied
    /// already; returns whether the list was replaced.
    pub fn finish_load(
        &mut self,
        ticket: LoadTicket,
        rows: Option<Vec<QueuedConversation>>,
    ) -> bool {
        let LoadTicket(start) = ticket;
        if let Some(i) = self.loading.iter().position(|s| *s == start) {
            self.loading.swap_remove(i);
        }
        let fresh = self.applied.is_none_or(|a| start > a);
        let replaced = match rows {
            Some(rows) if fresh => {
                self.replace(rows);
                let since: Vec<Change> = self
                    .log
                    .iter()
                    .filter(|(n, _)| *n > start)
                    .map(|(_, c)| c.clone())
                    .collect();
                for c in since {
                    self.apply(c);
                }
                self.applied = Some(start);
                true
            }
            _ => false,
        };
        // Changes every reload in flight has seen are no longer needed.
        match self.loading.iter().min() {
            Some(oldest) => {
                let oldest = *oldest;
                self.log.retain(|(n, _)| *n > oldest);
            }
            None => self.log.clear(),
        }
        replaced
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Duration, Utc};
    use std::collections::BTreeMap;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default()
    }

    fn conv(id: i64) -> QueuedConversation {
        QueuedConversation {
            id: ConversationId(id),
            priority: 0,
            waiting_since: t0() + Duration::seconds(id),
            required: BTreeMap::new(),
        }
    }

    fn ids(w: &Waiting) -> Vec<i64> {
        w.list().map(|c| c.id.0).collect()
    }

    #[test]
    fn a_newcomer_is_walked_at_its_place_in_serving_order() {
        let mut w = Waiting::default();
        for id in [1, 2, 3] {
            w.enqueue(conv(id));
        }
        let urgent = QueuedConversation {
            priority: 5,
            ..conv(10)
        };
        let walked =
            |n: &QueuedConversation| -> Vec<i64> { w.with_newcomer(n).map(|c| c.id.0).collect() };
        assert_eq!(
            walked(&urgent),
            vec![10, 1, 2, 3],
            "higher priority goes first"
        );
        assert_eq!(walked(&conv(10)), vec![1, 2, 3, 10], "the newest goes last");
        let between = QueuedConversation {
            waiting_since: t0() + Duration::milliseconds(2500),
            ..conv(10)
        };
        assert_eq!(walked(&between), vec![1, 2, 10, 3]);
    }

    #[test]
    fn a_conversation_enqueued_during_a_reload_survives_its_stale_result() {
        let mut w = Waiting::default();
        w.enqueue(conv(1));
        let ticket = w.begin_load();
        // Committed after the reload's query read the table:
        w.enqueue(conv(2));
        assert!(w.finish_load(ticket, Some(vec![conv(1)])));
        assert_eq!(ids(&w), vec![1, 2]);
    }

    #[test]
    fn a_conversation_that_left_during_a_reload_does_not_come_back() {
        let mut w = Waiting::default();
        w.enqueue(conv(1));
        w.enqueue(conv(2));
        let ticket = w.begin_load();
        assert!(w.remove(ConversationId(1)));
        assert!(w.finish_load(ticket, Some(vec![conv(1), conv(2)])));
        assert_eq!(ids(&w), vec![2]);
    }

    #[test]
    fn of_two_reloads_without_changes_between_the_later_started_wins() {
        let mut w = Waiting::default();
        let first = w.begin_load();
        let second = w.begin_load();
        assert!(w.finish_load(second, Some(vec![conv(1)])));
        assert!(
            !w.finish_load(first, Some(vec![])),
            "stale: started earlier"
        );
        assert_eq!(ids(&w), vec![1]);
    }

    #[test]
    fn an_older_reload_finishing_last_is_dropped_and_failures_change_nothing() {
        let mut w = Waiting::default();
        let old = w.begin_load();
        w.enqueue(conv(3));
        let new = w.begin_load();
        assert!(w.finish_load(new, Some(vec![conv(3), conv(4)])));
        assert!(!w.finish_load(old, Some(vec![])));
        assert_eq!(ids(&w), vec![3, 4]);
        let failed = w.begin_load();
        assert!(!w.finish_load(failed, None));
        assert_eq!(ids(&w), vec![3, 4]);
        assert!(w.log.is_empty(), "nothing in flight, nothing kept");
    }

    #[derive(Debug, Clone)]
    enum Op {
        Enqueue(i64),
        Remove(i64),
        Begin,
        /// Finish the `n`th reload in flight with the store as it was at a
        /// point between its start and now (`at` picks which).
        Finish(usize, usize),
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            (1i64..6).prop_map(Op::Enqueue),
            (1i64..6).prop_map(Op::Remove),
            Just(Op::Begin),
            (0usize..4, 0usize..8).prop_map(|(n, at)| Op::Finish(n, at)),
        ]
    }

    proptest::proptest! {
        /// Whatever order reloads start and finish in, and however stale
        /// their rows are (any state since they started), the list always
        /// equals what the changes made of it.
        #[test]
        fn reloads_never_lose_or_resurrect_a_conversation(ops in proptest::collection::vec(op(), 0..60)) {
            let mut w = Waiting::default();
            let mut truth: Vec<i64> = Vec::new();
            // The store's waiting set after each change (index = change number).
            let mut history: Vec<Vec<i64>> = vec![Vec::new()];
            let mut in_flight: Vec<(LoadTicket, usize)> = Vec::new();
            for op in ops {
                match op {
                    Op::Enqueue(id) => {
                        // Priorities and ages that disagree with ids, so
                        // serving order is not insertion or id order.
                        let mut c = conv(id);
                        c.priority = i32::try_from(id % 3).unwrap_or(0);
                        c.waiting_since = t0() - Duration::seconds(id * 7 % 5);
                        w.enqueue(c);
                        truth.retain(|t| *t != id);
                        truth.push(id);
                        history.push(truth.clone());
                    }
                    Op::Remove(id) => {
                        w.remove(ConversationId(id));
                        truth.retain(|t| *t != id);
                        history.push(truth.clone());
                    }
                    Op::Begin => in_flight.push((w.begin_load(), history.len() - 1)),
                    Op::Finish(n, at) if !in_flight.is_empty() => {
                        let (ticket, start) = in_flight.remove(n % in_flight.len());
                        let point = start + at % (history.len() - start);
                        let rows = history[point].iter().map(|id| conv(*id)).collect();
                        w.finish_load(ticket, Some(rows));
                    }
                    Op::Finish(..) => {}
                }
                // Team queues plan over the list as it stands
                // (`routing::plan_in_order`): it is always in serving order.
                let list: Vec<&QueuedConversation> = w.list().collect();
                proptest::prop_assert!(list
                    .windows(2)
                    .all(|p| routing::serving_order(p[0], p[1]).is_lt()));
                proptest::prop_assert_eq!(w.places.len(), list.len(), "the id index matches the list");
                let mut want = truth.clone();
                want.sort_unstable();
                let mut got = ids(&w);
                got.sort_unstable();
                proptest::prop_assert_eq!(got, want);
            }
        }
    }

    #[test]
    fn the_list_stays_in_serving_order() {
        let mut w = Waiting::default();
        w.enqueue(conv(5));
        let mut urgent = conv(9);
        urgent.priority = 3;
        w.enqueue(urgent);
        w.enqueue(conv(2));
        assert_eq!(ids(&w), vec![9, 2, 5]);
    }
}
