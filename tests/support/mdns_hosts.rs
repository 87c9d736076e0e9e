//! Helpers for tests and benchmarks that run peerdisc nodes with mDNS on
//! inside the namespace hosts of `netns.rs`. Include both:
//!
//! ```ignore
//! #[path = "support/netns.rs"]
//! mod netns;
//! #[path = "support/mdns_hosts.rs"]
//! mod mdns_hosts;
//! ```
//!
//! The one rule: an mDNS daemon (which joins the multicast group on every
//! interface that is up) must never start in the test process's own
//! network namespace. [`start_node`] enters the host's namespace on a fresh
//! thread and asserts that it is not the process's namespace before it
//! starts a node with mDNS on.
#![allow(dead_code)]

use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

use peerdisc::node::{Node, NodeConfig, NodeEvent};

use super::netns::Host;

/// Inode of the network namespace of the calling thread.
pub fn thread_netns() -> u64 {
    std::fs::metadata("/proc/thread-self/ns/net")
        .expect("read /proc/thread-self/ns/net")
        .ino()
}

/// Inode of the network namespace of the process (its main thread).
pub fn process_netns() -> u64 {
    std::fs::metadata("/proc/self/ns/net")
        .expect("read /proc/self/ns/net")
        .ino()
}

/// Whether the calling thread is in a network namespace other than the
/// process's own (and other than PID 1's).
pub fn in_private_netns() -> bool {
    let here = thread_netns();
    let pid1 = std::fs::metadata("/proc/1/ns/net").map(|m| m.ino()).ok();
    here != process_netns() && Some(here) != pid1
}

/// Panics unless [`in_private_netns`].
pub fn assert_in_private_netns() {
    assert!(
        in_private_netns(),
        "refusing to start mDNS outside a namespace the test created"
    );
}

/// A node configuration listening on the host's address, mDNS on.
pub fn mdns_config(host: &Host, id: &str) -> NodeConfig {
    NodeConfig {
        node_id: Some(id.to_string()),
        listen: (host.ip(), 0).into(),
        enable_mdns: true,
        ..NodeConfig::default()
    }
}

/// Starts a node inside `host`'s namespace (its threads, the mDNS
/// daemon's included, live there).
pub fn start_node(host: &Host, cfg: NodeConfig) -> Node {
    host.run_in(move || {
        if cfg.enable_mdns {
            assert_in_private_netns();
        }
        let node = Node::new(cfg).expect("valid config");
        node.start().expect("node starts");
        node
    })
}

/// Polls `cond` every 10 ms until it holds or `timeout` passes; returns
/// the time it took.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
    let t0 = Instant::now();
    loop {
        if cond() {
            return Some(t0.elapsed());
        }
        if t0.elapsed() >= timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether `node` lists `id` as alive (alive or suspect).
pub fn knows(node: &Node, id: &str) -> bool {
    node.peers().iter().any(|p| p.node_id().as_str() == id)
}

/// Every node event that arrives within `timeout` (bounded count).
pub fn drain_events(node: &Node, timeout: Duration) -> Vec<NodeEvent> {
    let rx = node.node_events();
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    while out.len() < 10_000 {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(ev) => out.push(ev),
            Err(_) => break,
        }
    }
    out
}

/// Waits (bounded) for an event matching `pred`, keeping the others.
pub fn wait_event(
    node: &Node,
    seen: &mut Vec<NodeEvent>,
    timeout: Duration,
    pred: impl Fn(&NodeEvent) -> bool,
) -> bool {
    if seen.iter().any(&pred) {
        return true;
    }
    let rx = node.node_events();
    let deadline = Instant::now() + timeout;
    for _ in 0..10_000 {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(ev) => {
                let hit = pred(&ev);
                seen.push(ev);
                if hit {
                    return true;
                }
            }
            Err(_) => return false,
        }
    }
    false
}

/// Names of this process's threads that belong to mDNS (mdns-sd's daemon
/// thread and peerdisc's forwarding thread).
pub fn mdns_threads() -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
        for t in dir.flatten() {
            if let Ok(name) = std::fs::read_to_string(t.path().join("comm")) {
                let name = name.trim().to_string();
                if name.starts_with("mDNS_daemon") || name.starts_with("peerdisc-mdns") {
                    out.push(name);
                }
            }
        }
    }
    out
}

/// Asserts (waiting at most 2 s for threads that are just ending) that no
/// mDNS thread is left in this process.
pub fn assert_no_mdns_threads() {
    let left = wait_until(Duration::from_secs(2), || mdns_threads().is_empty());
    assert!(
        left.is_some(),
        "mDNS threads left behind: {:?}",
        mdns_threads()
    );
}
