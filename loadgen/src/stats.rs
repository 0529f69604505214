//! Measurements: the message ledger (every message sent, acked and delivered,
//! so loss and duplicates are counted, never guessed), HDR latency
//! histograms, and the report printed as a table or as JSON.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

/// Which way a message travels; acks and deliveries are reported per way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Way {
    /// Customer → agent.
    ToAgent,
    /// Agent → customer.
    ToCustomer,
}

impl Way {
    fn label(self) -> &'static str {
        match self {
            Way::ToAgent => "customer->agent",
            Way::ToCustomer => "agent->customer",
        }
    }
}

/// What the ledger knows of one message.
#[derive(Debug)]
struct Entry {
    /// When the schedule meant it to be sent: latencies count from here.
    intended: Instant,
    way: Way,
    conversation_id: i64,
    acks: u32,
    deliveries: u32,
    /// The stored message's id, from its first ack (or resume echo).
    message_id: Option<i64>,
    /// Sent again with the same client id (after a reconnect): repeated
    /// acks naming the same stored message are then expected.
    resent: bool,
}

/// Whether an observation was new, repeated, or about an unknown message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// The first ack (or delivery) of a message the ledger knows.
    First,
    /// A repeat: counted as a duplicate.
    Again,
    /// A message this run never sent (or sent to another conversation).
    Unknown,
    /// A repeated ack of a re-sent message naming the same stored message:
    /// idempotence working, not a duplicate.
    Repeat,
}

/// Latency histograms in microseconds, by name.
#[derive(Debug, Default)]
pub struct Latencies {
    by_name: BTreeMap<String, Histogram<u64>>,
}

impl Latencies {
    /// Records one latency under `name`.
    pub fn record(&mut self, name: &str, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        if !self.by_name.contains_key(name) {
            // 1 µs to 1 h at three significant digits: wide enough for an
            // overloaded server, precise enough for sub-millisecond p50s.
            match Histogram::new_with_bounds(1, 3_600_000_000, 3) {
                Ok(h) => {
                    self.by_name.insert(name.to_string(), h);
                }
                Err(_) => return,
            }
        }
        if let Some(h) = self.by_name.get_mut(name) {
            h.saturating_record(micros.max(1));
        }
    }

    /// The histogram of `name`, if anything was recorded.
    pub fn get(&self, name: &str) -> Option<&Histogram<u64>> {
        self.by_name.get(name)
    }

    /// Merges another set of histograms into this one.
    pub fn merge(&mut self, other: &Latencies) {
        for (name, h) in &other.by_name {
            match self.by_name.get_mut(name) {
                Some(mine) => {
                    // Same bounds on both sides, so adding cannot fail; a
                    // failure would only lose samples of a report.
                    let _ = mine.add(h);
                }
                None => {
                    self.by_name.insert(name.clone(), h.clone());
                }
            }
        }
    }

    /// One summary row per histogram.
    pub fn rows(&self) -> Vec<LatencyRow> {
        self.by_name
            .iter()
            .map(|(name, h)| LatencyRow::of(name, h))
            .collect()
    }
}

/// Percentiles of one histogram, in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct LatencyRow {
    /// What was measured, e.g. `delivery customer->agent`.
    pub name: String,
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Largest sample.
    pub max_ms: f64,
    /// Arithmetic mean.
    pub mean_ms: f64,
}

impl LatencyRow {
    /// Summarises `h` under `name`.
    pub fn of(name: &str, h: &Histogram<u64>) -> LatencyRow {
        let ms = |us: u64| us as f64 / 1000.0;
        LatencyRow {
            name: name.to_string(),
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
            mean_ms: h.mean() / 1000.0,
        }
    }
}

/// The integrity counts of a run: anything but zero in the last six fields is
/// a failure.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Messages written to a socket.
    pub sent: u64,
    /// Messages with at least one `message.ack`.
    pub acked: u64,
    /// Messages with at least one `message.new` at the other party.
    pub delivered: u64,
    /// Sent but never acked.
    pub unacked: u64,
    /// Sent but never delivered to the other party.
    pub undelivered: u64,
    /// Acks beyond the first for one message.
    pub duplicate_acks: u64,
    /// Deliveries beyond the first for one message.
    pub duplicate_deliveries: u64,
    /// Acks or deliveries of messages this run never sent.
    pub unknown: u64,
    /// Per socket and conversation, a `seq` that was not the previous + 1.
    pub seq_breaks: u64,
    /// The first few duplicates and seq breaks, spelled out (client id,
    /// conversation, seq), so a failure can be traced in the server's logs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<String>,
}

/// Most [`Tally::examples`] kept.
const MAX_EXAMPLES: usize = 5;

impl Tally {
    fn example(&mut self, what: impl FnOnce() -> String) {
        if self.examples.len() < MAX_EXAMPLES {
            self.examples.push(what());
        }
    }
}

impl Tally {
    /// True when nothing was lost, repeated, unknown or out of order.
    pub fn clean(&self) -> bool {
        self.unacked == 0
            && self.undelivered == 0
            && self.duplicate_acks == 0
            && self.duplicate_deliveries == 0
            && self.unknown == 0
            && self.seq_breaks == 0
    }

    /// One line per non-zero failure count, for the report.
    pub fn failures(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut push = |n: u64, what: &str| {
            if n > 0 {
                out.push(format!("{n} {what}"));
            }
        };
        push(self.unacked, "messages sent but never acked (lost)");
        push(
            self.undelivered,
            "messages never delivered to the other party (lost)",
        );
        push(self.duplicate_acks, "duplicate acks");
        push(self.duplicate_deliveries, "duplicate deliveries");
        push(
            self.unknown,
            "acks/deliveries of messages this run never sent",
        );
        push(self.seq_breaks, "seq gaps or reorders on a socket");
        for e in &self.examples {
            out.push(format!("e.g. {e}"));
        }
        out
    }
}

/// Every message of a run and what became of it.
#[derive(Debug, Default)]
pub struct Ledger {
    entries: HashMap<String, Entry>,
    /// Last `seq` seen per (socket, conversation), to check order and gaps.
    last_seq: HashMap<(u64, i64), i64>,
    /// Client ids of messages sent but not yet acked or not yet delivered:
    /// the run waits on this reaching zero before it reports.
    outstanding: u64,
    tally: Tally,
    /// Histograms fed by acks and deliveries.
    pub latencies: Latencies,
}

impl Ledger {
    /// A new, empty ledger.
    pub fn new() -> Ledger {
        Ledger::default()
    }

    /// Notes a message written to a socket. A reused `client_msg_id` is a bug
    /// of the load generator, counted as unknown.
    pub fn sent(&mut self, client_msg_id: &str, conversation_id: i64, way: Way, intended: Instant) {
        if self.entries.contains_key(client_msg_id) {
            self.tally.unknown += 1;
            return;
        }
        self.entries.insert(
            client_msg_id.to_string(),
            Entry {
                intended,
                way,
                conversation_id,
                acks: 0,
                deliveries: 0,
                message_id: None,
                resent: false,
            },
        );
        self.tally.sent += 1;
        // One ack and one delivery are still to come.
        self.outstanding += 2;
    }

    /// Notes a `message.ack` for the stored message `message_id`, received
    /// at `now`.
    pub fn acked(
        &mut self,
        client_msg_id: &str,
        conversation_id: i64,
        message_id: i64,
        now: Instant,
    ) -> Seen {
        let Some(e) = self.entries.get_mut(client_msg_id) else {
            self.tally.unknown += 1;
            return Seen::Unknown;
        };
        if e.conversation_id != conversation_id {
            self.tally.unknown += 1;
            return Seen::Unknown;
        }
        e.acks += 1;
        if e.acks > 1 {
            if e.resent && e.message_id == Some(message_id) {
                return Seen::Repeat;
            }
            // Either acked twice without a resend, or a resend stored a
            // second message: both break idempotence.
            self.tally.duplicate_acks += 1;
            let first = e.message_id;
            self.tally.example(|| {
                format!(
                    "ack #{} of {client_msg_id} in conversation {conversation_id} (message {message_id}, first {first:?})",
                    e.acks
                )
            });
            return Seen::Again;
        }
        e.message_id = Some(message_id);
        self.tally.acked += 1;
        self.outstanding -= 1;
        let name = format!("ack {}", e.way.label());
        let latency = now.saturating_duration_since(e.intended);
        self.latencies.record(&name, latency);
        Seen::First
    }

    /// Notes the sender seeing its own message in a `resume` replay: proof
    /// it was committed, so it stands in for an ack lost with the old
    /// socket, and is no duplicate if the ack did arrive.
    pub fn echoed(
        &mut self,
        client_msg_id: &str,
        conversation_id: i64,
        message_id: i64,
        now: Instant,
    ) -> Seen {
        let acks = match self.entries.get(client_msg_id) {
            Some(e) if e.conversation_id == conversation_id => e.acks,
            _ => {
                self.tally.unknown += 1;
                return Seen::Unknown;
            }
        };
        if acks == 0 {
            return self.acked(client_msg_id, conversation_id, message_id, now);
        }
        match self.entries.get(client_msg_id) {
            Some(e) if e.message_id != Some(message_id) => {
                self.tally.duplicate_acks += 1;
                Seen::Again
            }
            _ => Seen::Repeat,
        }
    }

    /// Marks a message as sent again with its client id.
    pub fn resent(&mut self, client_msg_id: &str) {
        if let Some(e) = self.entries.get_mut(client_msg_id) {
            e.resent = true;
        }
    }

    /// Client ids of messages sent in `conversation_id` and not acked yet.
    pub fn unacked_in(&self, conversation_id: i64) -> Vec<String> {
        self.entries
            .iter()
            .filter(|(_, e)| e.conversation_id == conversation_id && e.acks == 0)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// The last seq socket `socket` saw in `conversation_id`.
    pub fn last_seq(&self, socket: u64, conversation_id: i64) -> Option<i64> {
        self.last_seq.get(&(socket, conversation_id)).copied()
    }

    /// Notes a `message.new` of a message sent by this run, received by the
    /// other party at `now`.
    pub fn delivered(&mut self, client_msg_id: &str, conversation_id: i64, now: Instant) -> Seen {
        let Some(e) = self.entries.get_mut(client_msg_id) else {
            self.tally.unknown += 1;
            return Seen::Unknown;
        };
        if e.conversation_id != conversation_id {
            self.tally.unknown += 1;
            return Seen::Unknown;
        }
        e.deliveries += 1;
        if e.deliveries > 1 {
            self.tally.duplicate_deliveries += 1;
            let n = e.deliveries;
            let late = now.saturating_duration_since(e.intended);
            self.tally.example(|| {
                format!(
                    "delivery #{n} of {client_msg_id} in conversation {conversation_id}, {:.1} ms after its send",
                    late.as_secs_f64() * 1000.0
                )
            });
            return Seen::Again;
        }
        self.tally.delivered += 1;
        self.outstanding -= 1;
        let name = format!("delivery {}", e.way.label());
        let latency = now.saturating_duration_since(e.intended);
        self.latencies.record(&name, latency);
        Seen::First
    }

    /// Checks that `seq` follows the last one this socket saw in this
    /// conversation (acks and deliveries share one sequence per socket).
    /// The first seq a socket sees is taken as is: it may join late.
    pub fn seq(&mut self, socket: u64, conversation_id: i64, seq: i64) {
        match self.last_seq.insert((socket, conversation_id), seq) {
            Some(prev) if seq != prev + 1 => {
                self.tally.seq_breaks += 1;
                self.tally.example(|| {
                    format!(
                        "socket {socket}, conversation {conversation_id}: seq {seq} after {prev}"
                    )
                });
            }
            _ => {}
        }
    }

    /// Forgets the seq position of a socket (it reconnected and resumes).
    pub fn forget_socket(&mut self, socket: u64) {
        self.last_seq.retain(|(s, _), _| *s != socket);
    }

    /// Ends a phase: returns its counts (missing acks and deliveries counted
    /// as lost) and histograms and starts afresh, keeping only the per-socket
    /// seq positions, which span phases.
    pub fn take_phase(&mut self) -> (Tally, Latencies) {
        let tally = self.tally();
        let latencies = std::mem::take(&mut self.latencies);
        self.entries.clear();
        self.tally = Tally::default();
        self.outstanding = 0;
        (tally, latencies)
    }

    /// Acks plus deliveries still awaited.
    pub fn outstanding(&self) -> u64 {
        self.outstanding
    }

    /// The counts so far, with every message not yet acked or delivered
    /// counted as lost: call it once the run has waited long enough.
    pub fn tally(&self) -> Tally {
        let mut t = self.tally.clone();
        t.unacked = t.sent - t.acked;
        t.undelivered = t.sent - t.delivered;
        t
    }
}

/// One measured figure of a report (a rate, a memory size, a count).
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    /// What it is, e.g. `sent rate`.
    pub name: String,
    /// Its value.
    pub value: f64,
    /// Its unit, e.g. `msg/s`, `MiB`, `KiB/conn`.
    pub unit: String,
}

/// What a scenario prints: latencies, figures, integrity counts and
/// failures.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// The parameters it ran with.
    pub params: serde_json::Value,
    /// Latency percentiles.
    pub latencies: Vec<LatencyRow>,
    /// Other figures, in the order they were added.
    pub figures: Vec<Figure>,
    /// Message integrity counts, where the scenario sends messages.
    pub tally: Option<Tally>,
    /// Everything that makes the run fail; empty on success.
    pub failures: Vec<String>,
    /// Scenario-specific rows (e.g. one per ramp step), for machines.
    pub details: Vec<serde_json::Value>,
    /// Lines for people: what the figures mean, warnings.
    pub notes: Vec<String>,
}

impl Report {
    /// An empty report for `scenario`.
    pub fn new(scenario: &str, params: serde_json::Value) -> Report {
        Report {
            scenario: scenario.to_string(),
            params,
            latencies: Vec::new(),
            figures: Vec::new(),
            tally: None,
            failures: Vec::new(),
            details: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Adds a figure.
    pub fn figure(&mut self, name: &str, value: f64, unit: &str) {
        self.figures.push(Figure {
            name: name.to_string(),
            value,
            unit: unit.to_string(),
        });
    }

    /// Adds a tally; its failures join the report's.
    pub fn set_tally(&mut self, tally: Tally) {
        self.failures.extend(tally.failures());
        self.tally = Some(tally);
    }

    /// True when the run has nothing to complain about.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// The report for a person: a latency table, figures, counts, verdict.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "== {} {}", self.scenario, self.params);
        if !self.latencies.is_empty() {
            let _ = writeln!(
                out,
                "{:<34} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
                "latency (ms)", "count", "p50", "p90", "p99", "p99.9", "max", "mean"
            );
            for r in &self.latencies {
                let _ = writeln!(
                    out,
                    "{:<34} {:>9} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
                    r.name, r.count, r.p50_ms, r.p90_ms, r.p99_ms, r.p999_ms, r.max_ms, r.mean_ms
                );
            }
        }
        for f in &self.figures {
            let _ = writeln!(out, "{:<34} {:>12.3} {}", f.name, f.value, f.unit);
        }
        if let Some(t) = &self.tally {
            let _ = writeln!(
                out,
                "messages: sent {} acked {} delivered {} | unacked {} undelivered {} dup-acks {} dup-deliveries {} unknown {} seq-breaks {}",
                t.sent,
                t.acked,
                t.delivered,
                t.unacked,
                t.undelivered,
                t.duplicate_acks,
                t.duplicate_deliveries,
                t.unknown,
                t.seq_breaks
            );
        }
        for n in &self.notes {
            let _ = writeln!(out, "note: {n}");
        }
        if self.failures.is_empty() {
            let _ = writeln!(out, "result: PASS");
        } else {
            for f in &self.failures {
                let _ = writeln!(out, "FAILURE: {f}");
            }
            let _ = writeln!(out, "result: FAIL");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]
    use super::*;

    fn at(base: Instant, ms: u64) -> Instant {
        base + Duration::from_millis(ms)
    }

    #[test]
    fn a_message_acked_and_delivered_once_is_clean_and_measured_from_its_intended_time() {
        let t0 = Instant::now();
        let mut l = Ledger::new();
        l.sent("c1-1", 10, Way::ToAgent, t0);
        assert_eq!(l.outstanding(), 2);
        assert_eq!(l.acked("c1-1", 10, 1, at(t0, 3)), Seen::First);
        assert_eq!(l.delivered("c1-1", 10, at(t0, 5)), Seen::First);
        assert_eq!(l.outstanding(), 0);
        let t = l.tally();
        assert!(t.clean(), "{t:?}");
        assert_eq!((t.sent, t.acked, t.delivered), (1, 1, 1));
        let ack = l
            .latencies
            .get("ack customer->agent")
            .expect("ack histogram");
        let del = l
            .latencies
            .get("delivery customer->agent")
            .expect("delivery histogram");
        // Within the histogram's three significant digits.
        assert_eq!(ack.len(), 1);
        assert!(ack.equivalent(ack.max(), 3000), "ack max {}", ack.max());
        assert!(
            del.equivalent(del.max(), 5000),
            "delivery max {}",
            del.max()
        );
    }

    #[test]
    fn a_message_never_acked_or_delivered_counts_as_lost() {
        let t0 = Instant::now();
        let mut l = Ledger::new();
        l.sent("c1-1", 10, Way::ToAgent, t0);
        l.sent("c1-2", 10, Way::ToAgent, t0);
        l.acked("c1-1", 10, 1, t0);
        let t = l.tally();
        assert_eq!(t.unacked, 1);
        assert_eq!(t.undelivered, 2);
        assert!(!t.clean());
        assert_eq!(t.failures().len(), 2);
    }

    #[test]
    fn a_second_ack_or_delivery_is_a_duplicate_and_does_not_count_twice() {
        let t0 = Instant::now();
        let mut l = Ledger::new();
        l.sent("a1-1", 7, Way::ToCustomer, t0);
        l.acked("a1-1", 7, 1, t0);
        assert_eq!(l.acked("a1-1", 7, 1, t0), Seen::Again);
        l.delivered("a1-1", 7, t0);
        assert_eq!(l.delivered("a1-1", 7, t0), Seen::Again);
        let t = l.tally();
        assert_eq!((t.acked, t.delivered), (1, 1));
        assert_eq!((t.duplicate_acks, t.duplicate_deliveries), (1, 1));
        assert!(!t.clean());
        assert_eq!(
            l.latencies.get("ack agent->customer").map(|h| h.len()),
            Some(1)
        );
    }

    #[test]
    fn acks_of_unsent_messages_or_of_another_conversation_are_unknown() {
        let t0 = Instant::now();
        let mut l = Ledger::new();
        assert_eq!(l.acked("nope", 1, 1, t0), Seen::Unknown);
        l.sent("c1-1", 10, Way::ToAgent, t0);
        assert_eq!(l.delivered("c1-1", 11, t0), Seen::Unknown);
        // Reusing a client id is a generator bug and must not pass silently.
        l.sent("c1-1", 10, Way::ToAgent, t0);
        assert_eq!(l.tally().unknown, 3);
        assert_eq!(l.tally().sent, 1);
    }

    #[test]
    fn a_resent_message_acked_again_with_the_same_stored_message_is_a_repeat_not_a_duplicate() {
        let t0 = Instant::now();
        let mut l = Ledger::new();
        l.sent("c1-1", 10, Way::ToAgent, t0);
        l.sent("c1-2", 10, Way::ToAgent, t0);
        // c1-1's ack was lost with its socket; the replay shows it stored.
        assert_eq!(l.unacked_in(10).len(), 2);
        assert_eq!(l.echoed("c1-1", 10, 55, t0), Seen::First);
        l.resent("c1-1");
        assert_eq!(l.acked("c1-1", 10, 55, t0), Seen::Repeat);
        // A resend that got a *different* stored message stored it twice.
        l.resent("c1-2");
        assert_eq!(l.acked("c1-2", 10, 56, t0), Seen::First);
        assert_eq!(l.acked("c1-2", 10, 57, t0), Seen::Again);
        let t = l.tally();
        assert_eq!((t.acked, t.duplicate_acks), (2, 1));
        assert_eq!(l.unacked_in(10), Vec::<String>::new());
        // An echo of a message already acked is no duplicate.
        assert_eq!(l.echoed("c1-1", 10, 55, t0), Seen::Repeat);
        assert_eq!(l.tally().duplicate_acks, 1);
    }

    #[test]
    fn seq_gaps_and_reorders_are_counted_per_socket_and_conversation() {
        let mut l = Ledger::new();
        l.seq(1, 10, 4); // joining late is fine
        l.seq(1, 10, 5);
        l.seq(2, 10, 1); // another socket has its own position
        l.seq(1, 11, 1);
        assert_eq!(l.tally().seq_breaks, 0);
        l.seq(1, 10, 7); // gap
        l.seq(1, 10, 6); // reorder
        assert_eq!(l.tally().seq_breaks, 2);
        assert_eq!(
            l.tally().examples,
            vec![
                "socket 1, conversation 10: seq 7 after 5".to_string(),
                "socket 1, conversation 10: seq 6 after 7".to_string()
            ]
        );
        assert!(
            l.tally()
                .failures()
                .contains(&"e.g. socket 1, conversation 10: seq 7 after 5".to_string())
        );
        l.forget_socket(1);
        l.seq(1, 10, 1); // after a reconnect, resume starts over
        assert_eq!(l.tally().seq_breaks, 2);
    }

    #[test]
    fn the_report_fails_exactly_when_the_tally_has_a_failure() {
        let t0 = Instant::now();
        let mut l = Ledger::new();
        l.sent("c1-1", 10, Way::ToAgent, t0);
        l.acked("c1-1", 10, 1, t0);
        l.delivered("c1-1", 10, t0);
        let mut ok = Report::new("steady", serde_json::json!({}));
        ok.set_tally(l.tally());
        assert!(ok.passed());
        assert!(ok.table().contains("result: PASS"));

        l.delivered("c1-1", 10, t0);
        let mut bad = Report::new("steady", serde_json::json!({}));
        bad.set_tally(l.tally());
        assert!(!bad.passed());
        assert!(bad.table().contains("1 duplicate deliveries"));
        let json = serde_json::to_value(&bad).map_err(|e| e.to_string());
        assert_eq!(
            json.map(|v| v["tally"]["duplicate_deliveries"].clone()),
            Ok(serde_json::json!(1))
        );
    }

    #[test]
    fn a_new_phase_starts_its_counts_afresh_but_keeps_seq_positions() {
        let t0 = Instant::now();
        let mut l = Ledger::new();
        l.sent("c1-1", 10, Way::ToAgent, t0);
        l.seq(1, 10, 1);
        let (t, lat) = l.take_phase();
        assert_eq!((t.sent, t.unacked), (1, 1));
        assert!(lat.rows().is_empty());
        assert_eq!(l.outstanding(), 0);
        assert_eq!(l.tally(), Tally::default());
        l.seq(1, 10, 3);
        assert_eq!(l.tally().seq_breaks, 1);
    }

    #[test]
    fn merged_histograms_hold_the_samples_of_both() {
        let mut a = Latencies::default();
        let mut b = Latencies::default();
        a.record("x", Duration::from_millis(1));
        b.record("x", Duration::from_millis(9));
        b.record("y", Duration::from_millis(2));
        a.merge(&b);
        assert_eq!(a.get("x").map(|h| h.len()), Some(2));
        assert_eq!(a.get("y").map(|h| h.len()), Some(1));
        let rows = a.rows();
        assert_eq!(rows.len(), 2);
        assert!((rows[0].max_ms - 9.0).abs() < 0.01);
    }
}
