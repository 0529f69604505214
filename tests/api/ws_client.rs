//! A small WebSocket client for the tests: real sockets, JSON frames,
//! bounded waits (a missing frame fails the test instead of hanging it).

use std::time::Duration;

use actix_codec::Framed;
use actix_ws::Item;
use awc::BoxedSocket;
use awc::ws::{Codec, Frame, Message};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};

use crate::helpers::TestApp;

/// How long to wait for an expected frame.
pub const WAIT: Duration = Duration::from_secs(10);

/// One open socket.
pub struct Ws {
    io: Framed<BoxedSocket, Codec>,
    /// The `hello` frame the server sent first.
    pub hello: Value,
}

/// How a socket ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// A close frame with this code.
    Closed(Option<u16>),
    /// The connection dropped.
    Eof,
}

impl Ws {
    /// Opens `path` (with query) on the app; the upgrade's HTTP status on refusal.
    pub async fn connect(app: &TestApp, path: &str) -> Result<Ws, u16> {
        let url = format!("{}{}", app.address.replace("http://", "ws://"), path);
        let client = awc::Client::builder().timeout(WAIT).finish();
        match client.ws(url).max_frame_size(1 << 20).connect().await {
            Ok((_, io)) => {
                let mut ws = Ws {
                    io,
                    hello: Value::Null,
                };
                ws.hello = ws.recv_type("hello").await;
                Ok(ws)
            }
            Err(awc::error::WsClientError::InvalidResponseStatus(s)) => Err(s.as_u16()),
            Err(e) => panic!("websocket connect failed: {e}"),
        }
    }

    /// A customer socket for a visitor token.
    pub async fn customer(app: &TestApp, token: &str) -> Ws {
        Ws::connect(app, &format!("/ws/v1/customer?token={token}"))
            .await
            .expect("customer socket")
    }

    /// A staff socket for an access token.
    pub async fn agent(app: &TestApp, token: &str) -> Ws {
        Ws::connect(app, &format!("/ws/v1/agent?access_token={token}"))
            .await
            .expect("agent socket")
    }

    /// Sends a JSON frame.
    pub async fn send(&mut self, v: Value) {
        self.io
            .send(Message::Text(v.to_string().into()))
            .await
            .expect("send frame");
    }

    /// Sends raw text.
    pub async fn send_raw(&mut self, s: String) {
        self.io
            .send(Message::Text(s.into()))
            .await
            .expect("send raw");
    }

    /// Sends one message in fragments, `parts` (at least two) in order:
    /// a text message, or with `text` false a binary one.
    pub async fn send_fragments(&mut self, parts: &[&str], text: bool) {
        assert!(
            parts.len() >= 2,
            "a fragmented message has two parts or more"
        );
        for (i, part) in parts.iter().enumerate() {
            let bytes = bytes::Bytes::copy_from_slice(part.as_bytes());
            let item = match i {
                0 if text => Item::FirstText(bytes),
                0 => Item::FirstBinary(bytes),
                i if i + 1 == parts.len() => Item::Last(bytes),
                _ => Item::Continue(bytes),
            };
            self.io
                .send(Message::Continuation(item))
                .await
                .expect("send fragment");
        }
    }

    /// The next JSON frame (pings are answered and skipped).
    pub async fn recv(&mut self) -> Value {
        match tokio::time::timeout(WAIT, self.next_json()).await {
            Ok(Some(v)) => v,
            Ok(None) => panic!("socket ended while a frame was expected"),
            Err(_) => panic!("no frame within {WAIT:?}"),
        }
    }

    /// The next JSON frame, `None` when the socket ended (no timeout).
    pub async fn next_frame(&mut self) -> Option<Value> {
        self.next_json().await
    }

    /// The next `ok` or `error` (other frames are skipped).
    pub async fn recv_answer(&mut self) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.next_json()).await {
                Ok(Some(v)) if v["type"] == "ok" || v["type"] == "error" => return v,
                Ok(Some(_)) => continue,
                Ok(None) => panic!("socket ended while waiting for an answer"),
                Err(_) => panic!("no answer within {WAIT:?}"),
            }
        }
    }

    async fn next_json(&mut self) -> Option<Value> {
        loop {
            match self.io.next().await? {
                Ok(Frame::Text(b)) => return Some(serde_json::from_slice(&b).expect("json frame")),
                Ok(Frame::Ping(p)) => {
                    let _ = self.io.send(Message::Pong(p)).await;
                }
                Ok(Frame::Close(_)) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// Skips frames until one of type `t` arrives.
    pub async fn recv_type(&mut self, t: &str) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.next_json()).await {
                Ok(Some(v)) if v["type"] == t => return v,
                Ok(Some(_)) => continue,
                Ok(None) => panic!("socket ended while waiting for {t}"),
                Err(_) => panic!("no {t} frame within {WAIT:?}"),
            }
        }
    }

    /// Collects frames until one of each of `types` arrived, in any order.
    pub async fn recv_all(&mut self, types: &[&str]) -> std::collections::HashMap<String, Value> {
        let mut got = std::collections::HashMap::new();
        let deadline = tokio::time::Instant::now() + WAIT;
        while got.len() < types.len() {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.next_json()).await {
                Ok(Some(v)) => {
                    let t = v["type"].as_str().unwrap_or_default().to_owned();
                    if types.contains(&t.as_str()) {
                        got.entry(t).or_insert(v);
                    }
                }
                Ok(None) => panic!("socket ended while waiting for {types:?}"),
                Err(_) => panic!("not all of {types:?} within {WAIT:?}; got {got:?}"),
            }
        }
        got
    }

    /// Asserts no frame of type `t` arrives within `d` (other frames are skipped).
    pub async fn expect_no(&mut self, t: &str, d: Duration) {
        let deadline = tokio::time::Instant::now() + d;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.next_json()).await {
                Ok(Some(v)) if v["type"] == t => panic!("unexpected {t}: {v}"),
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => return,
            }
        }
    }

    /// Waits for the server to end the socket.
    pub async fn ended(&mut self) -> Ended {
        let fut = async {
            loop {
                match self.io.next().await {
                    Some(Ok(Frame::Close(reason))) => {
                        return Ended::Closed(reason.map(|r| u16::from(r.code)));
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(_)) | None => return Ended::Eof,
                }
            }
        };
        tokio::time::timeout(WAIT, fut)
            .await
            .expect("socket did not end")
    }

    /// Every JSON frame until the server ends the socket, and how it ended.
    pub async fn frames_until_end(&mut self) -> (Vec<Value>, Ended) {
        let mut frames = Vec::new();
        let fut = async {
            loop {
                match self.io.next().await {
                    Some(Ok(Frame::Text(t))) => {
                        frames.push(serde_json::from_slice(&t).expect("JSON frame"));
                    }
                    Some(Ok(Frame::Close(reason))) => {
                        return Ended::Closed(reason.map(|r| u16::from(r.code)));
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(_)) | None => return Ended::Eof,
                }
            }
        };
        let ended = tokio::time::timeout(WAIT, fut)
            .await
            .expect("socket did not end");
        (frames, ended)
    }

    /// `message.send` and its `message.ack`.
    pub async fn say(
        &mut self,
        conversation_id: Option<i64>,
        client_msg_id: &str,
        text: &str,
    ) -> Value {
        let mut f = json!({"type": "message.send", "client_msg_id": client_msg_id, "text": text, "ref": client_msg_id});
        if let Some(c) = conversation_id {
            f["conversation_id"] = json!(c);
        }
        self.send(f).await;
        let ack = self.recv_type("message.ack").await;
        assert_eq!(ack["client_msg_id"], client_msg_id, "{ack}");
        ack
    }
}
