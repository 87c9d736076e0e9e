//! The seed (earlier Python) system's peer dict, and how it maps onto a
//! [`PeerRecord`] and a [`Peer`].
//!
//! | seed field | peerdisc |
//! |---|---|
//! | `node_id` | `node_id` |
//! | `address` (one URL; no path means `/peerdisc`) | `addresses: [address]` |
//! | `public_key` | `public_key` |
//! | `agents`, `tools`, `resources`, `prompts` | `capabilities.*` |
//! | `metadata` (strings) | `metadata` |
//! | `first_seen`, `last_seen` (Unix seconds) | `first_seen_ms`, `last_seen_ms` |
//! | `connection_state` | `connection_state` |
//! | `health_score`, `successful_connections`, `failed_connections` | `health` |
//! | `connection_attempts` | (implied by the two counts) |
//!
//! A seed peer has no record version: it becomes version 0. The observation
//! fields describe the sender's view; they are used for [`Peer`]s added to a
//! registry by hand and ignored in announcements.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{
    Capabilities, Capability, Health, ModelError, NodeId, Peer, PeerAddress, PeerRecord,
    DEFAULT_WS_PATH,
};

/// A peer as the seed (Python) system's `gossip_announcement` and peer
/// registry list it: one `address` string, capability names in
/// `agents`/`tools`/`resources`/`prompts`, and observation fields.
///
/// Decoding is strict: any other field is refused (see
/// [`SeedPeer::strip_unknown`] for the lenient, seed-compatible reading).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedPeer {
    /// The peer's identity.
    pub node_id: NodeId,
    /// Its WebSocket address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Its public key, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// Agent names.
    #[serde(default)]
    pub agents: Vec<String>,
    /// Tool names.
    #[serde(default)]
    pub tools: Vec<String>,
    /// Resource names.
    #[serde(default)]
    pub resources: Vec<String>,
    /// Prompt names.
    #[serde(default)]
    pub prompts: Vec<String>,
    /// Free-form string metadata.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// When the sender last heard from the peer (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<f64>,
    /// When the sender first heard of the peer (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<f64>,
    /// The sender's connection to the peer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_state: Option<String>,
    /// The sender's health score of the peer (0.0 to 1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_score: Option<f64>,
    /// The sender's connection attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_attempts: Option<u64>,
    /// The sender's successful connections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub successful_connections: Option<u64>,
    /// The sender's failed connections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_connections: Option<u64>,
}

/// Every field of a seed peer dict.
pub(crate) const SEED_FIELDS: [&str; 15] = [
    "node_id",
    "address",
    "public_key",
    "agents",
    "tools",
    "resources",
    "prompts",
    "metadata",
    "last_seen",
    "first_seen",
    "connection_state",
    "health_score",
    "connection_attempts",
    "successful_connections",
    "failed_connections",
];

/// Fields only peerdisc's own record and peer JSON have.
const PEERDISC_FIELDS: [&str; 10] = [
    "format",
    "addresses",
    "capabilities",
    "version",
    "signature",
    "liveness",
    "incarnation",
    "health",
    "first_seen_ms",
    "last_seen_ms",
];

impl SeedPeer {
    /// Whether a JSON object is seed-shaped: it names none of peerdisc's
    /// own fields (`addresses`, `capabilities`, `version`, ...) and at least
    /// one seed field beside `node_id` (`address`, `agents`, `last_seen`,
    /// ...). `{"node_id": "a"}` alone is read as peerdisc JSON.
    pub fn is_seed_shaped(map: &Map<String, Value>) -> bool {
        !Self::names_peerdisc_fields(map)
            && map
                .keys()
                .any(|k| k != "node_id" && SEED_FIELDS.contains(&k.as_str()))
    }

    /// Whether a JSON object names a field only peerdisc's own record or
    /// peer JSON has (`addresses`, `capabilities`, `version`, ...).
    pub fn names_peerdisc_fields(map: &Map<String, Value>) -> bool {
        map.keys().any(|k| PEERDISC_FIELDS.contains(&k.as_str()))
    }

    /// The seed-compatible reading: drops the fields a seed peer dict does
    /// not define (a later seed version's additions). Returns how many were
    /// dropped.
    pub fn strip_unknown(map: &mut Map<String, Value>) -> usize {
        let before = map.len();
        map.retain(|k, _| SEED_FIELDS.contains(&k.as_str()));
        before - map.len()
    }

    /// Converts to a record at version 0 (seed peers carry no version), and
    /// validates it. An address without a path means `/peerdisc`.
    pub fn to_record(&self) -> Result<PeerRecord, ModelError> {
        let mut rec = PeerRecord::new(self.node_id.clone());
        if let Some(a) = &self.address {
            rec.addresses
                .push(PeerAddress::with_default_path(a, DEFAULT_WS_PATH)?);
        }
        rec.public_key = self.public_key.as_deref().map(Box::from);
        let caps = |names: &[String]| names.iter().map(Capability::new).collect::<Vec<_>>();
        rec.capabilities = Capabilities {
            agents: caps(&self.agents),
            tools: caps(&self.tools),
            resources: caps(&self.resources),
            prompts: caps(&self.prompts),
        };
        rec.metadata = self.metadata.clone();
        rec.validate()?;
        Ok(rec)
    }

    /// Converts to a peer: the record (see [`to_record`](Self::to_record))
    /// plus the observation fields. Missing times are 0 (a registry's
    /// `add` stamps them with its clock).
    pub fn to_peer(&self) -> Result<Peer, ModelError> {
        let ms = |s: Option<f64>| match s {
            Some(s) if s.is_finite() && s > 0.0 => (s * 1000.0) as u64,
            _ => 0,
        };
        let mut peer = Peer::from_record(self.to_record()?, 0);
        peer.first_seen_ms = ms(self.first_seen);
        peer.last_seen_ms = ms(self.last_seen).max(peer.first_seen_ms);
        peer.liveness_changed_ms = peer.first_seen_ms;
        if let Some(s) = &self.connection_state {
            peer.connection_state = serde_json::from_value(Value::String(s.clone()))?;
        }
        let successes = self.successful_connections.unwrap_or(0);
        let failures = self.failed_connections.unwrap_or(0);
        let score = self.health_score.unwrap_or(Health::INITIAL_SCORE);
        peer.health = Health::restored(successes, failures, score)?;
        Ok(peer)
    }

    /// The seed-shaped form of a record (no observations): what a
    /// seed-compatible announcement lists.
    pub fn from_record(record: &PeerRecord) -> Self {
        let names = |c: &[Capability]| c.iter().map(|c| c.name().to_string()).collect();
        let caps = &record.capabilities;
        SeedPeer {
            node_id: record.node_id.clone(),
            address: record.addresses.first().map(|a| a.as_str().to_string()),
            public_key: record.public_key.as_deref().map(String::from),
            agents: names(&caps.agents),
            tools: names(&caps.tools),
            resources: names(&caps.resources),
            prompts: names(&caps.prompts),
            metadata: record.metadata.clone(),
            last_seen: None,
            first_seen: None,
            connection_state: None,
            health_score: None,
            connection_attempts: None,
            successful_connections: None,
            failed_connections: None,
        }
    }

    /// The seed-shaped form of a peer, with this node's observations (Unix
    /// seconds for the times), as the seed's `Peer.to_dict()` gave it.
    pub fn from_peer(peer: &Peer) -> Self {
        let mut s = Self::from_record(&peer.record);
        s.first_seen = Some(peer.first_seen_ms as f64 / 1000.0);
        s.last_seen = Some(peer.last_seen_ms as f64 / 1000.0);
        s.connection_state = serde_json::to_value(peer.connection_state)
            .ok()
            .and_then(|v| v.as_str().map(String::from));
        s.health_score = Some(peer.health.score());
        s.successful_connections = Some(peer.health.successes());
        s.failed_connections = Some(peer.health.failures());
        s.connection_attempts = Some(peer.health.successes() + peer.health.failures());
        s
    }
}

/// Reads JSON that is either peerdisc's own shape (tried first, by `own`)
/// or a seed peer dict (converted by `seed`); when neither fits, the error
/// is the one of the shape the object looks like.
pub(crate) fn from_json_either<T>(
    json: &str,
    own: impl FnOnce(&str) -> Result<T, ModelError>,
    seed: impl FnOnce(&SeedPeer) -> Result<T, ModelError>,
) -> Result<T, ModelError> {
    let err = match own(json) {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    match serde_json::from_str::<Value>(json) {
        Ok(Value::Object(map)) if SeedPeer::is_seed_shaped(&map) => {
            let s: SeedPeer = crate::strict_json::from_value(Value::Object(map))?;
            seed(&s)
        }
        _ => Err(err),
    }
}
