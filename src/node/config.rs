use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::NodeError;
use crate::datagram::DatagramConfig;
use crate::mdns::MdnsConfig;
use crate::membership::MembershipConfig;
use crate::model::{Capabilities, NodeId, PeerAddress, DEFAULT_WS_PATH};
use crate::registry::RegistryConfig;
use crate::transport::TransportConfig;

/// Everything a [`Node`](super::Node) needs. Every field has a default, so
/// a JSON object naming only what differs is a valid configuration:
///
/// ```json
/// {"listen": "0.0.0.0:7400", "advertise": "ws://203.0.113.7:7400/peerdisc",
///  "bootstrap": ["ws://seed1.example:7400/peerdisc"],
///  "capabilities": {"agents": ["planner"], "tools": ["search"]}}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// This node's id, chosen by hand. When unset (the default), the id is
    /// derived from the node's Ed25519 public key (see `identity_path`), and
    /// the record carries that key.
    pub node_id: Option<String>,
    /// The file holding this node's Ed25519 key (created with mode 0600
    /// when missing), so that its id survives restarts. Unset: a new key
    /// (and so a new id) at every start. Cannot be combined with `node_id`.
    pub identity_path: Option<PathBuf>,
    /// Where the WebSocket listener binds (port 0: any free port).
    /// Default `127.0.0.1:0`.
    pub listen: SocketAddr,
    /// The address other nodes should dial, for nodes behind NAT or in
    /// containers (without a path: `ws_path`). Default: `ws://<listen
    /// address>:<bound port><ws_path>`.
    pub advertise: Option<String>,
    /// The HTTP path of the WebSocket endpoint. Default `/peerdisc`.
    pub ws_path: String,
    /// Bootstrap nodes (`ws://host:port/path`; a URL without a path, as
    /// the seed system wrote them, means `/peerdisc`).
    pub bootstrap: Vec<String>,
    /// How long `discover_bootstrap` waits for answers. Default 5,000 ms.
    pub bootstrap_timeout_ms: u64,
    /// While this node knows no live peer, the bootstrap nodes are asked
    /// again this often (with backoff per unreachable node). Default 2,000 ms.
    pub rebootstrap_interval_ms: u64,
    /// Run the gossip/probe protocol. Default on. With it off the node only
    /// bootstraps and answers.
    pub enable_gossip: bool,
    /// Run mDNS/DNS-SD discovery (needs the `mdns` Cargo feature). Default
    /// off: mDNS multicasts on every interface that is up, so a user turns
    /// it on knowingly.
    pub enable_mdns: bool,
    /// mDNS settings (service type, address families, interfaces), used
    /// when `enable_mdns` is on.
    pub mdns: MdnsConfig,
    /// What this node offers.
    pub capabilities: Capabilities,
    /// Free-form metadata published in this node's record.
    pub metadata: BTreeMap<String, String>,
    /// Protocol tuning.
    pub membership: MembershipConfig,
    /// Transport limits and timeouts (its `listen` and `ws_path` are taken
    /// from the fields above). A node allows 256 connections, 64 of them
    /// inbound from one IP address (nodes behind one NAT, or many nodes on
    /// one host, share an address).
    pub transport: TransportConfig,
    /// The datagram path: probes and gossip over UDP on the listen address
    /// and port (default on, datagrams of at most 1,400 bytes).
    pub datagram: DatagramConfig,
    /// Registry settings.
    pub registry: RegistryConfig,
    /// Seed of the protocol's random choices (default: from the OS).
    pub rng_seed: Option<u64>,
    /// Where the peer table is saved (every `snapshot_interval_ms` and on
    /// stop) and read at start: a restarted node then rejoins through the
    /// peers it knew, even when its bootstrap nodes are gone. A corrupt
    /// snapshot is set aside with a warning. Default: none.
    pub snapshot_path: Option<PathBuf>,
    /// How often the snapshot is saved, in ms. Default 30,000.
    pub snapshot_interval_ms: u64,
    /// Cluster keys (32 bytes each, base64 or hex; see
    /// `peerdisc::keyring`). When set, every frame is sealed with the first
    /// and opened with any of them, and plaintext peers are refused; keys
    /// rotate by installing the new key second everywhere, then first, then
    /// removing the old. Default: none (plaintext). These are secrets: keep
    /// the configuration file private.
    pub cluster_keys: Vec<String>,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            node_id: None,
            identity_path: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            advertise: None,
            ws_path: DEFAULT_WS_PATH.into(),
            bootstrap: Vec::new(),
            bootstrap_timeout_ms: 5_000,
            rebootstrap_interval_ms: 2_000,
            enable_gossip: true,
            enable_mdns: false,
            mdns: MdnsConfig::default(),
            capabilities: Capabilities::default(),
            metadata: BTreeMap::new(),
            membership: MembershipConfig::default(),
            transport: TransportConfig {
                max_connections: 256,
                // No per-IP cap below the budget: nodes on one host or
                // behind one NAT address share an IP (see TransportConfig).
                max_connections_per_ip: 256,
                ..TransportConfig::default()
            },
            datagram: DatagramConfig::default(),
            registry: RegistryConfig::default(),
            rng_seed: None,
            snapshot_path: None,
            snapshot_interval_ms: 30_000,
            cluster_keys: Vec::new(),
        }
    }
}

impl NodeConfig {
    /// Reads a configuration from a JSON object (strictly: see
    /// [`crate::strict_json`]).
    pub fn from_json(json: &str) -> Result<Self, NodeError> {
        crate::strict_json::from_str(json).map_err(|e| NodeError::Config(e.to_string()))
    }

    /// Checks every part, as [`Node::new`](super::Node::new) does; returns
    /// the parsed bootstrap addresses.
    pub fn validate(&self) -> Result<Vec<PeerAddress>, NodeError> {
        if let Some(id) = &self.node_id {
            NodeId::new(id).map_err(|e| NodeError::Config(e.to_string()))?;
            if self.identity_path.is_some() {
                return Err(NodeError::Config(
                    "set node_id or identity_path, not both: with an identity the node id is derived from its key".into(),
                ));
            }
        }
        if !self.ws_path.starts_with('/') {
            return Err(NodeError::Config(format!(
                "ws_path {:?} must start with '/'",
                self.ws_path
            )));
        }
        if let Some(a) = &self.advertise {
            let a = PeerAddress::with_default_path(a, &self.ws_path)
                .map_err(|e| NodeError::Config(format!("advertise: {e}")))?;
            if a.is_datagram() {
                return Err(NodeError::Config(
                    "advertise: the advertised address is the ws:// or wss:// one".into(),
                ));
            }
        }
        self.datagram
            .validate()
            .map_err(|e| NodeError::Config(format!("datagram: {e}")))?;
        self.capabilities
            .validate()
            .map_err(|e| NodeError::Config(format!("capabilities: {e}")))?;
        self.membership
            .validate()
            .map_err(|e| NodeError::Config(format!("membership: {e}")))?;
        self.registry
            .validate()
            .map_err(|e| NodeError::Config(format!("registry: {e}")))?;
        if !self.cluster_keys.is_empty() {
            crate::keyring::Keyring::from_strings(&self.cluster_keys)
                .map_err(|e| NodeError::Config(format!("cluster_keys: {e}")))?;
        }
        if self.enable_mdns && !cfg!(feature = "mdns") {
            return Err(NodeError::Config(
                "enable_mdns is set but peerdisc was built without the `mdns` feature".into(),
            ));
        }
        if self.enable_mdns {
            self.mdns
                .validate()
                .map_err(|e| NodeError::Config(e.to_string()))?;
            crate::mdns::txt::check_path(&self.ws_path)
                .map_err(|e| NodeError::Config(format!("ws_path with mDNS: {e}")))?;
        }
        self.bootstrap
            .iter()
            .map(|b| match PeerAddress::with_default_path(b, DEFAULT_WS_PATH) {
                Ok(a) if a.is_datagram() => Err(NodeError::Config(format!(
                    "bootstrap: {b} is a datagram address; bootstrap nodes are dialled at ws:// or wss://"
                ))),
                Ok(a) => Ok(a),
                Err(e) => Err(NodeError::Config(format!("bootstrap: {e}"))),
            })
            .collect()
    }
}
