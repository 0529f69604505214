//! The protocol-v1 client: REST calls through `reqwest`, sockets through
//! `tokio-tungstenite`, and a borrowed, allocation-light parser for the server
//! frames the scenarios look at.

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

/// Timeout of one REST call: a load test must not hang on a dead server.
const HTTP_TIMEOUT: Duration = Duration::from_secs(60);
/// Idle pooled connections are dropped after this, well inside the
/// server's 5 s keep-alive.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(2);

/// The REST side of the server.
#[derive(Debug, Clone)]
pub struct Api {
    http: reqwest::Client,
    /// `http://host:port`, without a trailing slash.
    base: String,
    /// The socket address behind `base`, for WebSocket connections that bind
    /// their own source address.
    addr: SocketAddr,
}

/// A logged-in staff user.
#[derive(Debug, Clone)]
pub struct Staff {
    /// User id.
    pub id: i64,
    /// Access JWT for REST and the staff socket.
    pub token: String,
}

/// A widget visitor with its conversation.
#[derive(Debug, Clone)]
pub struct Visitor {
    /// Token for the customer socket.
    pub token: String,
    /// The conversation the session created.
    pub conversation_id: i64,
}

impl Api {
    /// A client for the server at `base` (`http://127.0.0.1:8080`).
    pub async fn new(base: &str) -> anyhow::Result<Api> {
        let base = base.trim_end_matches('/').to_string();
        let hostport = base
            .strip_prefix("http://")
            .ok_or_else(|| anyhow!("--server must start with http:// (got {base})"))?;
        let addr = tokio::net::lookup_host(hostport)
            .await
            .with_context(|| format!("resolving {hostport}"))?
            .next()
            .ok_or_else(|| anyhow!("{hostport} resolves to nothing"))?;
        let http = reqwest::Client::builder()
            .timeout(HTTP_TIMEOUT)
            // Many concurrent setup calls: keep connections around.
            .pool_max_idle_per_host(256)
            // The server closes a keep-alive connection after 5 s idle
            // (actix-web's default). A pooled one older than that can be
            // picked just as its FIN arrives, and the request fails with
            // "connection closed before message completed" (seen once in
            // an `assign` run): drop idle ones well before.
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .tcp_nodelay(true)
            .build()?;
        Ok(Api { http, base, addr })
    }

    /// The server's socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sends one JSON request; returns status and body (`Null` when empty).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("request {path}"))?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await?;
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        Ok((status, value))
    }

    /// Like [`Api::call`], but any status outside 2xx is an error naming the
    /// call and the server's problem detail.
    pub async fn ok(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let (status, value) = self.call(method.clone(), path, token, body).await?;
        if !(200..300).contains(&status) {
            bail!(
                "{method} {path} answered {status}: {}",
                value.get("detail").and_then(Value::as_str).unwrap_or("")
            );
        }
        Ok(value)
    }

    /// `POST /auth/login`.
    pub async fn login(&self, email: &str, password: &str) -> anyhow::Result<Staff> {
        let v = self
            .ok(
                reqwest::Method::POST,
                "/api/v1/auth/login",
                None,
                Some(&json!({"email": email, "password": password})),
            )
            .await
            .with_context(|| format!("login as {email}"))?;
        Ok(Staff {
            id: int(&v["user"]["id"])?,
            token: string(&v["access_token"])?,
        })
    }

    /// `POST /teams`; returns the team id.
    pub async fn create_team(
        &self,
        admin: &Staff,
        name: &str,
        auto_assign: bool,
    ) -> anyhow::Result<i64> {
        let v = self
            .ok(
                reqwest::Method::POST,
                "/api/v1/teams",
                Some(&admin.token),
                Some(&json!({"name": name, "auto_assign": auto_assign})),
            )
            .await?;
        int(&v["id"])
    }

    /// `POST /users`; returns the user id.
    pub async fn create_user(
        &self,
        admin: &Staff,
        email: &str,
        password: &str,
        role: &str,
        capacity: u32,
        team_id: i64,
    ) -> anyhow::Result<i64> {
        let body = json!({"email": email, "password": password, "name": email.split('@').next().unwrap_or("agent"),
                          "role": role, "capacity": capacity, "team_ids": [team_id]});
        let v = self
            .ok(
                reqwest::Method::POST,
                "/api/v1/users",
                Some(&admin.token),
                Some(&body),
            )
            .await?;
        int(&v["id"])
    }

    /// `POST /widget/sessions` with `issue_type` naming the team it should
    /// join (the server routes by team name).
    pub async fn widget_session(&self, issue_type: &str) -> anyhow::Result<Visitor> {
        let v = self
            .ok(
                reqwest::Method::POST,
                "/api/v1/widget/sessions",
                None,
                Some(&json!({"issue_type": issue_type})),
            )
            .await?;
        Ok(Visitor {
            token: string(&v["visitor_token"])?,
            conversation_id: int(&v["conversation_id"])?,
        })
    }

    /// The WebSocket URL of `path` with its query.
    pub fn ws_url(&self, path_and_query: &str) -> String {
        format!("ws://{}{}", self.addr, path_and_query)
    }
}

fn int(v: &Value) -> anyhow::Result<i64> {
    v.as_i64()
        .ok_or_else(|| anyhow!("expected an integer, got {v}"))
}

fn string(v: &Value) -> anyhow::Result<String> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow!("expected a string, got {v}"))
}

/// The write half of a socket.
pub type WsSink = SplitSink<WebSocketStream<TcpStream>, Message>;
/// The read half of a socket.
pub type WsStream = SplitStream<WebSocketStream<TcpStream>>;

/// Numbers sockets for the ledger's per-socket order checks.
static NEXT_SOCKET: AtomicU64 = AtomicU64::new(1);

/// An open socket after its `hello`.
pub struct Socket {
    /// Unique within this process.
    pub id: u64,
    /// Write half.
    pub sink: WsSink,
    /// Read half.
    pub stream: WsStream,
}

/// Which socket to open.
#[derive(Debug, Clone, Copy)]
pub enum Audience<'a> {
    /// `/ws/v1/customer?token=`.
    Customer(&'a str),
    /// `/ws/v1/agent?access_token=`.
    Staff(&'a str),
}

/// Opens a socket, optionally from a chosen loopback source address (one
/// source address has only ~28,000 ephemeral ports), and waits for `hello`.
pub async fn connect(
    api: &Api,
    who: Audience<'_>,
    source: Option<IpAddr>,
) -> anyhow::Result<Socket> {
    let path = match who {
        Audience::Customer(t) => format!("/ws/v1/customer?token={t}"),
        Audience::Staff(t) => format!("/ws/v1/agent?access_token={t}"),
    };
    let socket = if api.addr().is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(ip) = source {
        socket
            .bind(SocketAddr::new(ip, 0))
            .with_context(|| format!("binding {ip}"))?;
    }
    let tcp = socket.connect(api.addr()).await.context("tcp connect")?;
    // Frames are small and latency is what is measured: no Nagle delay.
    tcp.set_nodelay(true)?;
    let (ws, _) = tokio_tungstenite::client_async(api.ws_url(&path), tcp)
        .await
        .context("websocket handshake")?;
    let (sink, mut stream) = ws.split();
    let first = tokio::time::timeout(Duration::from_secs(30), stream.next())
        .await
        .context("no hello within 30 s")?;
    match first {
        Some(Ok(Message::Text(t))) if parse(t.as_str()).is_some_and(|f| f.kind == "hello") => {}
        other => bail!("expected hello, got {other:?}"),
    }
    Ok(Socket {
        id: NEXT_SOCKET.fetch_add(1, Ordering::Relaxed),
        sink,
        stream,
    })
}

/// Sends one JSON frame.
pub async fn send(sink: &mut WsSink, frame: &Value) -> anyhow::Result<()> {
    sink.send(Message::text(frame.to_string())).await?;
    Ok(())
}

/// Sends pre-built frame text.
pub async fn send_text(sink: &mut WsSink, text: String) -> anyhow::Result<()> {
    sink.send(Message::text(text)).await?;
    Ok(())
}

/// The frame text of a `message.send`.
pub fn message_send(conversation_id: Option<i64>, client_msg_id: &str, text: &str) -> String {
    let mut v = json!({"type": "message.send", "client_msg_id": client_msg_id, "text": text});
    if let Some(c) = conversation_id {
        v["conversation_id"] = json!(c);
    }
    v.to_string()
}

/// The parts of a server frame the scenarios use. Unknown fields are skipped;
/// strings are borrowed from the frame where they need no unescaping.
#[derive(Debug, Deserialize)]
pub struct Frame<'a> {
    /// `type`.
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    /// `message.ack`'s `client_msg_id`.
    #[serde(borrow, default)]
    pub client_msg_id: Option<Cow<'a, str>>,
    /// `message.new` / `message.ack`.
    #[serde(borrow, default)]
    pub message: Option<MessageRef<'a>>,
    /// `conversation.assigned` / `conversation.updated` (boxed: rare, and
    /// it would double the size of every parsed frame).
    #[serde(borrow, default)]
    pub conversation: Option<Box<ConversationRef<'a>>>,
    /// `resume.done`.
    #[serde(default)]
    pub conversation_id: Option<i64>,
    /// `resume.done`.
    #[serde(default)]
    pub last_seq: Option<i64>,
    /// `queue.snapshot` / `queue.update`.
    #[serde(default)]
    pub team_id: Option<i64>,
    /// `queue.snapshot` / `queue.update`.
    #[serde(default)]
    pub waiting: Option<Vec<WaitingRef>>,
    /// `ref` of a direct answer.
    #[serde(rename = "ref", borrow, default)]
    pub reference: Option<Cow<'a, str>>,
}

/// The message object, reduced.
#[derive(Debug, Deserialize)]
pub struct MessageRef<'a> {
    /// Message id.
    pub id: i64,
    /// Its conversation.
    pub conversation_id: i64,
    /// Position in the conversation.
    pub seq: i64,
    /// The sender's idempotency key.
    #[serde(borrow, default)]
    pub client_msg_id: Option<Cow<'a, str>>,
}

/// The conversation object, reduced.
#[derive(Debug, Deserialize)]
pub struct ConversationRef<'a> {
    /// Conversation id.
    pub id: i64,
    /// Holding user.
    #[serde(default)]
    pub assignee_id: Option<i64>,
    /// `queued`, `assigned`, …
    pub state: String,
    /// When the server created it (RFC 3339). A widget conversation is
    /// stamped `waiting_since` with the same instant: the moment it became
    /// queued.
    #[serde(borrow, default)]
    pub created_at: Option<Cow<'a, str>>,
    /// Its last change (RFC 3339): in `conversation.assigned`, the
    /// assignment's write.
    #[serde(borrow, default)]
    pub updated_at: Option<Cow<'a, str>>,
}

/// A server timestamp (RFC 3339) as nanoseconds since the Unix epoch.
pub fn unix_nanos(ts: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(ts)
        .ok()?
        .timestamp_nanos_opt()
}

/// Digits after the seconds' decimal point of an RFC 3339 timestamp: its
/// precision as serialised (chrono writes 0, 3, 6 or 9, dropping zeros).
pub fn fraction_digits(ts: &str) -> usize {
    match ts.find('.') {
        Some(dot) => ts[dot + 1..]
            .chars()
            .take_while(char::is_ascii_digit)
            .count(),
        None => 0,
    }
}

/// This machine's `CLOCK_REALTIME` now, in nanoseconds since the Unix epoch:
/// the clock a server on the same machine stamps its timestamps with.
pub fn wall_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// `later − earlier` for two wall-clock instants in nanoseconds, or `None`
/// when `later` is before `earlier` (clock steps, or a broken timestamp).
pub fn wall_gap(earlier: i64, later: i64) -> Option<Duration> {
    u64::try_from(later.checked_sub(earlier)?)
        .ok()
        .map(Duration::from_nanos)
}

/// One waiting entry of a queue, reduced.
#[derive(Debug, Deserialize)]
pub struct WaitingRef {
    /// The waiting conversation.
    pub conversation_id: i64,
}

/// An `error` frame (its `message` is a string, unlike the other frames').
#[derive(Debug, Deserialize)]
pub struct ErrorFrame<'a> {
    /// `code`.
    #[serde(borrow)]
    pub code: Cow<'a, str>,
    /// `message`.
    #[serde(borrow, default)]
    pub message: Cow<'a, str>,
    /// `ref`.
    #[serde(rename = "ref", borrow, default)]
    pub reference: Option<Cow<'a, str>>,
}

/// A parsed server frame.
#[derive(Debug)]
pub enum Parsed<'a> {
    /// Anything but `error`.
    Frame(Frame<'a>),
    /// An `error` frame.
    Error(ErrorFrame<'a>),
}

/// Parses a non-error frame (`None` for `error` frames and garbage).
pub fn parse(text: &str) -> Option<Frame<'_>> {
    serde_json::from_str(text).ok()
}

/// Parses any server frame; `error` frames, whose `message` is a string,
/// take a second, rare pass.
pub fn parse_any(text: &str) -> Option<Parsed<'_>> {
    match serde_json::from_str::<Frame<'_>>(text) {
        Ok(f) => Some(Parsed::Frame(f)),
        Err(_) => serde_json::from_str::<ErrorFrame<'_>>(text)
            .ok()
            .map(Parsed::Error),
    }
}

/// Reads frames until one satisfies `want`, for setup steps; gives up after
/// `within`.
pub async fn wait_for(
    stream: &mut WsStream,
    within: Duration,
    mut want: impl FnMut(&Parsed<'_>) -> bool,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let next = tokio::time::timeout_at(deadline, stream.next())
            .await
            .context("timed out waiting for a frame")?;
        match next {
            Some(Ok(Message::Text(t))) => {
                if let Some(p) = parse_any(t.as_str()) {
                    if let Parsed::Error(e) = &p {
                        if !want(&p) {
                            bail!("server error {}: {}", e.code, e.message);
                        }
                        return Ok(());
                    }
                    if want(&p) {
                        return Ok(());
                    }
                }
            }
            Some(Ok(Message::Close(c))) => bail!("socket closed: {c:?}"),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.into()),
            None => bail!("socket ended"),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]
    use super::*;

    #[test]
    fn an_ack_frame_parses_to_its_message_and_client_id() {
        let text = r#"{"type":"message.ack","ref":"r1","client_msg_id":"c1-2",
            "message":{"id":812,"conversation_id":42,"seq":7,"client_msg_id":"c1-2",
            "sender":{"kind":"customer","id":5,"name":"Ana"},"text":"Hi \"there\"",
            "attachments":[],"created_at":"2026-11-21T10:00:00Z"}}"#;
        let Some(Parsed::Frame(f)) = parse_any(text) else {
            panic!("did not parse");
        };
        assert_eq!(f.kind, "message.ack");
        assert_eq!(f.client_msg_id.as_deref(), Some("c1-2"));
        assert_eq!(f.reference.as_deref(), Some("r1"));
        let m = f.message.expect("message");
        assert_eq!((m.id, m.conversation_id, m.seq), (812, 42, 7));
    }

    #[test]
    fn an_error_frame_parses_as_an_error_with_its_code() {
        let text = r#"{"type":"error","ref":"x","code":"rate_limited","message":"slow down"}"#;
        match parse_any(text) {
            Some(Parsed::Error(e)) => {
                assert_eq!(e.code, "rate_limited");
                assert_eq!(e.reference.as_deref(), Some("x"));
            }
            other => panic!("{other:?}"),
        }
        assert!(parse(text).is_none());
    }

    #[test]
    fn queue_and_assignment_frames_parse_their_ids() {
        let q = r#"{"type":"queue.update","team_id":3,"waiting":[{"conversation_id":43,
            "waiting_since":"2026-11-21T10:01:00Z","priority":0,"skills":[]}],"agents":[]}"#;
        let f = parse(q).expect("queue.update");
        assert_eq!(f.team_id, Some(3));
        assert_eq!(f.waiting.map(|w| w[0].conversation_id), Some(43));
        let a = r#"{"type":"conversation.assigned","conversation":{"id":42,"state":"assigned",
            "assignee_id":9,"visitor":{"id":1,"name":null,"email":null}}}"#;
        let c = parse(a).and_then(|f| f.conversation).expect("conversation");
        assert_eq!(
            (c.id, c.assignee_id, c.state.as_str()),
            (42, Some(9), "assigned")
        );
        assert!(c.created_at.is_none());
    }

    #[test]
    fn an_assignment_carries_its_server_timestamps_to_the_nanosecond() {
        let a = r#"{"type":"conversation.assigned","conversation":{"id":42,"state":"assigned",
            "assignee_id":9,"created_at":"2026-12-01T11:03:51.482236660Z",
            "updated_at":"2026-12-01T11:03:51.483000Z"}}"#;
        let c = parse(a).and_then(|f| f.conversation).expect("conversation");
        let created = unix_nanos(c.created_at.as_deref().expect("created_at")).expect("parses");
        let updated = unix_nanos(c.updated_at.as_deref().expect("updated_at")).expect("parses");
        assert_eq!(created % 1_000_000_000, 482_236_660);
        assert_eq!(
            wall_gap(created, updated),
            Some(Duration::from_nanos(763_340))
        );
        assert_eq!(wall_gap(updated, created), None);
        assert_eq!(fraction_digits("2026-12-01T11:03:51.482236660Z"), 9);
        assert_eq!(fraction_digits("2026-12-01T11:03:51.483000Z"), 6);
        assert_eq!(fraction_digits("2026-12-01T11:03:51Z"), 0);
        // An offset other than Z is the same instant.
        assert_eq!(
            unix_nanos("2026-12-01T12:03:51.482236660+01:00"),
            Some(created)
        );
        assert_eq!(unix_nanos("yesterday"), None);
        // The wall clock is after the timestamps above.
        assert!(wall_gap(created, wall_nanos()).is_some());
    }

    #[test]
    fn a_message_send_frame_names_its_conversation_only_when_given() {
        let staff: Value =
            serde_json::from_str(&message_send(Some(4), "a1-1", "hi")).expect("json");
        assert_eq!(staff["conversation_id"], 4);
        let customer: Value =
            serde_json::from_str(&message_send(None, "c1-1", "hi")).expect("json");
        assert!(customer.get("conversation_id").is_none());
        assert_eq!(customer["type"], "message.send");
    }
}
