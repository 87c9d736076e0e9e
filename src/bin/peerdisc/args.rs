use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use peerdisc::datagram::DatagramConfig;
use peerdisc::mdns::MdnsConfig;
use peerdisc::membership::MembershipConfig;
use peerdisc::node::NodeConfig;
use peerdisc::registry::RegistryConfig;
use peerdisc::transport::TransportConfig;

/// The exit codes, listed under every `--help`.
const EXIT_CODES: &str = "Exit codes: 0 success; 2 bad arguments; 3 invalid configuration; \
4 the node could not start (for example, its port is taken); 5 the node asked for its peers \
did not answer, timed out or gave a bad answer; 1 anything else.";

#[derive(Parser)]
#[command(
    name = "peerdisc",
    version,
    about = "Peer discovery for decentralized networks: run a node, or read a node's peer table",
    after_help = EXIT_CODES
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
    #[command(after_help = EXIT_CODES)]
    Node(NodeArgs),
    /// Ask a running node for its peer table and print it.
    #[command(after_help = EXIT_CODES)]
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
    /// Print the node's counts (`NodeStats`) every SECS seconds and once
    /// when it stops, as a JSON line `{"type": "stats", ...}` (in the text
    /// view too).
    #[arg(long, value_name = "SECS")]
    pub stats_every_secs: Option<u64>,
    /// Print the effective configuration as JSON and exit.
    #[arg(long)]
    pub print_config: bool,
    // One flag per configuration item, section by section (last: each
    // section sets its own help heading).
    #[command(flatten)]
    pub node: NodeFlags,
    #[command(flatten)]
    pub membership: MembershipFlags,
    #[command(flatten)]
    pub transport: TransportFlags,
    #[command(flatten)]
    pub datagram: DatagramFlags,
    #[command(flatten)]
    pub registry: RegistryFlags,
    #[command(flatten)]
    pub mdns_settings: MdnsFlags,
}

#[derive(Args)]
pub struct PeersArgs {
    /// The node to ask, e.g. ws://127.0.0.1:7400/peerdisc (a URL without a
    /// path means /peerdisc)
    #[arg(value_parser = ws_url)]
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

/// A `ws://` or `wss://` URL (anything else is a usage error, exit 2).
fn ws_url(s: &str) -> Result<String, String> {
    peerdisc::PeerAddress::new(s)
        .map(|_| s.to_string())
        .map_err(|e| e.to_string())
}

/// Declares the flags of one configuration section: a clap `Args` struct
/// with one optional field per configuration item (named like the item, its
/// help taken from the item's documentation), and `apply`, which copies the
/// flags given into the section. `item: T => Some` sets an optional item.
macro_rules! config_flags {
    (
        $(#[$smeta:meta])*
        $name:ident => $section:ty {
            $(
                $(#[$fmeta:meta])*
                $field:ident : $ty:ty $(=> $wrap:ident)?
            ),* $(,)?
        }
    ) => {
        #[derive(Args, Default)]
        $(#[$smeta])*
        pub struct $name {
            $(
                $(#[$fmeta])*
                pub $field: Option<$ty>,
            )*
        }

        impl $name {
            /// Copies the flags given into `section`.
            pub fn apply(&self, section: &mut $section) {
                $(
                    if let Some(v) = &self.$field {
                        section.$field = $($wrap)?(v.clone());
                    }
                )*
            }
        }
    };
}

config_flags! {
    /// Node items without a flag of their own above.
    #[command(next_help_heading = "Node")]
    NodeFlags => NodeConfig {
        /// How long discovery waits for bootstrap answers, in ms (default
        /// 5000).
        #[arg(long, value_name = "MS")]
        bootstrap_timeout_ms: u64,
        /// While the node knows no live peer, the bootstrap nodes are asked
        /// again this often, in ms (default 2000). Bootstrap nodes that never
        /// answered are retried with backoff (--backoff-base-ms,
        /// --backoff-cap-ms) until they do.
        #[arg(long, value_name = "MS")]
        rebootstrap_interval_ms: u64,
        /// How often the peer table is saved to --snapshot, in ms (default
        /// 30000).
        #[arg(long, value_name = "MS")]
        snapshot_interval_ms: u64,
        /// Seed of the protocol's random choices (default: from the OS).
        #[arg(long, value_name = "N")]
        rng_seed: u64 => Some,
    }
}

config_flags! {
    /// `membership.*`: the gossip and probe protocol (see PROTOCOL.md).
    #[command(next_help_heading = "Protocol tuning (membership.*)")]
    MembershipFlags => MembershipConfig {
        /// How often queued updates are pushed to `fanout` peers, in ms
        /// (default 200).
        #[arg(long, value_name = "MS")]
        gossip_interval_ms: u64,
        /// Peers per gossip round (default 3).
        #[arg(long, value_name = "N")]
        fanout: usize,
        /// Each update is sent about `retransmit_mult * ceil(log10(N + 1))`
        /// times by every node that holds it (default 4).
        #[arg(long, value_name = "N")]
        retransmit_mult: u32,
        /// One direct probe per probe interval, in ms, times the local-health
        /// multiplier (default 200).
        #[arg(long, value_name = "MS")]
        probe_interval_ms: u64,
        /// How long to wait for a direct ack before asking for indirect
        /// probes, in ms, times the local-health multiplier (default 80).
        #[arg(long, value_name = "MS")]
        probe_timeout_ms: u64,
        /// Peers asked to probe indirectly (ping_req) (default 5).
        #[arg(long, value_name = "N")]
        indirect_probes: usize,
        /// Suspicion timeout floor: `suspicion_mult * max(1, log10 N) *
        /// probe_interval` (default 2.0).
        #[arg(long, value_name = "X")]
        suspicion_mult: f64,
        /// Suspicion timeout ceiling, as a multiple of the floor (default
        /// 6.0).
        #[arg(long, value_name = "X")]
        suspicion_max_mult: f64,
        /// Independent confirmations after which the suspicion timeout
        /// reaches its floor (default 3).
        #[arg(long, value_name = "N")]
        suspicion_confirmations: u32,
        /// Highest local-health score (Lifeguard's awareness); the multiplier
        /// is `1 + score` (default 8).
        #[arg(long, value_name = "N")]
        max_local_health: u32,
        /// Weight of the local-health score on the probe interval (0: none,
        /// 1: Lifeguard's full multiplier; default 0.0).
        #[arg(long, value_name = "X")]
        awareness_interval_weight: f64,
        /// Weight of the local-health score on the suspicion timeout
        /// (default 0.05).
        #[arg(long, value_name = "X")]
        awareness_suspicion_weight: f64,
        /// Base anti-entropy (push-pull) interval in ms, scaled up with the
        /// cluster size above 32 nodes (default 30000).
        #[arg(long, value_name = "MS")]
        push_pull_interval_ms: u64,
        /// How often one dead peer is tried again (to re-merge healed
        /// partitions), in ms (default 1000).
        #[arg(long, value_name = "MS")]
        reconnect_interval_ms: u64,
        /// First backoff for an unreachable peer or bootstrap node, in ms;
        /// doubles per failure (default 1000).
        #[arg(long, value_name = "MS")]
        backoff_base_ms: u64,
        /// Backoff ceiling, in ms (default 30000).
        #[arg(long, value_name = "MS")]
        backoff_cap_ms: u64,
        /// Dead peers are forgotten after this many ms (default 900000).
        #[arg(long, value_name = "MS")]
        dead_reclaim_ms: u64,
        /// Peers that left are forgotten after this many ms (default
        /// 300000).
        #[arg(long, value_name = "MS")]
        left_reclaim_ms: u64,
        /// Byte budget of the updates in one gossip announcement (default
        /// 16384).
        #[arg(long, value_name = "BYTES")]
        max_gossip_bytes: usize,
        /// Byte budget of updates piggybacked on a ping or ack (default
        /// 1024).
        #[arg(long, value_name = "BYTES")]
        max_piggyback_bytes: usize,
        /// Records sent in answer to a hello (bootstrap).
        #[arg(long, value_name = "N")]
        peer_list_size: usize,
        /// Refuse unsigned records, liveness claims (alive, leave) and
        /// greetings, also of nodes with hand-picked ids (default false:
        /// signatures are always checked, and nodes with key-derived ids
        /// must sign).
        #[arg(long, value_name = "BOOL")]
        require_signed_records: bool,
        /// Seed-compatible mode, for networks with nodes of the earlier
        /// Python system (default false): accept their bare announcements
        /// and extra fields, announce seed-shaped every
        /// --announce-interval-ms.
        #[arg(long, value_name = "BOOL")]
        seed_compatible: bool,
        /// How often a seed-compatible node announces itself, in ms (default
        /// 60000).
        #[arg(long, value_name = "MS")]
        announce_interval_ms: u64,
    }
}

config_flags! {
    /// `transport.*`: WebSocket connections (the listen address and path
    /// are --listen and --ws-path).
    #[command(next_help_heading = "Transport (transport.*)")]
    TransportFlags => TransportConfig {
        /// Budget of one TCP connect to one resolved address, in ms (default
        /// 3000).
        #[arg(long = "transport-connect-timeout-ms", value_name = "MS")]
        connect_timeout_ms: u64,
        /// Budget of the whole WebSocket handshake, in ms (default 5000).
        #[arg(long = "transport-handshake-timeout-ms", value_name = "MS")]
        handshake_timeout_ms: u64,
        /// A connection on which no complete frame arrives for this long is
        /// closed, in ms; a ping goes out at half of it (default 60000).
        #[arg(long = "transport-idle-timeout-ms", value_name = "MS")]
        idle_timeout_ms: u64,
        /// Largest message (after reassembly), in bytes (default 4 MiB).
        #[arg(long = "transport-max-message-size", value_name = "BYTES")]
        max_message_size: usize,
        /// Largest inbound frame payload, in bytes (default 4 MiB).
        #[arg(long = "transport-max-frame-size", value_name = "BYTES")]
        max_frame_size: usize,
        /// Most connections open or opening at once, inbound and outbound
        /// together (default 256).
        #[arg(
            long = "transport-max-connections",
            visible_alias = "max-connections",
            value_name = "N"
        )]
        max_connections: usize,
        /// Most inbound connections from one IP address (default 256, the
        /// same as the connection budget: no cap of its own).
        #[arg(
            long = "transport-max-connections-per-ip",
            visible_alias = "max-connections-per-ip",
            value_name = "N"
        )]
        max_connections_per_ip: usize,
        /// Most inbound messages per second on one connection; more closes
        /// it (default 200).
        #[arg(long = "transport-max-messages-per-sec", value_name = "N")]
        max_messages_per_sec: u32,
        /// Most messages waiting to be written on one connection (default
        /// 256).
        #[arg(long = "transport-outbound-queue-len", value_name = "N")]
        outbound_queue_len: usize,
        /// Capacity of the transport's event channel (default 4096).
        #[arg(long = "transport-event-queue-len", value_name = "N")]
        event_queue_len: usize,
        /// First reconnection delay after a failed connect, in ms (default
        /// 250).
        #[arg(
            long = "transport-backoff-base-ms",
            id = "transport_backoff_base_ms",
            value_name = "MS"
        )]
        backoff_base_ms: u64,
        /// Longest reconnection delay, in ms (default 30000).
        #[arg(
            long = "transport-backoff-cap-ms",
            id = "transport_backoff_cap_ms",
            value_name = "MS"
        )]
        backoff_cap_ms: u64,
        /// Fraction of each reconnection delay drawn at random and taken off
        /// it, 0.0 to 1.0 (default 0.5).
        #[arg(long = "transport-backoff-jitter", value_name = "X")]
        backoff_jitter: f64,
        /// How long stopping waits for the transport's threads, in ms
        /// (default 100).
        #[arg(long = "transport-stop-timeout-ms", value_name = "MS")]
        stop_timeout_ms: u64,
    }
}

config_flags! {
    /// `datagram.*`: probes and gossip over UDP.
    #[command(next_help_heading = "Datagram path (datagram.*)")]
    DatagramFlags => DatagramConfig {
        /// Bind UDP on the listen address and port and send probes and
        /// gossip as datagrams to peers that have the path (default true;
        /// false: everything over WebSocket).
        #[arg(long = "datagram-enabled", value_name = "BOOL")]
        enabled: bool,
        /// Largest datagram sent or accepted, in bytes, 512 to 65507
        /// (default 1400, fits a 1500-byte MTU).
        #[arg(long = "datagram-max-bytes", value_name = "BYTES")]
        max_bytes: usize,
    }
}

config_flags! {
    /// `registry.*`: the peer table.
    #[command(next_help_heading = "Registry (registry.*)")]
    RegistryFlags => RegistryConfig {
        /// Most peers kept; when full, a new peer must outrank the lowest
        /// evictable one (default 100000).
        #[arg(long = "registry-capacity", visible_alias = "capacity", value_name = "N")]
        capacity: usize,
        /// How long a dead or departed peer stays listed, in ms (default
        /// 300000).
        #[arg(long = "registry-dead-retention-ms", value_name = "MS")]
        dead_retention_ms: u64,
        /// Also mark dead every peer not heard from for this long, in ms
        /// (for a registry used without the protocol; default unset).
        #[arg(long = "registry-stale-after-ms", value_name = "MS")]
        stale_after_ms: u64 => Some,
        /// Queue length of each event subscriber (default 4096).
        #[arg(long = "registry-subscriber-capacity", value_name = "N")]
        subscriber_capacity: usize,
    }
}

config_flags! {
    /// `mdns.*`: used with --mdns.
    #[command(next_help_heading = "mDNS (mdns.*, used with --mdns)")]
    MdnsFlags => MdnsConfig {
        /// The DNS-SD service type, `_<name>._tcp.local.` or
        /// `_<name>._udp.local.` (default `_peerdisc._tcp.local.`).
        #[arg(long = "mdns-service-type", value_name = "TYPE")]
        service_type: String,
        /// Use IPv4 (default true).
        #[arg(long = "mdns-ipv4", value_name = "BOOL")]
        ipv4: bool,
        /// Use IPv6 (default true); link-local addresses are learned but not
        /// dialled.
        #[arg(long = "mdns-ipv6", value_name = "BOOL")]
        ipv6: bool,
        /// Interfaces to use, comma-separated (default: every interface that
        /// is up, loopback included).
        #[arg(long = "mdns-interfaces", value_name = "NAME,...", value_delimiter = ',')]
        interfaces: Vec<String>,
        /// How long a discovered service has to answer the hello before it
        /// is reported as failed, in ms (default 3000).
        #[arg(long = "mdns-hello-timeout-ms", value_name = "MS")]
        hello_timeout_ms: u64,
        /// Probe for name conflicts before announcing (RFC 6762 8.1; delays
        /// the first announcement by about 750 ms; default false).
        #[arg(long = "mdns-probe", value_name = "BOOL")]
        probe: bool,
    }
}
