//! Load generator for Switchboard: real protocol-v1 clients (REST for setup,
//! WebSockets for traffic), open-loop schedules, HDR latency histograms and
//! exact message accounting.
//!
//! # Layout
//!
//! | module | job |
//! |---|---|
//! | [`client`] | REST calls and sockets of protocol v1; a borrowed parser for server frames |
//! | [`fixture`] | setting a run up through the public API: admin login, a team of the run's own, users, widget visitors; which node of a cluster each customer and staff socket uses (`--placement`) |
//! | [`schedule`] | intended send times (Poisson or fixed gaps), computed independently of the server |
//! | [`stats`] | the message ledger (sent / acked / delivered, loss, duplicates, seq order), HDR histograms, the report as a table or JSON |
//! | [`sys`] | `/proc` samples of the server and the generator (RSS, CPU time), CPU pinning, the open-file limit |
//! | [`scenario`] | one file per scenario: `steady`, `ramp`, `fanout`, `idle`, `reconnect`, `assign`, `backlog`, `inbox`; `world` is the chat set-up the first ones share |
//!
//! Latency is always measured from the *intended* time of an action (when
//! the schedule meant it to happen), never from when the generator got round
//! to it, so a stalled server cannot hide behind a stalled generator
//! (no coordinated omission). `docs/benchmarks.md` explains each scenario
//! and holds the measured figures.

pub mod client;
pub mod fixture;
pub mod scenario;
pub mod schedule;
pub mod stats;
pub mod sys;
