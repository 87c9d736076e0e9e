//! mDNS discovery across real network namespaces joined by a bridge (see
//! `support/netns.rs`). Needs root; without it every test prints a
//! `SKIPPED:` line (or fails when `PEERDISC_NETNS_REQUIRE=1`).
//!
//! Every node with mDNS on is started inside a host namespace the lab
//! created (`mdns_hosts::start_node` asserts it), so no mDNS daemon ever
//! runs in the test process's own namespace. The lab removes its
//! namespaces when dropped, also when a test panics.

#![cfg(feature = "mdns")]

#[path = "support/netns.rs"]
mod netns;

#[path = "support/mdns_hosts.rs"]
mod mdns_hosts;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use mdns_hosts::{
    assert_in_private_netns, assert_no_mdns_threads, knows, mdns_config, mdns_threads, start_node,
    wait_event, wait_until,
};
use peerdisc::mdns::{txt, LocalService, MdnsConfig, MdnsWorker};
use peerdisc::node::{Node, NodeEvent};
use peerdisc::{Liveness, PeerEvent, StateChange};

/// The tests count threads and measure times: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn liveness(node: &Node, id: &str) -> Option<Liveness> {
    node.registry().get(id).map(|p| p.liveness)
}

/// Starts `n` mDNS nodes `h0..` (one per host) and waits until all know
/// each other.
fn mdns_mesh(lab: &netns::Lab, n: usize) -> Vec<Node> {
    let nodes: Vec<Node> = (0..n)
        .map(|i| start_node(lab.host(i), mdns_config(lab.host(i), &format!("h{i}"))))
        .collect();
    for (i, node) in nodes.iter().enumerate() {
        let others: Vec<String> = (0..n)
            .filter(|j| *j != i)
            .map(|j| format!("h{j}"))
            .collect();
        let took = wait_until(Duration::from_secs(10), || {
            others.iter().all(|o| knows(node, o))
        });
        assert!(took.is_some(), "h{i} knows only {:?}", node.peers());
    }
    nodes
}

#[test]
fn three_hosts_find_each_other_by_mdns_alone() {
    let _g = serial();
    let Some(lab) = netns::Lab::new(3) else {
        return;
    };
    let t0 = Instant::now();
    let nodes = mdns_mesh(&lab, 3);
    eprintln!("three hosts know each other {:?} after start", t0.elapsed());
    for n in &nodes {
        assert!(n.config().bootstrap.is_empty(), "no bootstrap URL");
    }
    // Each node learned at least one other through an mDNS candidate that
    // the hello confirmed (the rest may come over the protocol).
    for (i, n) in nodes.iter().enumerate() {
        let mut seen = Vec::new();
        let confirmed = wait_event(n, &mut seen, Duration::from_secs(2), |e| {
            matches!(e, NodeEvent::MdnsPeerConfirmed { .. })
        });
        let candidate = seen
            .iter()
            .any(|e| matches!(e, NodeEvent::MdnsCandidate { txt, .. } if txt.get("pv").is_some()));
        assert!(confirmed || candidate, "h{i} events: {seen:?}");
        assert!(
            !seen
                .iter()
                .any(|e| matches!(e, NodeEvent::MdnsCandidateFailed { .. })),
            "h{i} events: {seen:?}"
        );
    }
    // Every node's full record (capabilities included) arrived over the
    // protocol.
    for n in &nodes {
        for p in n.peers() {
            assert!(p.addresses()[0].as_str().starts_with("ws://10."));
        }
    }
    for n in &nodes {
        n.stop().unwrap();
    }
    assert_no_mdns_threads();
}

#[test]
fn a_host_that_leaves_or_crashes_is_noticed() {
    let _g = serial();
    let Some(lab) = netns::Lab::new(3) else {
        return;
    };
    let nodes = mdns_mesh(&lab, 3);
    let mut seen = Vec::new();
    // Graceful stop: `leave` over the protocol, goodbye over mDNS.
    let t0 = Instant::now();
    nodes[2].stop().unwrap();
    for n in &nodes[..2] {
        let took = wait_until(Duration::from_secs(5), || !knows(n, "h2"));
        assert!(took.is_some(), "{} still lists h2", n.node_id());
    }
    let left_after = t0.elapsed();
    assert_eq!(liveness(&nodes[0], "h2"), Some(Liveness::Left));
    assert!(
        wait_event(&nodes[0], &mut seen, Duration::from_secs(3), |e| matches!(
            e,
            NodeEvent::MdnsGone { node_id } if node_id.as_str() == "h2"
        )),
        "no mDNS goodbye seen: {seen:?}"
    );
    eprintln!("graceful stop noticed by both after {left_after:?}");
    assert!(left_after < Duration::from_secs(1), "{left_after:?}");
    // Crash: no leave, no goodbye; probing finds it.
    let t0 = Instant::now();
    nodes[1].abort().unwrap();
    let took = wait_until(Duration::from_secs(10), || !knows(&nodes[0], "h1"));
    assert!(took.is_some(), "h0 still lists h1");
    eprintln!("crash noticed after {:?}", t0.elapsed());
    let dead = wait_until(Duration::from_secs(5), || {
        liveness(&nodes[0], "h1") == Some(Liveness::Dead)
    });
    assert!(dead.is_some(), "h1 is {:?}", liveness(&nodes[0], "h1"));
    nodes[0].stop().unwrap();
    assert_no_mdns_threads();
}

#[test]
fn a_host_without_mdns_is_found_through_gossip() {
    let _g = serial();
    let Some(lab) = netns::Lab::new(3) else {
        return;
    };
    let a = start_node(lab.host(0), mdns_config(lab.host(0), "a"));
    let b = start_node(lab.host(1), mdns_config(lab.host(1), "b"));
    // c has mDNS off and only knows a (bootstrap).
    let mut cfg = mdns_config(lab.host(2), "c");
    cfg.enable_mdns = false;
    cfg.bootstrap = vec![a.address().to_string()];
    let c = start_node(lab.host(2), cfg);
    for (n, want) in [(&a, ["b", "c"]), (&b, ["a", "c"]), (&c, ["a", "b"])] {
        let ok = wait_until(Duration::from_secs(10), || want.iter().all(|w| knows(n, w)));
        assert!(ok.is_some(), "{} knows only {:?}", n.node_id(), n.peers());
    }
    // b never saw c over mDNS.
    let mut seen = Vec::new();
    wait_event(&b, &mut seen, Duration::from_millis(300), |_| false);
    assert!(
        !seen.iter().any(|e| matches!(
            e,
            NodeEvent::MdnsCandidate { node_id, .. } if node_id.as_str() == "c"
        )),
        "{seen:?}"
    );
    for n in [a, b, c] {
        n.stop().unwrap();
    }
    assert_no_mdns_threads();
}

#[test]
fn a_goodbye_from_a_node_that_stays_up_does_not_remove_it() {
    let _g = serial();
    let Some(lab) = netns::Lab::new(2) else {
        return;
    };
    // h0 browses by mDNS; h1's node has mDNS off and joins through h0.
    let h0 = start_node(lab.host(0), mdns_config(lab.host(0), "h0"));
    let mut cfg = mdns_config(lab.host(1), "h1");
    cfg.enable_mdns = false;
    cfg.bootstrap = vec![h0.address().to_string()];
    let h1 = start_node(lab.host(1), cfg);
    let joined = wait_until(Duration::from_secs(10), || {
        knows(&h0, "h1") && knows(&h1, "h0")
    });
    assert!(joined.is_some(), "h0 knows {:?}", h0.peers());
    // h1's service (its id, address and port) is published from h1's
    // namespace and then unregistered: goodbye packets while the node
    // itself stays up.
    let (host, port) = (lab.host(1).ip(), h1.address().port());
    let (mut worker, _worker_events) = lab.host(1).run_in(move || {
        assert_in_private_netns();
        let id = peerdisc::NodeId::new("h1").unwrap();
        let caps = peerdisc::Capabilities::default();
        let txt = txt::build(
            &id,
            peerdisc::wire::PROTOCOL_VERSION,
            port,
            "/peerdisc",
            &caps,
        )
        .expect("TXT entries");
        let local = LocalService {
            node_id: id,
            listen: host.into(),
            ws_port: port,
            path: "/peerdisc".into(),
            txt,
        };
        MdnsWorker::start(&MdnsConfig::default(), local).expect("mDNS worker")
    });
    let mut seen = Vec::new();
    assert!(
        wait_event(&h0, &mut seen, Duration::from_secs(10), |e| matches!(
            e,
            NodeEvent::MdnsCandidate { node_id, .. } if node_id.as_str() == "h1"
        )),
        "h0 never saw h1's service: {seen:?}"
    );
    let registry_events = h0.subscribe();
    worker.stop(true);
    assert!(
        wait_event(&h0, &mut seen, Duration::from_secs(5), |e| matches!(
            e,
            NodeEvent::MdnsGone { node_id } if node_id.as_str() == "h1"
        )),
        "no goodbye for h1 seen: {seen:?}"
    );
    // For ten probe intervals (h0 probes h1, its only member, in each),
    // h1 stays listed, alive or suspect, and is neither removed nor
    // marked dead or left.
    let window = 10 * Duration::from_millis(h0.config().membership.probe_interval_ms);
    let t0 = Instant::now();
    while t0.elapsed() < window {
        let l = liveness(&h0, "h1");
        assert!(
            matches!(l, Some(Liveness::Alive | Liveness::Suspect)),
            "h0 has h1 as {l:?} after its goodbye"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let alive = wait_until(Duration::from_secs(5), || {
        liveness(&h0, "h1") == Some(Liveness::Alive)
    });
    assert!(alive.is_some(), "h0 has h1 as {:?}", liveness(&h0, "h1"));
    let out: Vec<PeerEvent> = registry_events.try_iter().take(10_000).collect();
    let bad: Vec<&PeerEvent> = out
        .iter()
        .filter(|e| e.node_id().as_str() == "h1")
        .filter(|e| match e {
            PeerEvent::Removed { .. } => true,
            PeerEvent::StateChanged {
                change: StateChange::Liveness { to, .. },
                ..
            } => !to.is_present(),
            _ => false,
        })
        .collect();
    assert!(bad.is_empty(), "h0's events about h1: {bad:?}");
    h1.stop().unwrap();
    h0.stop().unwrap();
    assert_no_mdns_threads();
}

#[test]
fn without_usable_multicast_the_node_says_so_once_and_keeps_working() {
    let _g = serial();
    let Some(lab) = netns::Lab::new(2) else {
        return;
    };
    let seed = start_node(lab.host(0), {
        let mut c = mdns_config(lab.host(0), "seed");
        c.enable_mdns = false;
        c
    });
    // 1. No selected interface is up.
    let mut cfg = mdns_config(lab.host(1), "no-iface");
    cfg.mdns = MdnsConfig {
        interfaces: vec!["nosuch0".into()],
        ..MdnsConfig::default()
    };
    cfg.bootstrap = vec![seed.address().to_string()];
    let n1 = start_node(lab.host(1), cfg);
    let mut seen = Vec::new();
    assert!(
        wait_event(&n1, &mut seen, Duration::from_secs(2), |e| matches!(
            e,
            NodeEvent::MdnsUnavailable { reason } if reason.contains("nosuch0")
        )),
        "{seen:?}"
    );
    assert!(wait_until(Duration::from_secs(5), || knows(&n1, "seed")).is_some());
    wait_event(&n1, &mut seen, Duration::from_millis(200), |_| false);
    let unavailable = seen
        .iter()
        .filter(|e| matches!(e, NodeEvent::MdnsUnavailable { .. }))
        .count();
    assert_eq!(unavailable, 1, "{seen:?}");
    assert!(mdns_threads().is_empty(), "{:?}", mdns_threads());
    n1.stop().unwrap();
    // 2. The mDNS port is held by a socket that does not share it.
    let holder = lab
        .host(1)
        .run_in(|| std::net::UdpSocket::bind("0.0.0.0:5353"))
        .expect("bind 5353 inside the namespace");
    let mut cfg = mdns_config(lab.host(1), "no-port");
    cfg.mdns.ipv6 = false;
    cfg.bootstrap = vec![seed.address().to_string()];
    let n2 = start_node(lab.host(1), cfg);
    let mut seen = Vec::new();
    assert!(
        wait_event(&n2, &mut seen, Duration::from_secs(2), |e| matches!(
            e,
            NodeEvent::MdnsUnavailable { reason } if reason.contains("5353")
        )),
        "{seen:?}"
    );
    assert!(wait_until(Duration::from_secs(5), || knows(&n2, "seed")).is_some());
    drop(holder);
    n2.stop().unwrap();
    seed.stop().unwrap();
    assert_no_mdns_threads();
}

#[test]
fn the_guard_refuses_the_process_namespace() {
    // This thread is in the process's namespace: the guard must say no
    // (no lab needed, nothing started).
    assert!(!mdns_hosts::in_private_netns());
    if let Some(lab) = netns::Lab::new(1) {
        assert!(lab.host(0).run_in(mdns_hosts::in_private_netns));
    }
}

#[test]
fn a_restarted_host_is_found_again_by_mdns() {
    let _g = serial();
    let Some(lab) = netns::Lab::new(2) else {
        return;
    };
    let nodes = mdns_mesh(&lab, 2);
    nodes[1].stop().unwrap();
    assert!(wait_until(Duration::from_secs(3), || !knows(&nodes[0], "h1")).is_some());
    // Same id, new port: a new resolution, a new hello, back in.
    let again = start_node(lab.host(1), mdns_config(lab.host(1), "h1"));
    let t0 = Instant::now();
    let back = wait_until(Duration::from_secs(10), || {
        knows(&nodes[0], "h1") && knows(&again, "h0")
    });
    assert!(
        back.is_some(),
        "h0 has h1 as {:?}",
        liveness(&nodes[0], "h1")
    );
    eprintln!("restarted host known again after {:?}", t0.elapsed());
    // The restarted node publishes its new address above its old record.
    let moved = wait_until(Duration::from_secs(5), || {
        nodes[0]
            .registry()
            .get("h1")
            .is_some_and(|p| p.addresses().first() == Some(&again.address()))
    });
    assert!(
        moved.is_some(),
        "h0 still has h1 at {:?}, not {}",
        nodes[0]
            .registry()
            .get("h1")
            .map(|p| p.addresses().to_vec()),
        again.address()
    );
    again.stop().unwrap();
    nodes[0].stop().unwrap();
    assert_no_mdns_threads();
}

#[test]
fn hosts_find_each_other_under_packet_loss() {
    let _g = serial();
    if !netns::nft_or_skip() {
        return;
    }
    let Some(lab) = netns::Lab::new(3) else {
        return;
    };
    // Every packet (multicast queries and answers, TCP) is dropped with
    // 20 % at its sender.
    lab.set_egress_loss(20).unwrap();
    let t0 = Instant::now();
    let nodes: Vec<Node> = (0..3)
        .map(|i| start_node(lab.host(i), mdns_config(lab.host(i), &format!("h{i}"))))
        .collect();
    for (i, n) in nodes.iter().enumerate() {
        let others: Vec<String> = (0..3)
            .filter(|j| *j != i)
            .map(|j| format!("h{j}"))
            .collect();
        let ok = wait_until(Duration::from_secs(20), || {
            others.iter().all(|o| knows(n, o))
        });
        assert!(ok.is_some(), "h{i} knows only {:?}", n.peers());
    }
    eprintln!(
        "three hosts at 20 % loss know each other after {:?}",
        t0.elapsed()
    );
    lab.set_egress_loss(0).unwrap();
    for n in &nodes {
        n.stop().unwrap();
    }
    assert_no_mdns_threads();
}

#[test]
fn a_capability_update_republishes_the_txt_summary() {
    let _g = serial();
    let Some(lab) = netns::Lab::new(2) else {
        return;
    };
    let nodes = mdns_mesh(&lab, 2);
    let mut caps = peerdisc::Capabilities::default();
    caps.tools.push(peerdisc::Capability::new("search"));
    nodes[0].update_capabilities(caps).unwrap();
    // Over the protocol (the full record) ...
    let ok = wait_until(Duration::from_secs(5), || {
        nodes[1].find_by_tool("search").len() == 1
    });
    assert!(ok.is_some());
    // ... and in the TXT summary other DNS-SD browsers see.
    let mut seen = Vec::new();
    assert!(
        wait_event(&nodes[1], &mut seen, Duration::from_secs(5), |e| matches!(
            e,
            NodeEvent::MdnsCandidate { node_id, txt, .. }
                if node_id.as_str() == "h0" && txt.get("caps").map(String::as_str) == Some("t/search")
        )),
        "{seen:?}"
    );
    for n in &nodes {
        n.stop().unwrap();
    }
    assert_no_mdns_threads();
}

#[test]
fn service_type_interfaces_and_address_family_are_honoured() {
    let _g = serial();
    let Some(lab) = netns::Lab::new(3) else {
        return;
    };
    let custom = |i: usize| {
        let mut c = mdns_config(lab.host(i), &format!("h{i}"));
        c.mdns = MdnsConfig {
            service_type: "_pdtest._tcp.local.".into(),
            interfaces: vec!["eth0".into()],
            ipv6: false,
            ..MdnsConfig::default()
        };
        c
    };
    let a = start_node(lab.host(0), custom(0));
    let b = start_node(lab.host(1), custom(1));
    let other = start_node(lab.host(2), mdns_config(lab.host(2), "h2"));
    let ok = wait_until(Duration::from_secs(10), || {
        knows(&a, "h1") && knows(&b, "h0")
    });
    assert!(ok.is_some(), "a knows {:?}", a.peers());
    // The node browsing the default type sees neither, and they do not see it.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(other.peers().is_empty(), "{:?}", other.peers());
    assert!(!knows(&a, "h2") && !knows(&b, "h2"));
    for n in [a, b, other] {
        n.stop().unwrap();
    }
    assert_no_mdns_threads();
}
