use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "peerdisc",
    version,
    about = "Peer discovery for decentralized networks: run a node, or read a node's peer table"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once at start-up: the size difference of the variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum Command {
    /// Run a discovery node until interrupted (Ctrl-C or SIGTERM); this is
    /// how bootstrap nodes are deployed. Prints peer events to stdout.
    Node(NodeArgs),
    /// Ask a running node for its peer table and print it.
    Peers(PeersArgs),
}

#[derive(Args)]
pub struct NodeArgs {
    /// A JSON configuration file (NodeConfig); flags override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Sets any configuration item by its JSON path, e.g.
    /// `--set membership.probe_interval_ms=300` or
    /// `--set transport.max_connections=512` (repeatable).
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<String>,
    /// This node's id, chosen by hand (default: derived from its Ed25519
    /// key; see --identity).
    #[arg(long, conflicts_with = "identity")]
    pub node_id: Option<String>,
    /// The node's key file (created with mode 0600 if missing), so its id
    /// survives restarts.
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// Save the peer table here (periodically and on stop) and rejoin
    /// through it after a restart, even without bootstrap nodes.
    #[arg(long, value_name = "FILE")]
    pub snapshot: Option<PathBuf>,
    /// Where to listen (default 127.0.0.1:0: any free port on loopback).
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: Option<SocketAddr>,
    /// The ws:// address other nodes should dial (behind NAT, in containers,
    /// or when listening on 0.0.0.0).
    #[arg(long, value_name = "URL")]
    pub advertise: Option<String>,
    /// The WebSocket path (default /peerdisc).
    #[arg(long, value_name = "PATH")]
    pub ws_path: Option<String>,
    /// A bootstrap node (repeatable).
    #[arg(long, value_name = "URL")]
    pub bootstrap: Vec<String>,
    /// An agent this node hosts (repeatable).
    #[arg(long)]
    pub agent: Vec<String>,
    /// A tool this node offers (repeatable).
    #[arg(long)]
    pub tool: Vec<String>,
    /// A resource this node offers (repeatable).
    #[arg(long)]
    pub resource: Vec<String>,
    /// A prompt this node offers (repeatable).
    #[arg(long)]
    pub prompt: Vec<String>,
    /// Metadata published in this node's record (repeatable).
    #[arg(long, value_name = "KEY=VALUE")]
    pub metadata: Vec<String>,
    /// Turn mDNS discovery on (it multicasts on every interface that is up).
    #[arg(long, conflicts_with = "no_mdns")]
    pub mdns: bool,
    /// Keep mDNS discovery off (the default).
    #[arg(long)]
    pub no_mdns: bool,
    /// Do not gossip or probe (only bootstrap and answer).
    #[arg(long)]
    pub no_gossip: bool,
    /// Gossip interval in ms.
    #[arg(long, value_name = "MS")]
    pub gossip_interval_ms: Option<u64>,
    /// Peers per gossip round.
    #[arg(long)]
    pub fanout: Option<usize>,
    /// Probe interval in ms.
    #[arg(long, value_name = "MS")]
    pub probe_interval_ms: Option<u64>,
    /// Probe timeout in ms.
    #[arg(long, value_name = "MS")]
    pub probe_timeout_ms: Option<u64>,
    /// Peers asked for indirect probes.
    #[arg(long)]
    pub indirect_probes: Option<usize>,
    /// Anti-entropy (push-pull) interval in ms.
    #[arg(long, value_name = "MS")]
    pub push_pull_interval_ms: Option<u64>,
    /// Dead peers are forgotten after this many ms.
    #[arg(long, value_name = "MS")]
    pub dead_reclaim_ms: Option<u64>,
    /// How long discovery waits for bootstrap answers, in ms.
    #[arg(long, value_name = "MS")]
    pub bootstrap_timeout_ms: Option<u64>,
    /// Most connections.
    #[arg(long)]
    pub max_connections: Option<usize>,
    /// Most inbound connections from one IP address.
    #[arg(long)]
    pub max_connections_per_ip: Option<usize>,
    /// Most peers kept in the registry.
    #[arg(long)]
    pub capacity: Option<usize>,
    /// A cluster key (base64 or hex, 32 bytes; repeatable: the first seals,
    /// all open). Nodes without it cannot join or read anything.
    #[arg(long = "cluster-key", value_name = "KEY")]
    pub cluster_key: Vec<String>,
    /// Print events as JSON lines instead of text.
    #[arg(long)]
    pub json_events: bool,
    /// Stop by itself after this many seconds.
    #[arg(long, value_name = "SECS")]
    pub duration_secs: Option<u64>,
    /// Print the effective configuration as JSON and exit.
    #[arg(long)]
    pub print_config: bool,
}

#[derive(Args)]
pub struct PeersArgs {
    /// The node to ask, e.g. ws://127.0.0.1:7400/peerdisc
    pub url: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// How long to wait for the answer, in ms.
    #[arg(long, default_value_t = 3000, value_name = "MS")]
    pub timeout_ms: u64,
    /// The cluster's key, when the node requires one.
    #[arg(long = "cluster-key", value_name = "KEY")]
    pub cluster_key: Vec<String>,
}
