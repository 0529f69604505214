//! The Redis transport: how the nodes of a cluster address each other's
//! actors. The database stays the source of truth; Redis only says who
//! hosts what and carries envelopes between nodes.
//!
//! - **Node lease**: `{p}:live:{node}` is set with a TTL of `lease` and
//!   renewed every `renew` while the node runs. A node that dies (killed,
//!   not shut down) lapses within `lease`.
//! - **Directory**: `{p}:owner:{actor}` names the node hosting that actor.
//!   An entry counts only while its node's lease lives, so a dead node's
//!   actors are claimed by the next node that needs them (one Lua script,
//!   atomic). Graceful shutdown deletes the node's entries at once.
//! - **Fencing**: a conversation's writes are conditional on the token its
//!   actor took from the database when it started (`owner_token`), so a
//!   node that lost its entry without noticing cannot write any more.
//! - **Channels**: each node subscribes to `{p}:node:{node}` and to the
//!   broadcast `{p}:all`; one task publishes everything this node sends,
//!   in order, over one connection (what piles up during a round trip goes
//!   as one pipeline), so frames of one conversation reach a remote socket
//!   in the order they were sent.
//! - **Presence**: `{p}:agent:{id}` is a sorted set of the nodes holding a
//!   socket of that agent (scored by expiry), so an agent goes offline
//!   only when its last socket anywhere is gone.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::Recipient;
use deadpool_redis::redis::{self, AsyncCommands};
use futures_util::StreamExt;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use super::envelope::{ActorKey, AgentBroadcast, Body, Envelope, RemoteError};
use super::envelope_queue::{EnvelopeQueue, Outgoing, Unheard};
use super::inbound::SeenSerials;
use super::{Bus, BusError};
use crate::actors::{Control, SessionId};
use crate::domain::UserId;

/// Envelopes waiting for the publisher; beyond this a node whose Redis is
/// gone drops (and logs) what it cannot send rather than grow without end.
const OUTBOX: usize = 100_000;
/// Most envelopes in one pipeline of the publisher.
const PUBLISH_BATCH: usize = 256;
/// Longest pause between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Longest a single Redis operation may take: a dead connection must not
/// stall the lease keeper (or a resolution) behind it.
const OP_TIMEOUT: Duration = Duration::from_secs(2);

/// Claims an actor for a node: keeps a live owner, else takes it.
const CLAIM: &str = r"
local v = redis.call('GET', KEYS[1])
if v then
  if v == ARGV[1] then return v end
  if redis.call('EXISTS', ARGV[2] .. v) == 1 then return v end
end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
";

/// Deletes a directory entry only if it is still this node's.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// Why the cluster transport could not start or act.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The URL or pool settings are unusable.
    #[error("redis: {0}")]
    Config(String),
    /// Redis refused or is unreachable.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Redis did not answer in time.
    #[error("redis did not answer within {OP_TIMEOUT:?}")]
    Timeout,
    /// No pooled connection.
    #[error("redis pool: {0}")]
    Pool(#[from] deadpool_redis::PoolError),
}

impl From<ClusterError> for BusError {
    fn from(e: ClusterError) -> Self {
        BusError::Unavailable(e.to_string())
    }
}

/// How a cluster node talks to Redis.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// `redis://…`.
    pub url: String,
    /// Prefix of every key and channel (several clusters may share a Redis).
    pub prefix: String,
    /// How long a node's lease lives without renewal.
    pub lease: Duration,
    /// How often it is renewed.
    pub renew: Duration,
}

/// This node's end of the cluster.
pub struct Cluster {
    node: String,
    config: ClusterConfig,
    client: redis::Client,
    pool: deadpool_redis::Pool,
    /// Numbers every envelope this node sends and queues it for the
    /// publisher, in one order.
    outbox: EnvelopeQueue,
    /// Taken by the publisher task when it starts.
    outbox_rx: Mutex<Option<mpsc::Receiver<Outgoing>>>,
    next_call: AtomicU64,
    pending: Mutex<HashMap<u64, oneshot::Sender<Result<Value, RemoteError>>>>,
    /// Actors this node claimed (their directory entries name it).
    hosted: Mutex<HashSet<ActorKey>>,
    /// Remote nodes hosting conversations or queues that local sockets
    /// follow: if one dies, those sockets are told to reconnect.
    followed: Mutex<HashMap<String, HashMap<SessionId, Recipient<Control>>>>,
    /// Agents with a socket on this node (their presence is refreshed).
    agents: Mutex<HashSet<UserId>>,
    subscribed: AtomicBool,
    /// When the node lease was last renewed.
    renewed: Mutex<Option<Instant>>,
}

/// A key [`Cluster::release`] took out of `hosted` before Redis answered.
/// If the release is dropped half-way (it runs in its actor's context, and
/// a node shutting down stops that context), the directory entry still
/// names this node: the key goes back into `hosted` so [`Cluster::leave`]
/// releases it, instead of the entry lingering until its lease lapses.
struct Unreleased<'a> {
    hosted: &'a Mutex<HashSet<ActorKey>>,
    key: Option<ActorKey>,
}

impl<'a> Unreleased<'a> {
    fn new(hosted: &'a Mutex<HashSet<ActorKey>>, key: ActorKey) -> Self {
        Unreleased {
            hosted,
            key: Some(key),
        }
    }

    /// Redis answered (or the attempt ended): nothing to put back.
    fn done(mut self) {
        self.key = None;
    }
}

impl Drop for Unreleased<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            lock(self.hosted).insert(key);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned lock only means another thread panicked mid-update of a
    // plain map; the map itself is still usable.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Cluster {
    /// Connects (checking Redis answers) without starting anything.
    pub async fn connect(node: &str, config: ClusterConfig) -> Result<Arc<Cluster>, ClusterError> {
        if node.contains(['|', ' ']) {
            return Err(ClusterError::Config(format!(
                "node id {node:?} may not contain '|' or spaces"
            )));
        }
        let client = redis::Client::open(config.url.as_str())?;
        let mut pool_config = deadpool_redis::Config::from_url(config.url.clone());
        pool_config.pool = Some(deadpool_redis::PoolConfig {
            timeouts: deadpool_redis::Timeouts {
                wait: Some(OP_TIMEOUT),
                create: Some(OP_TIMEOUT),
                recycle: Some(OP_TIMEOUT),
            },
            ..deadpool_redis::PoolConfig::default()
        });
        let pool = pool_config
            .create_pool(Some(deadpool_redis::Runtime::Tokio1))
            .map_err(|e| ClusterError::Config(e.to_string()))?;
        let mut conn = pool.get().await?;
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        let (outbox, rx) = EnvelopeQueue::new(uuid::Uuid::new_v4().as_u64_pair().0, OUTBOX);
        Ok(Arc::new(Cluster {
            node: node.to_owned(),
            config,
            client,
            pool,
            outbox,
            outbox_rx: Mutex::new(Some(rx)),
            next_call: AtomicU64::new(1),
            pending: Mutex::new(HashMap::new()),
            hosted: Mutex::new(HashSet::new()),
            followed: Mutex::new(HashMap::new()),
            agents: Mutex::new(HashSet::new()),
            subscribed: AtomicBool::new(false),
            renewed: Mutex::new(None),
        }))
    }

    fn key(&self, rest: impl std::fmt::Display) -> String {
        format!("{}:{rest}", self.config.prefix)
    }

    fn node_channel(&self, node: &str) -> String {
        self.key(format_args!("node:{node}"))
    }

    /// Starts the publisher, the subscriber and the lease keeper on the
    /// current runtime. The node lease is taken before this returns.
    pub async fn start(self: &Arc<Self>, bus: Bus) -> Result<(), ClusterError> {
        self.renew_lease().await?;
        let Some(rx) = lock(&self.outbox_rx).take() else {
            return Ok(());
        };
        actix_rt::spawn(publisher(self.clone(), bus.clone(), rx));
        actix_rt::spawn(subscriber(self.clone(), bus.clone()));
        actix_rt::spawn(keeper(self.clone(), bus));
        Ok(())
    }

    /// Connected to Redis and holding a fresh lease: `/readyz`.
    pub fn is_ready(&self) -> bool {
        self.subscribed.load(Ordering::Relaxed)
            && lock(&self.renewed).is_some_and(|t| t.elapsed() < self.config.lease)
    }

    /// Sends a call to `node` now (so calls keep their order); with
    /// `reply`, the receiver gets the answer.
    pub(super) fn send_call(
        &self,
        node: &str,
        to: ActorKey,
        call: &str,
        payload: Value,
        reply: bool,
    ) -> Result<Option<oneshot::Receiver<Result<Value, RemoteError>>>, BusError> {
        let (id, rx) = if reply {
            let id = self.next_call.fetch_add(1, Ordering::Relaxed);
            let (tx, rx) = oneshot::channel();
            lock(&self.pending).insert(id, tx);
            (id, Some(rx))
        } else {
            (0, None)
        };
        let env = Envelope::new(
            &self.node,
            Body::Call {
                id,
                to,
                call: call.to_owned(),
                payload,
            },
        );
        let unheard = if reply {
            Unheard::FailCall(id)
        } else {
            Unheard::Ignore
        };
        if let Err(e) = self.outbox.push(self.node_channel(node), env, unheard) {
            lock(&self.pending).remove(&id);
            return Err(e);
        }
        Ok(rx)
    }

    /// One frame for several sockets of `node`.
    pub(super) fn send_deliver(
        &self,
        node: &str,
        sessions: Vec<SessionId>,
        frame: &str,
        source: Option<ActorKey>,
        pace: super::Pace,
    ) {
        let unheard = match source {
            Some(source) => Unheard::SessionsGone {
                source,
                sessions: sessions.clone(),
            },
            None => Unheard::Ignore,
        };
        let env = Envelope::new(
            &self.node,
            Body::Deliver {
                source,
                sessions,
                frame: frame.to_owned(),
                pace,
            },
        );
        let _ = self.outbox.push(self.node_channel(node), env, unheard);
    }

    /// Something for an agent's sockets on every node.
    pub(super) fn broadcast_agent(&self, agent: UserId, event: AgentBroadcast) {
        let env = Envelope::new(&self.node, Body::Agent { agent, event });
        let _ = self.outbox.push(self.key("all"), env, Unheard::Ignore);
    }

    /// The node hosting `key`, claiming it for this node when no live node
    /// does.
    pub(super) async fn claim(&self, key: ActorKey) -> Result<String, BusError> {
        let owner: String = bounded(async {
            let mut conn = self.pool.get().await?;
            Ok(redis::Script::new(CLAIM)
                .key(self.key(format_args!("owner:{key}")))
                .arg(&self.node)
                .arg(self.key("live:"))
                .invoke_async(&mut conn)
                .await?)
        })
        .await?;
        tracing::debug!(actor = %key, %owner, "claimed");
        if owner == self.node {
            lock(&self.hosted).insert(key);
        }
        Ok(owner)
    }

    /// This node no longer hosts `key` (passivated, stopped).
    pub async fn release(&self, key: ActorKey) {
        lock(&self.hosted).remove(&key);
        let unfinished = Unreleased::new(&self.hosted, key);
        let res: Result<i64, ClusterError> = bounded(async {
            let mut conn = self.pool.get().await?;
            Ok(redis::Script::new(RELEASE)
                .key(self.key(format_args!("owner:{key}")))
                .arg(&self.node)
                .invoke_async(&mut conn)
                .await?)
        })
        .await;
        unfinished.done();
        if let Err(e) = res {
            tracing::warn!(actor = %key, error = %e, "could not release directory entry");
        }
    }

    /// Graceful shutdown: every entry of this node and its lease go at
    /// once, so other nodes take over without waiting for the lease.
    pub async fn leave(&self) {
        let keys: Vec<ActorKey> = lock(&self.hosted).iter().copied().collect();
        for key in keys {
            self.release(key).await;
        }
        let agents: Vec<UserId> = lock(&self.agents).drain().collect();
        let res = bounded(async {
            let mut conn = self.pool.get().await?;
            for a in agents {
                let _: i64 = conn
                    .zrem(self.key(format_args!("agent:{a}")), &self.node)
                    .await?;
            }
            let _: i64 = conn
                .del(self.key(format_args!("live:{}", self.node)))
                .await?;
            Ok(())
        })
        .await;
        if let Err(e) = res {
            tracing::warn!(error = %e, "could not clear this node's lease at shutdown");
        }
    }

    /// Local sockets following an actor hosted on `node`.
    pub(super) fn follow(&self, node: &str, session: SessionId, control: Recipient<Control>) {
        if node == self.node {
            return;
        }
        lock(&self.followed)
            .entry(node.to_owned())
            .or_default()
            .insert(session, control);
    }

    /// A local socket closed.
    pub(super) fn forget_session(&self, session: SessionId) {
        let mut f = lock(&self.followed);
        for sessions in f.values_mut() {
            sessions.remove(&session);
        }
        f.retain(|_, s| !s.is_empty());
    }

    /// An agent has a socket here now.
    pub async fn agent_here(&self, agent: UserId) -> Result<(), BusError> {
        lock(&self.agents).insert(agent);
        let expiry = now_ms() + i64::try_from(self.config.lease.as_millis()).unwrap_or(i64::MAX);
        bounded(async {
            let mut conn = self.pool.get().await?;
            let _: i64 = conn
                .zadd(self.key(format_args!("agent:{agent}")), &self.node, expiry)
                .await?;
            Ok(())
        })
        .await?;
        Ok(())
    }

    /// The agent's last socket here closed.
    pub async fn agent_gone(&self, agent: UserId) -> Result<(), BusError> {
        lock(&self.agents).remove(&agent);
        bounded(async {
            let mut conn = self.pool.get().await?;
            let _: i64 = conn
                .zrem(self.key(format_args!("agent:{agent}")), &self.node)
                .await?;
            Ok(())
        })
        .await?;
        Ok(())
    }

    /// Whether another live node holds a socket of the agent.
    pub async fn agent_elsewhere(&self, agent: UserId) -> Result<bool, BusError> {
        let key = self.key(format_args!("agent:{agent}"));
        let nodes: Vec<String> = bounded(async {
            let mut conn = self.pool.get().await?;
            let _: i64 = conn.zrembyscore(&key, "-inf", now_ms()).await?;
            Ok(conn.zrange(&key, 0, -1).await?)
        })
        .await?;
        Ok(nodes.iter().any(|n| *n != self.node))
    }

    /// Renews this node's lease and the presence of its agents.
    async fn renew_lease(&self) -> Result<(), ClusterError> {
        bounded(self.renew_lease_now()).await
    }

    async fn renew_lease_now(&self) -> Result<(), ClusterError> {
        let ms = u64::try_from(self.config.lease.as_millis()).unwrap_or(u64::MAX);
        let mut conn = self.pool.get().await?;
        let _: () = redis::cmd("SET")
            .arg(self.key(format_args!("live:{}", self.node)))
            .arg(1)
            .arg("PX")
            .arg(ms)
            .query_async(&mut conn)
            .await?;
        let agents: Vec<UserId> = lock(&self.agents).iter().copied().collect();
        if !agents.is_empty() {
            let expiry = now_ms() + i64::try_from(ms).unwrap_or(i64::MAX);
            let mut pipe = redis::pipe();
            for a in agents {
                pipe.zadd(self.key(format_args!("agent:{a}")), &self.node, expiry)
                    .ignore();
            }
            let _: () = pipe.query_async(&mut conn).await?;
        }
        Ok(())
    }

    /// After the lease lapsed (Redis unreachable for longer than `lease`),
    /// another node may have claimed what this one hosts: whatever is not
    /// ours any more is stopped here.
    async fn resync(&self, bus: &Bus) -> Result<(), ClusterError> {
        let hosted = lock(&self.hosted).len();
        let budget = OP_TIMEOUT + Duration::from_millis(u64::try_from(hosted).unwrap_or(u64::MAX));
        tokio::time::timeout(budget, self.resync_now(bus))
            .await
            .map_err(|_| ClusterError::Timeout)?
    }

    async fn resync_now(&self, bus: &Bus) -> Result<(), ClusterError> {
        let hosted: Vec<ActorKey> = lock(&self.hosted).iter().copied().collect();
        let mut conn = self.pool.get().await?;
        for key in hosted {
            let owner: Option<String> = conn.get(self.key(format_args!("owner:{key}"))).await?;
            match owner {
                Some(n) if n == self.node => {}
                None => {
                    // Nobody took it: still ours.
                    let _: () = conn
                        .set(self.key(format_args!("owner:{key}")), &self.node)
                        .await?;
                }
                Some(other) => {
                    tracing::warn!(actor = %key, now_on = %other, "lost an actor while cut off from Redis; stopping it here");
                    lock(&self.hosted).remove(&key);
                    bus.relinquish_local(key);
                }
            }
        }
        Ok(())
    }

    /// This node missed what other nodes published to it (its subscription
    /// was down): every local socket following an actor elsewhere is told
    /// to reconnect, and its `resume` fetches what it missed. The hosts
    /// dropped these sockets when nobody heard their frames, so without
    /// this they would stay open and hear nothing more.
    fn followers_resume(&self) {
        let followed = std::mem::take(&mut *lock(&self.followed));
        let sockets: usize = followed.values().map(HashMap::len).sum();
        if sockets > 0 {
            tracing::warn!(
                sockets,
                "frames to this node were lost while it was cut off from Redis; its followers reconnect"
            );
        }
        for control in followed.into_values().flat_map(HashMap::into_values) {
            let _ = control.try_send(Control::Reconnect(LOST_FRAMES.into()));
        }
    }

    /// Nodes that local sockets follow and that are gone: their followers
    /// are told to reconnect (the conversation continues elsewhere).
    async fn check_followed(&self) -> Result<(), ClusterError> {
        bounded(self.check_followed_now()).await
    }

    async fn check_followed_now(&self) -> Result<(), ClusterError> {
        let nodes: Vec<String> = lock(&self.followed).keys().cloned().collect();
        if nodes.is_empty() {
            return Ok(());
        }
        let mut conn = self.pool.get().await?;
        for node in nodes {
            let alive: bool = conn.exists(self.key(format_args!("live:{node}"))).await?;
            if !alive {
                let followers = lock(&self.followed).remove(&node).unwrap_or_default();
                tracing::warn!(%node, sockets = followers.len(), "a node hosting followed actors is gone; its followers reconnect");
                for control in followers.values() {
                    let _ = control.try_send(Control::Reconnect(
                        "the node serving this conversation stopped; reconnect".into(),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The close reason of a socket that may have missed frames while its node
/// was cut off from Redis.
pub const LOST_FRAMES: &str =
    "this node lost contact with the cluster for a while; reconnect and resume";

/// Runs one Redis operation with a bound on its duration.
async fn bounded<T>(f: impl Future<Output = Result<T, ClusterError>>) -> Result<T, ClusterError> {
    tokio::time::timeout(OP_TIMEOUT, f)
        .await
        .map_err(|_| ClusterError::Timeout)?
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(100u64.saturating_mul(1 << attempt.min(6))).min(MAX_BACKOFF)
}

/// Publishes everything this node sends, in order, over one connection:
/// what waits when a round trip ends goes in the next one, as one
/// pipeline (Redis runs its commands in order). One `PUBLISH` per round
/// trip capped a node at a few thousand envelopes a second, and two nodes
/// at 2,000 msg/s queued ~0.5 s behind it (docs/benchmarks.md §4k).
async fn publisher(cluster: Arc<Cluster>, bus: Bus, mut rx: mpsc::Receiver<Outgoing>) {
    let mut attempt = 0;
    let mut conn = None;
    let mut batch: Vec<Outgoing> = Vec::with_capacity(PUBLISH_BATCH);
    while rx.recv_many(&mut batch, PUBLISH_BATCH).await > 0 {
        loop {
            if conn.is_none() {
                match cluster.client.get_multiplexed_async_connection().await {
                    Ok(c) => {
                        attempt = 0;
                        conn = Some(c);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cluster publisher cannot reach Redis; retrying");
                        tokio::time::sleep(backoff(attempt)).await;
                        attempt += 1;
                        continue;
                    }
                }
            }
            let Some(c) = conn.as_mut() else { continue };
            let mut pipe = redis::pipe();
            for out in &batch {
                pipe.publish(&out.channel, &out.bytes);
            }
            let res: Result<Vec<i64>, ClusterError> =
                bounded(async { Ok(pipe.query_async(c).await?) }).await;
            match res {
                Ok(heard) => {
                    attempt = 0;
                    // `drain(..)` empties the batch even past a short answer.
                    for (out, receivers) in batch.drain(..).zip(heard) {
                        if receivers == 0 {
                            unheard(&cluster, &bus, out.unheard);
                        }
                    }
                    break;
                }
                Err(e) => {
                    // The whole batch again: what went out before the
                    // failure arrives twice, and receivers drop the copies
                    // by their serials.
                    tracing::warn!(error = %e, envelopes = batch.len(), "publish failed; reconnecting");
                    conn = None;
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
            }
        }
    }
}

fn unheard(cluster: &Cluster, bus: &Bus, what: Unheard) {
    match what {
        Unheard::FailCall(id) => {
            if let Some(tx) = lock(&cluster.pending).remove(&id) {
                let _ = tx.send(Err(RemoteError::NotHere));
            }
        }
        Unheard::SessionsGone { source, sessions } => bus.sessions_gone(source, sessions),
        Unheard::Ignore => {}
    }
}

/// Receives this node's envelopes and the broadcasts; reconnects with
/// backoff when Redis goes away, then resynchronises.
async fn subscriber(cluster: Arc<Cluster>, bus: Bus) {
    let mut attempt = 0;
    let mut reconnect = false;
    // Kept across reconnections: a copy may come on the next subscription.
    let mut seen = SeenSerials::default();
    loop {
        let pubsub = async {
            let mut p = cluster.client.get_async_pubsub().await?;
            p.subscribe(cluster.node_channel(&cluster.node)).await?;
            p.subscribe(cluster.key("all")).await?;
            Ok::<_, redis::RedisError>(p)
        }
        .await;
        let mut pubsub = match pubsub {
            Ok(p) => p,
            Err(e) => {
                cluster.subscribed.store(false, Ordering::Relaxed);
                tracing::warn!(error = %e, "cluster subscriber cannot reach Redis; retrying");
                tokio::time::sleep(backoff(attempt)).await;
                attempt += 1;
                continue;
            }
        };
        if reconnect {
            tracing::info!("cluster subscriber reconnected");
            if let Err(e) = cluster.resync(&bus).await {
                tracing::warn!(error = %e, "resync after reconnect failed");
            }
            // Frames published to this node while it was unsubscribed are
            // gone, and their senders took its sockets for closed.
            cluster.followers_resume();
            // An agent's events (assignments, follows) cross nodes too.
            let agents = bus.inner.registry.agents.reconnect_all(LOST_FRAMES);
            if agents > 0 {
                tracing::warn!(
                    sockets = agents,
                    "agent sockets here may have missed their events; they reconnect"
                );
            }
        }
        attempt = 0;
        cluster.subscribed.store(true, Ordering::Relaxed);
        let mut router = super::inbound::Inbound::new(bus.clone(), cluster.clone());
        let mut stream = pubsub.on_message();
        while let Some(msg) = stream.next().await {
            match Envelope::decode(msg.get_payload_bytes()) {
                Ok(env) if !seen.first_time(&env.from, env.serial) => {
                    tracing::debug!(from = %env.from, serial = ?env.serial, "dropped a copy of an envelope");
                }
                Ok(env) => router.handle(env).await,
                Err(e) => tracing::warn!(error = %e, "dropped an envelope"),
            }
        }
        drop(stream);
        cluster.subscribed.store(false, Ordering::Relaxed);
        tracing::warn!("cluster subscription lost; reconnecting");
        reconnect = true;
    }
}

/// Keeps the node lease, and watches the nodes local sockets follow.
async fn keeper(cluster: Arc<Cluster>, bus: Bus) {
    let mut tick = tokio::time::interval(cluster.config.renew);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let lapsed = lock(&cluster.renewed).is_none_or(|t| t.elapsed() >= cluster.config.lease);
        match cluster.renew_lease().await {
            Ok(()) => {
                *lock(&cluster.renewed) = Some(Instant::now());
                if lapsed && let Err(e) = cluster.resync(&bus).await {
                    tracing::warn!(error = %e, "resync after a lapsed lease failed");
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not renew the node lease"),
        }
        if let Err(e) = cluster.check_followed().await {
            tracing::debug!(error = %e, "could not check followed nodes");
        }
        lock(&cluster.pending).retain(|_, tx| !tx.is_closed());
    }
}

impl Cluster {
    /// This node's id.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Completes a waiting call with its answer.
    pub(super) fn complete(&self, id: u64, result: Result<Value, RemoteError>) {
        if let Some(tx) = lock(&self.pending).remove(&id) {
            let _ = tx.send(result);
        }
    }

    /// Answers a call from `node`.
    pub(super) fn reply(&self, node: &str, id: u64, result: Result<Value, RemoteError>) {
        let env = Envelope::new(&self.node, Body::Reply { id, result });
        let _ = self
            .outbox
            .push(self.node_channel(node), env, Unheard::Ignore);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ConversationId;

    #[test]
    fn a_release_dropped_before_redis_answered_leaves_the_key_for_leave() {
        let hosted = Mutex::new(HashSet::new());
        let key = ActorKey::Conversation(ConversationId(7));
        drop(Unreleased::new(&hosted, key));
        assert!(lock(&hosted).contains(&key), "cancelled: put back");
        lock(&hosted).remove(&key);
        Unreleased::new(&hosted, key).done();
        assert!(!lock(&hosted).contains(&key), "finished: stays out");
    }
}
