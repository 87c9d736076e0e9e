use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{
    Capabilities, Capability, CapabilityKind, ConnectionState, Health, Liveness, ModelError,
    NodeId, PeerAddress, PeerRecord,
};

/// The version of the peer JSON format written by this build (field
/// `format`). A missing `format` reads as 1; any other value is refused.
pub const PEER_FORMAT_VERSION: u64 = 1;

/// A peer as this node knows it: the peer's own [`PeerRecord`] plus what this
/// node observed (connection state, liveness, incarnation, health, first and
/// last seen).
///
/// JSON (flat, snake_case):
/// ```json
/// {"format": 1, "node_id": "node_abc123", "addresses": ["ws://10.0.0.5:8000"],
///  "public_key": null, "capabilities": {"agents": ["planner"], "tools": [],
///  "resources": [], "prompts": []}, "metadata": {}, "version": 3,
///  "connection_state": "connected", "liveness": "alive", "incarnation": 0,
///  "health": {"successes": 4, "failures": 1, "consecutive_failures": 0,
///  "score": 0.61}, "first_seen_ms": 1764000000000, "last_seen_ms":
///  1764000004000, "liveness_changed_ms": 1764000000000}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "PeerJson", try_from = "PeerJson")]
pub struct Peer {
    /// What the peer says about itself.
    pub record: PeerRecord,
    /// This node's connection to the peer.
    pub connection_state: ConnectionState,
    /// Whether the peer is believed to run.
    pub liveness: Liveness,
    /// The peer's incarnation number (raised by the peer to refute
    /// suspicion).
    pub incarnation: u64,
    /// Connection and probe outcomes.
    pub health: Health,
    /// When this node first heard of the peer (Unix milliseconds).
    pub first_seen_ms: u64,
    /// When this node last heard from or of the peer (Unix milliseconds).
    pub last_seen_ms: u64,
    /// When `liveness` last changed (Unix milliseconds).
    pub liveness_changed_ms: u64,
}

impl Peer {
    /// A peer from its record, alive, disconnected, seen first and last at
    /// `now_ms`.
    pub fn from_record(record: PeerRecord, now_ms: u64) -> Self {
        Peer {
            record,
            connection_state: ConnectionState::Disconnected,
            liveness: Liveness::Alive,
            incarnation: 0,
            health: Health::new(),
            first_seen_ms: now_ms,
            last_seen_ms: now_ms,
            liveness_changed_ms: now_ms,
        }
    }

    /// Starts a builder for a peer with this node id.
    pub fn builder(node_id: impl Into<String>) -> PeerBuilder {
        PeerBuilder::new(node_id)
    }

    /// The peer's node id.
    pub fn node_id(&self) -> &NodeId {
        &self.record.node_id
    }
    /// The peer's addresses.
    pub fn addresses(&self) -> &[PeerAddress] {
        &self.record.addresses
    }
    /// The peer's capabilities.
    pub fn capabilities(&self) -> &Capabilities {
        &self.record.capabilities
    }
    /// The record version.
    pub fn version(&self) -> u64 {
        self.record.version
    }
    /// The health score in `0.0..=1.0`.
    pub fn health_score(&self) -> f64 {
        self.health.score()
    }
    /// Alive or suspect.
    pub fn is_alive(&self) -> bool {
        self.liveness.is_present()
    }
    /// A connection is open.
    pub fn is_connected(&self) -> bool {
        self.connection_state == ConnectionState::Connected
    }

    /// Marks the peer as heard from at `now_ms` (never moves backwards).
    pub fn touch(&mut self, now_ms: u64) {
        self.last_seen_ms = self.last_seen_ms.max(now_ms);
    }

    /// Sets liveness, remembering when it changed. Returns the old value.
    pub fn set_liveness(&mut self, liveness: Liveness, now_ms: u64) -> Liveness {
        let old = self.liveness;
        if old != liveness {
            self.liveness = liveness;
            self.liveness_changed_ms = now_ms;
        }
        old
    }

    /// Checks the record's limits and the health record.
    pub fn validate(&self) -> Result<(), ModelError> {
        self.record.validate()?;
        self.health.validate()
    }

    /// Encodes the peer as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a peer always serializes")
    }

    /// Decodes and validates a peer from a JSON object (strictly, see
    /// [`crate::strict_json`]): peer JSON as
    /// [`to_json`](Self::to_json) writes it, or a seed system peer dict
    /// (`address`, `agents`, `tools`, `last_seen`, ...; see
    /// [`SeedPeer`](super::SeedPeer) for the mapping).
    pub fn from_json(json: &str) -> Result<Self, ModelError> {
        super::seed::from_json_either(
            json,
            |j| Ok(crate::strict_json::from_str(j)?),
            super::SeedPeer::to_peer,
        )
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PeerJson {
    #[serde(default = "default_format")]
    format: u64,
    node_id: NodeId,
    #[serde(default)]
    addresses: Vec<PeerAddress>,
    #[serde(default)]
    public_key: Option<Box<str>>,
    #[serde(default)]
    capabilities: Capabilities,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
    #[serde(default)]
    version: u64,
    #[serde(default)]
    connection_state: ConnectionState,
    #[serde(default)]
    liveness: Liveness,
    #[serde(default)]
    incarnation: u64,
    #[serde(default)]
    health: Health,
    #[serde(default)]
    first_seen_ms: u64,
    #[serde(default)]
    last_seen_ms: u64,
    #[serde(default)]
    liveness_changed_ms: u64,
}

fn default_format() -> u64 {
    PEER_FORMAT_VERSION
}

impl From<Peer> for PeerJson {
    fn from(p: Peer) -> Self {
        PeerJson {
            format: PEER_FORMAT_VERSION,
            node_id: p.record.node_id,
            addresses: p.record.addresses,
            public_key: p.record.public_key,
            capabilities: p.record.capabilities,
            metadata: p.record.metadata,
            version: p.record.version,
            connection_state: p.connection_state,
            liveness: p.liveness,
            incarnation: p.incarnation,
            health: p.health,
            first_seen_ms: p.first_seen_ms,
            last_seen_ms: p.last_seen_ms,
            liveness_changed_ms: p.liveness_changed_ms,
        }
    }
}

impl TryFrom<PeerJson> for Peer {
    type Error = ModelError;
    fn try_from(j: PeerJson) -> Result<Self, Self::Error> {
        if j.format != PEER_FORMAT_VERSION {
            return Err(ModelError::UnsupportedFormat {
                found: j.format,
                supported: PEER_FORMAT_VERSION,
            });
        }
        let peer = Peer {
            record: PeerRecord {
                node_id: j.node_id,
                addresses: j.addresses,
                public_key: j.public_key,
                capabilities: j.capabilities,
                metadata: j.metadata,
                version: j.version,
                signature: None,
            },
            connection_state: j.connection_state,
            liveness: j.liveness,
            incarnation: j.incarnation,
            health: j.health,
            first_seen_ms: j.first_seen_ms,
            last_seen_ms: j.last_seen_ms.max(j.first_seen_ms),
            liveness_changed_ms: j.liveness_changed_ms,
        };
        peer.validate()?;
        Ok(peer)
    }
}

/// Builds a [`Peer`] step by step; every value is checked in
/// [`build`](PeerBuilder::build).
#[derive(Debug, Clone)]
#[must_use]
pub struct PeerBuilder {
    node_id: String,
    addresses: Vec<String>,
    public_key: Option<String>,
    capabilities: Capabilities,
    metadata: BTreeMap<String, String>,
    version: u64,
    now_ms: Option<u64>,
}

impl PeerBuilder {
    fn new(node_id: impl Into<String>) -> Self {
        PeerBuilder {
            node_id: node_id.into(),
            addresses: Vec::new(),
            public_key: None,
            capabilities: Capabilities::default(),
            metadata: BTreeMap::new(),
            version: 0,
            now_ms: None,
        }
    }

    /// Adds an address (`ws://host:port[/path]`).
    pub fn address(mut self, url: impl Into<String>) -> Self {
        self.addresses.push(url.into());
        self
    }
    /// Sets the public key.
    pub fn public_key(mut self, key: impl Into<String>) -> Self {
        self.public_key = Some(key.into());
        self
    }
    /// Adds a capability of any kind.
    pub fn capability(mut self, kind: CapabilityKind, cap: Capability) -> Self {
        self.capabilities.of_mut(kind).push(cap);
        self
    }
    crate::capability_shortcuts!();
    /// Adds a metadata entry.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }
    /// Sets the record version.
    pub fn version(mut self, version: u64) -> Self {
        self.version = version;
        self
    }
    /// Sets first/last seen (default: the system clock at `build`).
    pub fn seen_at_ms(mut self, now_ms: u64) -> Self {
        self.now_ms = Some(now_ms);
        self
    }

    /// Checks everything and builds the record only.
    pub fn build_record(self) -> Result<PeerRecord, ModelError> {
        let record = PeerRecord {
            node_id: NodeId::new(&self.node_id)?,
            addresses: self
                .addresses
                .iter()
                .map(PeerAddress::new)
                .collect::<Result<_, _>>()?,
            public_key: self.public_key.map(String::into_boxed_str),
            capabilities: self.capabilities,
            metadata: self.metadata,
            version: self.version,
            signature: None,
        };
        record.validate()?;
        Ok(record)
    }

    /// Checks everything and builds the peer.
    pub fn build(self) -> Result<Peer, ModelError> {
        use crate::clock::Clock;
        let now = self
            .now_ms
            .unwrap_or_else(|| crate::clock::SystemClock.now_ms());
        Ok(Peer::from_record(self.build_record()?, now))
    }
}
