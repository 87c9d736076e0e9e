//! The networked node: the seed system's `PeerDiscovery`, unified. A node
//! listens on `ws://host:port/path`, reaches its bootstrap nodes, gossips,
//! probes, keeps its [`PeerRegistry`] true, and stops cleanly.
//!
//! ```no_run
//! use peerdisc::node::{Node, NodeConfig};
//! use std::time::Duration;
//!
//! let seed = Node::builder().tool("search").start()?;
//! let node = Node::builder()
//!     .bootstrap(seed.address().as_str())
//!     .agent("planner")
//!     .start()?;
//! node.wait_for_peers(1, Duration::from_secs(5))?;
//! assert_eq!(node.find_by_tool("search").len(), 1);
//! node.stop()?;
//! # Ok::<(), peerdisc::node::NodeError>(())
//! ```
//!
//! Threads per running node: the transport's listener, one per open
//! connection, and the protocol driver (plus the registry's callback
//! dispatcher once a callback is registered, and with mDNS on the mdns-sd
//! daemon and its forwarding thread; see [`crate::mdns`]).

mod admin;
mod bootstrap;
mod builder;
mod candidates;
mod config;
mod datagram_path;
mod driver;
mod driver_datagram;
mod error;
mod event;
mod greeting;
mod intake;
mod mdns_link;
mod routing;
mod sealing;
mod seed_compat;
mod stats;
mod traffic;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};
use parking_lot::Mutex;

pub use builder::NodeBuilder;
pub use config::NodeConfig;
pub use error::{BootstrapError, NodeError};
pub use event::NodeEvent;
pub use stats::NodeStats;
pub use traffic::{SentByChannel, SentCount};

use crate::events::PeerEvent;
use crate::identity::Identity;
use crate::membership::Membership;
use crate::model::{Capabilities, NodeId, Peer, PeerAddress, PeerRecord};
use crate::persist::Snapshotter;
use crate::registry::PeerRegistry;
use crate::transport::{Transport, TransportHandle};
use datagram_path::DatagramPath;
use driver::{Driver, DriverCommand, DriverCounters};
use event::NodeEventSink;
use mdns_link::MdnsLink;
use routing::Routing;

/// What [`Node::discover_bootstrap`] learned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootstrapReport {
    /// Peers named in the bootstrap nodes' answers.
    pub peers: Vec<NodeId>,
    /// One error per bootstrap node that did not answer.
    pub errors: Vec<BootstrapError>,
}

/// A peer discovery node. Cloning gives another handle to the same node;
/// dropping the last handle stops it.
#[derive(Clone)]
pub struct Node {
    inner: Arc<NodeInner>,
}

struct NodeInner {
    config: NodeConfig,
    node_id: NodeId,
    /// The node's key pair (`None` when the node id was chosen by hand:
    /// its records then travel unsigned).
    identity: Option<Identity>,
    bootstrap: Vec<PeerAddress>,
    registry: PeerRegistry,
    counters: Arc<DriverCounters>,
    events: NodeEventSink,
    events_rx: Receiver<NodeEvent>,
    running: Mutex<Option<Running>>,
}

struct Running {
    address: PeerAddress,
    snapshots: Option<Snapshotter>,
    transport: Arc<TransportHandle>,
    commands: Sender<DriverCommand>,
    driver: std::thread::JoinHandle<()>,
    mdns: Option<MdnsLink>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("node_id", &self.inner.node_id)
            .field("running", &self.is_running())
            .finish()
    }
}

/// The node's id and, unless the id was chosen by hand, its identity.
fn node_identity(config: &NodeConfig) -> Result<(NodeId, Option<Identity>), NodeError> {
    if let Some(id) = &config.node_id {
        let id = NodeId::new(id).map_err(|e| NodeError::Config(e.to_string()))?;
        return Ok((id, None));
    }
    let identity = match &config.identity_path {
        Some(path) => {
            let (identity, created) =
                Identity::load_or_create(path).map_err(|e| NodeError::Config(e.to_string()))?;
            if created {
                log::info!(
                    "peerdisc: created a new identity {} in {}",
                    identity.node_id(),
                    path.display()
                );
            }
            identity
        }
        None => Identity::generate(),
    };
    Ok((identity.node_id(), Some(identity)))
}

impl Node {
    /// Starts a builder.
    pub fn builder() -> NodeBuilder {
        NodeBuilder::default()
    }

    /// A node with this configuration, not started yet.
    pub fn new(config: NodeConfig) -> Result<Node, NodeError> {
        let registry = PeerRegistry::with_config(config.registry.clone())?;
        Self::with_registry(config, registry)
    }

    /// A node that keeps its peers in the application's `registry` (the
    /// seed system's shared `PeerRegistry`), not started yet. The
    /// configuration's `registry` section is then not used: the registry
    /// keeps its own settings.
    pub fn with_registry(config: NodeConfig, registry: PeerRegistry) -> Result<Node, NodeError> {
        let bootstrap = config.validate()?;
        let (node_id, identity) = node_identity(&config)?;
        let (events, events_rx) = NodeEventSink::new();
        Ok(Node {
            inner: Arc::new(NodeInner {
                config,
                node_id,
                identity,
                bootstrap,
                registry,
                counters: Arc::new(DriverCounters::default()),
                events,
                events_rx,
                running: Mutex::new(None),
            }),
        })
    }

    /// Binds the listener and starts the worker threads. Fails with
    /// [`NodeError::Transport`] if the listen address is taken.
    pub fn start(&self) -> Result<(), NodeError> {
        let mut running = self.inner.running.lock();
        if running.is_some() {
            return Err(NodeError::AlreadyRunning);
        }
        let cfg = &self.inner.config;
        let mut tcfg = cfg.transport.clone();
        tcfg.listen = cfg.listen;
        tcfg.ws_path = cfg.ws_path.clone();
        let (transport, events) = Transport::start(tcfg)?;
        let transport = Arc::new(transport);
        let address = match &cfg.advertise {
            Some(a) => PeerAddress::with_default_path(a, &cfg.ws_path)
                .map_err(|e| NodeError::Config(e.to_string()))?,
            None => {
                let local = transport.local_addr();
                if local.ip().is_unspecified() {
                    let _ = transport.stop();
                    return Err(NodeError::Config(format!(
                        "listening on {local} needs `advertise` (the address other nodes should dial)"
                    )));
                }
                PeerAddress::new(format!("ws://{local}{}", cfg.ws_path))
                    .map_err(|e| NodeError::Config(e.to_string()))?
            }
        };
        let keyed = !cfg.cluster_keys.is_empty();
        let datagrams = if cfg.datagram.enabled {
            match DatagramPath::bind(&cfg.datagram, transport.local_addr(), &self.inner.node_id) {
                Ok(p) => Some(p),
                Err(e) => {
                    let _ = transport.stop();
                    return Err(NodeError::Config(format!("datagram path: {e}")));
                }
            }
        } else {
            None
        };
        let mut addresses = vec![address.clone()];
        if let Some(p) = &datagrams {
            addresses.push(datagram_address(
                &address,
                p.local_addr(),
                transport.local_addr(),
            ));
        }
        let mut membership = cfg.membership.clone();
        if datagrams.is_some() {
            crate::datagram::fit_budgets(
                &mut membership,
                cfg.datagram.max_bytes,
                self.inner.node_id.as_str().len(),
                keyed,
            );
        }
        let record = PeerRecord {
            node_id: self.inner.node_id.clone(),
            addresses,
            public_key: self
                .inner
                .identity
                .as_ref()
                .map(|i| i.public_key_text().into_boxed_str()),
            capabilities: cfg.capabilities.clone(),
            metadata: cfg.metadata.clone(),
            version: 1,
            signature: None,
        };
        let seed = cfg.rng_seed.unwrap_or_else(rand::random);
        let mut core = Membership::new(record, membership, seed)
            .map_err(|e| NodeError::Config(e.to_string()))?;
        core.set_unix_epoch_ms(crate::clock::Clock::now_ms(&crate::clock::SystemClock));
        if let Some(identity) = &self.inner.identity {
            core.set_identity(identity.clone())
                .map_err(|e| NodeError::Config(e.to_string()))?;
        }
        // Register and browse at once: mDNS answers take up to a second.
        let (mdns, mdns_events) =
            match mdns_link::start(cfg, &self.inner.node_id, transport.local_addr(), &address) {
                Ok(m) => m,
                Err(e) => {
                    let _ = transport.stop();
                    return Err(e);
                }
            };
        let remembered = self.remembered_peers();
        let keyring = match cfg.cluster_keys.as_slice() {
            [] => None,
            keys => match crate::keyring::Keyring::from_strings(keys) {
                Ok(k) => Some(k),
                Err(e) => {
                    abandon(&transport, mdns, None);
                    return Err(NodeError::Config(format!("cluster_keys: {e}")));
                }
            },
        };
        warn_if_unprotected(
            &self.inner.node_id,
            self.inner.identity.is_some(),
            keyring.is_some(),
            transport.local_addr(),
        );
        let snapshots = match &cfg.snapshot_path {
            Some(path) => match Snapshotter::start(
                self.inner.registry.clone(),
                path.clone(),
                Duration::from_millis(cfg.snapshot_interval_ms.max(100)),
            ) {
                Ok(s) => Some(s),
                Err(e) => {
                    abandon(&transport, mdns, None);
                    return Err(NodeError::Thread {
                        name: "snapshot",
                        reason: e.to_string(),
                    });
                }
            },
            None => None,
        };
        // The bootstrap worker's retries (not of this node's own address).
        let retried: Vec<PeerAddress> = self
            .inner
            .bootstrap
            .iter()
            .filter(|a| **a != address)
            .cloned()
            .collect();
        let seeds = bootstrap::SeedRetries::new(
            &retried,
            cfg.membership.backoff_base_ms,
            cfg.membership.backoff_cap_ms,
            cfg.rng_seed.map_or_else(rand::random, |s| !s),
            0,
        );
        let (tx, rx) = bounded(64);
        let driver = Driver {
            core,
            me: self.inner.node_id.clone(),
            transport: Arc::clone(&transport),
            events,
            commands: rx,
            registry: self.inner.registry.clone(),
            epoch: Instant::now(),
            bootstrap: self.inner.bootstrap.clone(),
            remembered,
            bootstrap_timeout_ms: cfg.bootstrap_timeout_ms,
            rebootstrap_interval_ms: cfg.rebootstrap_interval_ms,
            gossip: cfg.enable_gossip,
            keyring,
            counters: Arc::clone(&self.inner.counters),
            routing: Routing::default(),
            pending: Vec::new(),
            next_rebootstrap_ms: 0,
            seeds,
            mdns: mdns_events,
            node_events: self.inner.events.clone(),
            candidates: candidates::Candidates::new(cfg.mdns.hello_timeout_ms),
            warmed: None,
            datagram_rx: datagrams
                .as_ref()
                .map_or_else(crossbeam_channel::never, |p| p.rx.clone()),
            datagrams,
            reply_channel: None,
            greeter: greeting::Greeter::new(
                self.inner.node_id.clone(),
                self.inner.identity.clone(),
                cfg.membership.require_signed_records,
            ),
        };
        let handle = std::thread::Builder::new()
            .name(format!("peerdisc-driver-{}", self.inner.node_id))
            .spawn(move || driver.run());
        let handle = match handle {
            Ok(h) => h,
            Err(e) => {
                abandon(&transport, mdns, snapshots);
                return Err(NodeError::Thread {
                    name: "driver",
                    reason: e.to_string(),
                });
            }
        };
        *running = Some(Running {
            address,
            snapshots,
            transport,
            commands: tx,
            driver: handle,
            mdns,
        });
        Ok(())
    }

    /// The addresses of the peers in the snapshot (the most healthy first,
    /// at most 16), to rejoin through.
    fn remembered_peers(&self) -> Vec<PeerAddress> {
        let Some(path) = &self.inner.config.snapshot_path else {
            return Vec::new();
        };
        let (mut peers, _warning) = crate::persist::load_or_set_aside(path);
        peers.retain(|p| p.node_id() != &self.inner.node_id && p.liveness != crate::Liveness::Left);
        peers.sort_by(|a, b| b.health_score().total_cmp(&a.health_score()));
        let mut seen = std::collections::HashSet::new();
        peers
            .iter()
            .filter_map(|p| p.addresses().iter().find(|a| !a.is_datagram()).cloned())
            .filter(|a| !self.inner.bootstrap.contains(a) && seen.insert(a.clone()))
            .take(16)
            .collect()
    }

    /// Leaves gracefully (tells the others), stops every thread and waits
    /// for them. Idempotent.
    ///
    /// One thread may outlive `stop`: the registry's callback dispatcher,
    /// started by the first callback registered on [`registry`]
    /// (`on_event`, `on_add`, ...). The registry outlives the node by
    /// design (it can still be read, and cloned, after the node stopped),
    /// so its dispatcher ends when the last handle to the registry is
    /// dropped: the node's last handle and every registry clone. A stopped
    /// node that is dropped leaves no thread behind.
    ///
    /// [`registry`]: Self::registry
    pub fn stop(&self) -> Result<(), NodeError> {
        self.halt(DriverCommand::Stop)
    }

    /// Stops at once without telling the other nodes, as a crash would
    /// (they find out by probing). For tests and demonstrations.
    pub fn abort(&self) -> Result<(), NodeError> {
        self.halt(DriverCommand::Abort)
    }

    fn halt(&self, how: DriverCommand) -> Result<(), NodeError> {
        let Some(r) = self.inner.running.lock().take() else {
            return Ok(());
        };
        let graceful = matches!(how, DriverCommand::Stop);
        let _ = r.commands.send(how);
        // The driver stops the transport on its way out; it never blocks on
        // the network, so the join is bounded.
        let _ = r.driver.join();
        // mDNS goodbye (graceful) and the daemon's shutdown, bounded too.
        if let Some(m) = r.mdns {
            m.stop(graceful);
        }
        if let Some(s) = r.snapshots {
            if let Err(e) = s.stop() {
                log::warn!("peerdisc: the final peer snapshot failed: {e}");
            }
        }
        r.transport.stop()?;
        Ok(())
    }

    /// Whether the node is running.
    pub fn is_running(&self) -> bool {
        self.inner.running.lock().is_some()
    }

    /// This node's id.
    pub fn node_id(&self) -> &NodeId {
        &self.inner.node_id
    }

    /// The address other nodes dial (`ws://...`); `None` before start.
    pub fn try_address(&self) -> Option<PeerAddress> {
        self.inner
            .running
            .lock()
            .as_ref()
            .map(|r| r.address.clone())
    }

    /// The address other nodes dial. Panics if the node is not running;
    /// see [`try_address`](Self::try_address).
    pub fn address(&self) -> PeerAddress {
        self.try_address().expect("the node is running")
    }

    /// The node's configuration.
    pub fn config(&self) -> &NodeConfig {
        &self.inner.config
    }

    /// The registry of peers this node knows.
    pub fn registry(&self) -> &PeerRegistry {
        &self.inner.registry
    }

    /// Peers believed alive (alive or suspect), sorted by node id.
    pub fn peers(&self) -> Vec<Arc<Peer>> {
        self.inner.registry.list_alive()
    }

    fn alive_with(&self, found: Vec<Arc<Peer>>) -> Vec<Arc<Peer>> {
        found.into_iter().filter(|p| p.is_alive()).collect()
    }

    /// Live peers offering this agent.
    pub fn find_by_agent(&self, name: &str) -> Vec<Arc<Peer>> {
        self.alive_with(self.inner.registry.find_by_agent(name))
    }
    /// Live peers offering this tool.
    pub fn find_by_tool(&self, name: &str) -> Vec<Arc<Peer>> {
        self.alive_with(self.inner.registry.find_by_tool(name))
    }
    /// Live peers offering this resource.
    pub fn find_by_resource(&self, name: &str) -> Vec<Arc<Peer>> {
        self.alive_with(self.inner.registry.find_by_resource(name))
    }
    /// Live peers offering this prompt.
    pub fn find_by_prompt(&self, name: &str) -> Vec<Arc<Peer>> {
        self.alive_with(self.inner.registry.find_by_prompt(name))
    }

    /// Node-level discovery events ([`NodeEvent`]): mDNS candidates, their
    /// confirmation or failure, services gone, mDNS unavailable. Events
    /// queue from [`Node::new`] on (up to 256; later ones are dropped and
    /// counted in [`node_events_dropped`](Self::node_events_dropped)). All
    /// receivers of one node share that one queue.
    pub fn node_events(&self) -> Receiver<NodeEvent> {
        self.inner.events_rx.clone()
    }

    /// Node events dropped because nobody read them.
    pub fn node_events_dropped(&self) -> u64 {
        self.inner.events.dropped()
    }

    /// Registry events from now on (see [`PeerRegistry::subscribe`]).
    pub fn subscribe(&self) -> Receiver<PeerEvent> {
        self.inner.registry.subscribe()
    }

    /// Blocks until at least `n` peers are alive, or `timeout` passes.
    /// Returns how many are alive.
    pub fn wait_for_peers(&self, n: usize, timeout: Duration) -> Result<usize, NodeError> {
        let deadline = Instant::now() + timeout;
        let events = self.inner.registry.subscribe_with_capacity(1024);
        loop {
            let alive = self.inner.registry.list_alive().len();
            if alive >= n {
                return Ok(alive);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(NodeError::Timeout {
                    wanted: n,
                    found: alive,
                });
            }
            // Wake on the next event (or re-check every 50 ms).
            let _ = events.recv_timeout(left.min(Duration::from_millis(50)));
        }
    }

    fn command<T>(
        &self,
        make: impl FnOnce(Sender<T>) -> DriverCommand,
        timeout: Duration,
    ) -> Result<T, NodeError> {
        let tx = match self.inner.running.lock().as_ref() {
            Some(r) => r.commands.clone(),
            None => return Err(NodeError::NotRunning),
        };
        let (reply, rx) = bounded(1);
        tx.send(make(reply)).map_err(|_| NodeError::NotRunning)?;
        rx.recv_timeout(timeout).map_err(|_| NodeError::NotRunning)
    }

    /// Asks every bootstrap node for its peers and blocks until each
    /// answered, failed, or `bootstrap_timeout_ms` passed. Returns the peers
    /// learned and one error per bootstrap node that did not answer; fails
    /// with [`NodeError::Bootstrap`] if none answered.
    pub fn discover_bootstrap(&self) -> Result<BootstrapReport, NodeError> {
        let timeout = Duration::from_millis(self.inner.config.bootstrap_timeout_ms + 1_000);
        let report = self.command(DriverCommand::Bootstrap, timeout)?;
        if !self.inner.bootstrap.is_empty() && report.errors.len() == self.inner.bootstrap.len() {
            return Err(NodeError::Bootstrap(report.errors));
        }
        Ok(report)
    }

    /// Replaces this node's capabilities; the new record (with a higher
    /// version) spreads to every node.
    pub fn update_capabilities(&self, capabilities: Capabilities) -> Result<(), NodeError> {
        capabilities
            .validate()
            .map_err(|e| NodeError::Config(e.to_string()))?;
        self.command(
            |reply| DriverCommand::UpdateCapabilities(capabilities.clone(), reply),
            Duration::from_secs(5),
        )??;
        if let Some(m) = self
            .inner
            .running
            .lock()
            .as_ref()
            .and_then(|r| r.mdns.as_ref())
        {
            m.update_capabilities(&capabilities);
        }
        Ok(())
    }

    /// Counts of the node, its registry and its transport.
    pub fn stats(&self) -> NodeStats {
        let running = self.inner.running.lock();
        NodeStats::collect(
            &self.inner.node_id,
            running.as_ref().map(|r| (&r.address, &*r.transport)),
            &self.inner.counters,
            &self.inner.registry,
        )
    }
}

/// Undoes a start that failed half-way: stops what already runs.
/// The `udp://` address this node advertises: the advertised WebSocket
/// address's host, and the UDP port (the advertised port when UDP is bound
/// on the WebSocket listener's port, as a NAT or container mapping of that
/// port is taken to map both protocols).
fn datagram_address(ws: &PeerAddress, udp: SocketAddr, listener: SocketAddr) -> PeerAddress {
    let port = if udp.port() == listener.port() {
        ws.port()
    } else {
        udp.port()
    };
    let host = ws.host();
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => PeerAddress::datagram(SocketAddr::new(ip, port)),
        Err(_) => PeerAddress::new(format!("udp://{host}:{port}"))
            .unwrap_or_else(|_| PeerAddress::datagram(udp)),
    }
}

fn abandon(transport: &TransportHandle, mdns: Option<MdnsLink>, snapshots: Option<Snapshotter>) {
    if let Some(m) = mdns {
        m.stop(false);
    }
    if let Some(s) = snapshots {
        let _ = s.stop();
    }
    let _ = transport.stop();
}

impl Drop for NodeInner {
    fn drop(&mut self) {
        if let Some(r) = self.running.get_mut().take() {
            let _ = r.commands.send(DriverCommand::Stop);
            let _ = r.driver.join();
            if let Some(m) = r.mdns {
                m.stop(true);
            }
            if let Some(s) = r.snapshots {
                let _ = s.stop();
            }
            let _ = r.transport.stop();
        }
    }
}

/// A node with a hand-picked id and no cluster key, reachable beyond
/// loopback: anyone who can reach it can speak for its peers (their
/// liveness claims cannot be signed). Says so once, at start.
fn warn_if_unprotected(
    me: &NodeId,
    identity: bool,
    cluster_key: bool,
    local: std::net::SocketAddr,
) {
    if !identity && !cluster_key && !local.ip().is_loopback() {
        log::warn!(
            "peerdisc: {me} has a hand-picked node id and no cluster key, and listens on {local}: \
             anyone who can reach it can claim to be any node of the cluster and eject it. \
             Set a cluster key (cluster_keys, --cluster-key) or use key-derived ids (identity_path)"
        );
    }
}
