//! A committed message serialised once for both frames that carry it.

use serde::Serialize;
use serde_json::value::RawValue;

use super::{MessageView, encode_frame};

/// A committed message as JSON, written once for the sender's
/// `message.ack` and every other socket's `message.new` (each used to
/// serialise the whole message again, the ack from a clone of it). The
/// frames are byte for byte what [`super::ServerFrame::to_json`] gives.
pub struct MessageJson(Box<RawValue>);

/// `message.new` around an already serialised message.
#[derive(Serialize)]
struct NewFrame<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    message: &'a RawValue,
}

/// `message.ack` around an already serialised message.
#[derive(Serialize)]
struct AckFrame<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    reference: Option<&'a str>,
    client_msg_id: &'a str,
    message: &'a RawValue,
}

impl MessageJson {
    /// Serialises `message`.
    pub fn of(message: &MessageView) -> Self {
        // A MessageView always serialises (no map with non-string keys, no
        // failing Serialize impl); the fallback (`null`) keeps a frame
        // well-formed.
        MessageJson(serde_json::value::to_raw_value(message).unwrap_or_default())
    }

    /// The `message.new` frame.
    pub fn new_frame(&self) -> String {
        encode_frame(&NewFrame {
            kind: "message.new",
            message: &self.0,
        })
    }

    /// The sender's `message.ack` frame.
    pub fn ack_frame(&self, reference: Option<&str>, client_msg_id: &str) -> String {
        encode_frame(&AckFrame {
            kind: "message.ack",
            reference,
            client_msg_id,
            message: &self.0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::{PartyKind, Sender, ServerFrame};
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn message(text: String, client_msg_id: Option<String>, name: Option<String>) -> MessageView {
        MessageView {
            id: 812,
            conversation_id: 42,
            seq: 7,
            client_msg_id,
            sender: Sender {
                kind: PartyKind::Customer,
                id: Some(3),
                name,
            },
            text,
            attachments: Vec::new(),
            created_at: chrono::Utc
                .timestamp_opt(1_796_000_000, 123_456_789)
                .unwrap(),
        }
    }

    proptest! {
        #[test]
        fn frames_are_the_bytes_server_frame_gives(
            text in "\\PC{1,40}",
            id in proptest::option::of("[ -~]{1,64}"),
            name in proptest::option::of("\\PC{0,20}"),
            reference in proptest::option::of("[ -~\"\\\\]{0,10}"),
        ) {
            let view = message(text, id.clone(), name);
            let json = MessageJson::of(&view);
            prop_assert_eq!(
                json.new_frame(),
                ServerFrame::MessageNew { message: view.clone() }.to_json()
            );
            let cid = id.unwrap_or_default();
            prop_assert_eq!(
                json.ack_frame(reference.as_deref(), &cid),
                ServerFrame::MessageAck { reference, client_msg_id: cid, message: view }.to_json()
            );
        }
    }
}
