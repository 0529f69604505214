//! Setting up a run through the public REST API only: the admin logs in,
//! creates a team of its own (named after the run, so runs against one
//! database never share conversations), staff users in it, and widget
//! visitors whose conversations join it.
//!
//! Against a cluster (several `--server` URLs) the set-up calls go to the
//! first node; each customer (its widget session and its socket) and each
//! staff socket goes to the node [`Placement`] picks.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use futures_util::{StreamExt, TryStreamExt};
use serde_json::json;

use crate::client::{self, Api, Audience, Parsed, Socket, Staff, Visitor};

/// Password of every user a run creates (they live in a bench database).
pub const PASSWORD: &str = "loadgen-password-1";

/// Calls in flight while setting up. The server hashes a password with
/// argon2 for every user created and every login, so more would only queue.
const SETUP_CONCURRENCY: usize = 4;

/// Which node of a cluster a customer or a staff socket uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Placement {
    /// Customer `i` on node `i mod N`, staff socket `j` on node `j mod N`
    /// (customers and staff counted separately).
    RoundRobin,
    /// Customers on the first half of the nodes, staff on the second half
    /// (with two nodes: customers on node 0, agents on node 1, so every
    /// message and every assignment crosses the bus: the worst case).
    Split,
}

/// Who a socket or call belongs to, for [`Placement`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// A widget visitor: its `POST /widget/sessions` and its socket.
    Customer,
    /// An agent or supervisor socket.
    Staff,
}

impl Placement {
    /// The node (index into `--server`) of the `i`-th socket of `side` among
    /// `nodes` nodes.
    pub fn node(self, side: Side, i: usize, nodes: usize) -> usize {
        if nodes <= 1 {
            return 0;
        }
        match self {
            Placement::RoundRobin => i % nodes,
            Placement::Split => {
                let customers = nodes / 2;
                match side {
                    Side::Customer => i % customers,
                    Side::Staff => customers + i % (nodes - customers),
                }
            }
        }
    }
}

/// What every scenario needs to reach the server.
#[derive(Debug, Clone)]
pub struct Target {
    /// `http://host:port` of each node (one for a single server); set-up
    /// calls go to the first.
    pub servers: Vec<String>,
    /// Which node each customer and staff socket uses.
    pub placement: Placement,
    /// An admin account of the server.
    pub admin_email: String,
    /// Its password.
    pub admin_password: String,
    /// Loopback source addresses to spread sockets over (empty: let the
    /// kernel choose).
    pub sources: Vec<IpAddr>,
}

/// A run's team and its accounts.
pub struct Fixture {
    /// The REST client of the first node, for set-up.
    pub api: Api,
    /// One REST client per node (the first is `api`).
    nodes: Vec<Api>,
    placement: Placement,
    /// The logged-in admin.
    pub admin: Staff,
    /// Unique tag of this run (in the team name and user e-mails).
    pub run: String,
    /// The run's team.
    pub team_id: i64,
    /// Its name: widget sessions name it as `issue_type` to be routed there.
    pub team_name: String,
    sources: Vec<IpAddr>,
}

impl Fixture {
    /// Logs in as admin and creates the run's team.
    pub async fn new(target: &Target, auto_assign: bool) -> anyhow::Result<Fixture> {
        anyhow::ensure!(!target.servers.is_empty(), "no --server given");
        let mut nodes = Vec::with_capacity(target.servers.len());
        for url in &target.servers {
            nodes.push(Api::new(url).await?);
        }
        let api = nodes[0].clone();
        let admin = api
            .login(&target.admin_email, &target.admin_password)
            .await
            .context("admin login (set --admin-email/--admin-password)")?;
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let run = format!("lg{millis}");
        let team_name = format!("{run}-team");
        let team_id = api.create_team(&admin, &team_name, auto_assign).await?;
        Ok(Fixture {
            api,
            nodes,
            placement: target.placement,
            admin,
            run,
            team_id,
            team_name,
            sources: target.sources.clone(),
        })
    }

    /// Creates `n` users of `role` with `capacity` in the team and logs each
    /// in.
    pub async fn staff(&self, n: usize, role: &str, capacity: u32) -> anyhow::Result<Vec<Staff>> {
        let mut emails = Vec::with_capacity(n);
        // One at a time: concurrent `POST /users` on SQLite fail with 500
        // "database is locked" (see docs/benchmarks.md, "Server issues").
        for i in 0..n {
            let email = format!("{}-{role}{i}@bench.invalid", self.run);
            self.api
                .create_user(&self.admin, &email, PASSWORD, role, capacity, self.team_id)
                .await?;
            emails.push(email);
        }
        futures_util::stream::iter(emails)
            .map(|email| async move { self.api.login(&email, PASSWORD).await })
            .buffered(SETUP_CONCURRENCY)
            .try_collect()
            .await
    }

    /// The node of customer `i` (its widget session and socket).
    pub fn customer_api(&self, i: usize) -> &Api {
        &self.nodes[self.placement.node(Side::Customer, i, self.nodes.len())]
    }

    /// The node of staff socket `i`.
    pub fn staff_api(&self, i: usize) -> &Api {
        &self.nodes[self.placement.node(Side::Staff, i, self.nodes.len())]
    }

    /// Creates `n` widget sessions routed to the team, session `i` on
    /// customer `i`'s node.
    pub async fn visitors(&self, n: usize, concurrency: usize) -> anyhow::Result<Vec<Visitor>> {
        futures_util::stream::iter(0..n)
            .map(|i| self.customer_api(i).widget_session(&self.team_name))
            .buffered(concurrency.max(1))
            .try_collect()
            .await
    }

    /// The source address for the `i`-th socket.
    pub fn source(&self, i: usize) -> Option<IpAddr> {
        if self.sources.is_empty() {
            None
        } else {
            Some(self.sources[i % self.sources.len()])
        }
    }

    /// Opens staff socket `i` (on its node) and sets the user's presence.
    pub async fn staff_socket(
        &self,
        who: &Staff,
        i: usize,
        status: &str,
    ) -> anyhow::Result<Socket> {
        let mut s = client::connect(
            self.staff_api(i),
            Audience::Staff(&who.token),
            self.source(i),
        )
        .await?;
        client::send(
            &mut s.sink,
            &json!({"type": "presence.set", "ref": "p", "status": status}),
        )
        .await?;
        client::wait_for(
            &mut s.stream,
            Duration::from_secs(30),
            |p| matches!(p, Parsed::Frame(f) if f.kind == "ok"),
        )
        .await
        .context("presence.set")?;
        Ok(s)
    }
}

/// `n` loopback source addresses 127.0.0.1, 127.0.0.2, … (Linux routes all
/// of 127.0.0.0/8 to the loopback device).
pub fn loopback_sources(n: u8) -> Vec<IpAddr> {
    (1..=n.max(1))
        .map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 0, i)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_node_takes_everything_whatever_the_placement() {
        for p in [Placement::RoundRobin, Placement::Split] {
            for i in 0..5 {
                assert_eq!(p.node(Side::Customer, i, 1), 0);
                assert_eq!(p.node(Side::Staff, i, 1), 0);
            }
        }
    }

    #[test]
    fn split_puts_customers_on_node_0_and_staff_on_node_1_of_two() {
        let p = Placement::Split;
        let customers: Vec<usize> = (0..4).map(|i| p.node(Side::Customer, i, 2)).collect();
        let staff: Vec<usize> = (0..4).map(|i| p.node(Side::Staff, i, 2)).collect();
        assert_eq!(customers, vec![0, 0, 0, 0]);
        assert_eq!(staff, vec![1, 1, 1, 1]);
        // Three nodes: one for customers, two for staff; four: two and two.
        let staff3: Vec<usize> = (0..4).map(|i| p.node(Side::Staff, i, 3)).collect();
        assert_eq!(staff3, vec![1, 2, 1, 2]);
        let customers4: Vec<usize> = (0..3).map(|i| p.node(Side::Customer, i, 4)).collect();
        assert_eq!(customers4, vec![0, 1, 0]);
        assert_eq!(p.node(Side::Staff, 1, 4), 3);
    }

    #[test]
    fn round_robin_cycles_each_side_over_every_node() {
        let p = Placement::RoundRobin;
        let customers: Vec<usize> = (0..5).map(|i| p.node(Side::Customer, i, 3)).collect();
        assert_eq!(customers, vec![0, 1, 2, 0, 1]);
        assert_eq!(p.node(Side::Staff, 4, 2), 0);
        assert_eq!(p.node(Side::Staff, 5, 2), 1);
    }

    #[test]
    fn loopback_sources_count_up_from_127_0_0_1() {
        let v = loopback_sources(3);
        assert_eq!(v.len(), 3);
        assert_eq!(v[0].to_string(), "127.0.0.1");
        assert_eq!(v[2].to_string(), "127.0.0.3");
        assert_eq!(loopback_sources(0).len(), 1);
    }
}
