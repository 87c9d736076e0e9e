use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use super::{Message, WireError, MAX_MESSAGE_BYTES, PROTOCOL_VERSION};

#[derive(Serialize)]
struct Envelope<'a> {
    v: u32,
    #[serde(flatten)]
    message: &'a Message,
}

/// Encodes a message as one line of JSON, `v` first.
pub fn encode(message: &Message) -> String {
    let env = Envelope {
        v: PROTOCOL_VERSION,
        message,
    };
    // Every field is a string, number, bool, list or map with string keys:
    // serialization cannot fail.
    serde_json::to_string(&env).unwrap_or_default()
}

/// Size in bytes of [`encode`]`(message)`, computed without allocating the
/// text.
pub fn encoded_len(message: &Message) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Counter(0);
    let env = Envelope {
        v: PROTOCOL_VERSION,
        message,
    };
    let _ = serde_json::to_writer(&mut c, &env);
    c.0
}

/// Decodes a text message. See [`decode`].
pub fn decode_str(text: &str) -> Result<Message, WireError> {
    decode(text.as_bytes())
}

/// Decodes and checks one message: the size limit first (before parsing),
/// then JSON, the `type`, the version `v` (optional only for
/// `gossip_announcement`, the seed system's message), every field strictly,
/// and the per-message limits. Never panics.
pub fn decode(bytes: &[u8]) -> Result<Message, WireError> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(WireError::too_large(bytes.len()));
    }
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| WireError::NotJson(e.to_string()))?;
    let Value::Object(mut map) = value else {
        return Err(WireError::NotAnObject);
    };
    let kind = match map.remove("type") {
        Some(Value::String(s)) => s,
        _ => return Err(WireError::MissingType),
    };
    let kind: &'static str = match KNOWN_TYPES.iter().find(|k| **k == kind) {
        Some(k) => k,
        None => return Err(WireError::UnknownType(kind.chars().take(64).collect())),
    };
    match map.remove("v") {
        None if kind == "gossip_announcement" => {}
        None => return Err(WireError::MissingVersion(kind)),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(v) if v == u64::from(PROTOCOL_VERSION) => {}
            Some(v) => return Err(WireError::unsupported(v)),
            None => {
                return Err(WireError::Invalid {
                    kind,
                    reason: format!("version {n} is not a non-negative integer"),
                })
            }
        },
        Some(_) => {
            return Err(WireError::Invalid {
                kind,
                reason: "version `v` is not a number".into(),
            })
        }
    }
    let msg = payload(kind, map)?;
    msg.check_limits()?;
    Ok(msg)
}

const KNOWN_TYPES: [&str; 13] = [
    "hello",
    "peer_list_request",
    "peer_list",
    "gossip_announcement",
    "ping",
    "ack",
    "nack",
    "ping_req",
    "push_pull",
    "suspect",
    "alive",
    "dead",
    "leave",
];

fn payload(kind: &'static str, map: Map<String, Value>) -> Result<Message, WireError> {
    fn de<T: DeserializeOwned>(
        kind: &'static str,
        map: Map<String, Value>,
    ) -> Result<T, WireError> {
        crate::strict_json::from_value(Value::Object(map)).map_err(|e| WireError::Invalid {
            kind,
            reason: e.to_string(),
        })
    }
    Ok(match kind {
        "hello" => Message::Hello(de(kind, map)?),
        "peer_list_request" => Message::PeerListRequest(de(kind, map)?),
        "peer_list" => Message::PeerList(de(kind, map)?),
        "gossip_announcement" => Message::GossipAnnouncement(de(kind, map)?),
        "ping" => Message::Ping(de(kind, map)?),
        "ack" => Message::Ack(de(kind, map)?),
        "nack" => Message::Nack(de(kind, map)?),
        "ping_req" => Message::PingReq(de(kind, map)?),
        "push_pull" => Message::PushPull(de(kind, map)?),
        "suspect" => Message::Suspect(de(kind, map)?),
        "alive" => Message::Alive(de(kind, map)?),
        "dead" => Message::Dead(de(kind, map)?),
        "leave" => Message::Leave(de(kind, map)?),
        other => return Err(WireError::UnknownType(other.to_string())),
    })
}

/// Serialized JSON size of any value (used to keep messages within their
/// byte budgets).
pub(crate) fn json_len<T: Serialize + ?Sized>(value: &T) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Counter(0);
    let _ = serde_json::to_writer(&mut c, value);
    c.0
}
