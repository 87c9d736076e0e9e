//! mDNS discovery across real network namespaces joined by a bridge (see
//! `support/netns.rs`). Needs root; without it every test prints a
//! `SKIPPED:` line (or fails when `PEERDISC_NETNS_REQUIRE=1`).
//!
//! Every node with mDNS on is started inside a host namespace the lab
//! created (`mdns_hosts::start_node` asserts it), so no mDNS daemon ever
//! runs in the test process's own namespace.

#[path = "support/netns.rs"]
mod netns;

#[path = "support/mdns_hosts.rs"]
mod mdns_hosts;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use mdns_hosts::{knows, mdns_config, start_node, wait_event, wait_until};
use peerdisc::node::{Node, NodeEvent};
use peerdisc::Liveness;

/// The tests share UDP port 5353 inside their own namespaces only, but
/// they count threads and measure times: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn liveness(node: &Node, id: &str) -> Option<Liveness> {
    node.registry().get(id).map(|p| p.liveness)
}

#[test]
fn three_hosts_find_each_other_by_mdns_alone() {
    let _g = serial();
    let Some(lab) = netns::Lab::new(3) else { return };
    let t0 = Instant::now();
    let nodes: Vec<Node> = (0..3)
        .map(|i| start_node(lab.host(i), mdns_config(lab.host(i), &format!("h{i}"))))
        .collect();
    for (i, n) in nodes.iter().enumerate() {
        assert!(n.config().bootstrap.is_empty());
        let others: Vec<String> = (0..3).filter(|j| *j != i).map(|j| format!("h{j}")).collect();
        let took = wait_until(Duration::from_secs(10), || others.iter().all(|o| knows(n, o)));
        assert!(took.is_some(), "h{i} knows {:?} only", n.peers());
    }
    eprintln!("three hosts know each other after {:?}", t0.elapsed());
    // Each node saw candidates confirmed by the hello.
    for n in &nodes {
        let mut seen = Vec::new();
        assert!(wait_event(n, &mut seen, Duration::from_secs(2), |e| matches!(
            e,
            NodeEvent::MdnsPeerConfirmed { .. }
        )) || seen.iter().any(|e| matches!(e, NodeEvent::MdnsCandidate { .. })));
    }
    for n in &nodes {
        n.stop().unwrap();
    }
}
