use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::model::SeedPeer;
use crate::model::{ModelError, NodeId, PeerRecord};

/// One entry of a `gossip_announcement`'s `peers`: a full [`PeerRecord`] or
/// a seed-shaped peer ([`SeedPeer`]). A record is tried first.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum AnnouncedPeer {
    /// A peer record (peerdisc's own shape).
    Record(Arc<PeerRecord>),
    /// A seed-system peer dict.
    Seed(Box<SeedPeer>),
}

impl<'de> Deserialize<'de> for AnnouncedPeer {
    /// A JSON object read as a record if it is one, else as a seed peer
    /// (both strictly, see [`crate::strict_json`]); anything but an object
    /// is refused.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let v = serde_json::Value::deserialize(d)?;
        if !v.is_object() {
            return Err(D::Error::custom(
                "invalid type: an announced peer must be a JSON object",
            ));
        }
        if let Ok(r) = crate::strict_json::from_value::<PeerRecord>(v.clone()) {
            return Ok(AnnouncedPeer::Record(Arc::new(r)));
        }
        crate::strict_json::from_value::<SeedPeer>(v)
            .map(|s| AnnouncedPeer::Seed(Box::new(s)))
            .map_err(|_| {
                D::Error::custom("data did not match any variant of untagged enum AnnouncedPeer")
            })
    }
}

impl AnnouncedPeer {
    /// The announced peer as a validated record.
    pub fn to_record(&self) -> Result<Arc<PeerRecord>, ModelError> {
        match self {
            AnnouncedPeer::Record(r) => Ok(r.clone()),
            AnnouncedPeer::Seed(s) => s.to_record().map(Arc::new),
        }
    }

    /// The announced peer's node id.
    pub fn node_id(&self) -> &NodeId {
        match self {
            AnnouncedPeer::Record(r) => &r.node_id,
            AnnouncedPeer::Seed(s) => &s.node_id,
        }
    }
}

/// The top-level fields of a `gossip_announcement`.
const ANNOUNCEMENT_FIELDS: [&str; 5] = ["v", "type", "timestamp", "peers", "states"];

/// Decodes a message as a seed-compatible node does (see PROTOCOL.md, "The
/// seed system's announcement"): like [`decode`](super::decode), except
/// that a `gossip_announcement` may carry fields peerdisc does not define,
/// at the top level and in its seed-shaped peer entries; they are dropped
/// before the strict decoding. Every other message is decoded strictly.
pub fn decode_seed_compatible(bytes: &[u8]) -> Result<super::Message, super::WireError> {
    let strict = match super::decode(bytes) {
        Ok(m) => return Ok(m),
        Err(e) => e,
    };
    if bytes.len() > super::MAX_MESSAGE_BYTES {
        return Err(strict);
    }
    let Ok(Value::Object(mut map)) = serde_json::from_slice::<Value>(bytes) else {
        return Err(strict);
    };
    if map.get("type").and_then(Value::as_str) != Some("gossip_announcement") {
        return Err(strict);
    }
    map.retain(|k, _| ANNOUNCEMENT_FIELDS.contains(&k.as_str()));
    if let Some(Value::Array(peers)) = map.get_mut("peers") {
        for p in peers {
            if let Value::Object(entry) = p {
                if !SeedPeer::names_peerdisc_fields(entry) {
                    SeedPeer::strip_unknown(entry);
                }
            }
        }
    }
    let text = serde_json::to_vec(&Value::Object(map)).map_err(|_| strict)?;
    super::decode(&text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{decode_str, Message};

    const WITH_EXTRAS: &str = r#"{"type": "gossip_announcement", "timestamp": 1764000000.5,
        "sender": "old-1", "peers": [
        {"node_id": "old-1", "address": "ws://10.0.0.1:8000", "agents": ["a"], "zone": "eu"}]}"#;

    #[test]
    fn seed_compatible_decoding_drops_what_peerdisc_does_not_define() {
        assert!(decode_str(WITH_EXTRAS).is_err(), "strict by default");
        let Message::GossipAnnouncement(g) =
            decode_seed_compatible(WITH_EXTRAS.as_bytes()).unwrap()
        else {
            panic!("not an announcement")
        };
        let rec = g.peers[0].to_record().unwrap();
        assert_eq!(rec.node_id.as_str(), "old-1");
        assert_eq!(rec.addresses[0].as_str(), "ws://10.0.0.1:8000/peerdisc");
        assert_eq!(rec.capabilities.agents[0].name(), "a");
    }

    #[test]
    fn seed_compatible_decoding_stays_strict_elsewhere() {
        // A peerdisc record with an unknown field is still refused.
        let record = r#"{"type": "gossip_announcement", "timestamp": 1.0, "peers": [
            {"node_id": "n", "addresses": [], "version": 2, "zone": "eu"}]}"#;
        assert!(decode_seed_compatible(record.as_bytes()).is_err());
        // So is any other message with an unknown field.
        let ping = r#"{"v": 1, "type": "ping", "seq": 1, "target": "n", "zone": "eu"}"#;
        assert!(decode_seed_compatible(ping.as_bytes()).is_err());
        // And a value that is not JSON.
        assert!(decode_seed_compatible(b"{").is_err());
    }
}
