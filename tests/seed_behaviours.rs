//! The earlier Python (seed) system's 18 behaviours (its
//! `tests/test_discovery.py`: peer, registry, bootstrap, gossip, unified
//! discovery), as a migrating user calls them from Rust. Each test names
//! the seed behaviour it covers.

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use peerdisc::membership::{GossipDiscovery, MembershipConfig};
use peerdisc::node::{BootstrapError, Node, NodeError};
use peerdisc::registry::{PeerUpdate, RegistryConfig, UpsertOutcome};
use peerdisc::wire::SeedPeer;
use peerdisc::{ConnectionState, Liveness, ManualClock, NodeId, Peer, PeerRecord, PeerRegistry};

#[path = "support/ws_frames.rs"]
mod ws_frames;
use ws_frames::poll_text;

fn id(s: &str) -> NodeId {
    NodeId::new(s).unwrap()
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

fn manual_registry(config: RegistryConfig) -> (PeerRegistry, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(1_764_000_000_000));
    let reg = PeerRegistry::with_clock(config, clock.clone()).unwrap();
    (reg, clock)
}

/// The seed's `Peer(node_id, address, agents)`.
const SEED_PEER: &str = r#"{"node_id": "node_abc123", "address": "ws://192.168.1.100:8000",
    "agents": ["agent1", "agent2"], "tools": ["search"]}"#;

// 1. Peer creation
#[test]
fn peer_creation() {
    let p = Peer::from_json(SEED_PEER).unwrap();
    assert_eq!(p.node_id().as_str(), "node_abc123");
    // No path: the default path.
    assert_eq!(
        p.addresses()[0].as_str(),
        "ws://192.168.1.100:8000/peerdisc"
    );
    let agents: Vec<&str> = p.capabilities().agents.iter().map(|c| c.name()).collect();
    assert_eq!(agents, ["agent1", "agent2"]);
    assert_eq!(p.health_score(), 0.5);
    assert!(p.is_alive() && !p.is_connected());
}

// 2. Peer serialization (to_dict / from_dict)
#[test]
fn peer_serialization() {
    let mut p = Peer::from_json(SEED_PEER).unwrap();
    p.first_seen_ms = 1_764_000_000_000;
    p.last_seen_ms = 1_764_000_005_000;
    p.health.record_success();
    // peerdisc's own JSON round-trips exactly.
    assert_eq!(Peer::from_json(&p.to_json()).unwrap(), p);
    // The seed's dict form too (times in Unix seconds).
    let dict = serde_json::to_string(&SeedPeer::from_peer(&p)).unwrap();
    let v: serde_json::Value = serde_json::from_str(&dict).unwrap();
    assert_eq!(v["last_seen"], 1_764_000_005.0);
    assert_eq!(v["agents"][1], "agent2");
    let back = Peer::from_json(&dict).unwrap();
    assert_eq!(back.last_seen_ms, p.last_seen_ms);
    assert_eq!(back.first_seen_ms, p.first_seen_ms);
    assert_eq!(back.health.successes(), 1);
    assert!((back.health_score() - p.health_score()).abs() < 1e-9);
    assert_eq!(back.record.capabilities, p.record.capabilities);
    // Strict: an unknown field is refused.
    assert!(Peer::from_json(r#"{"node_id": "x", "address": "ws://h:1", "colour": 1}"#).is_err());
}

// 3. Peer activity tracking (update_activity / last_seen)
#[test]
fn peer_activity_tracking() {
    let (reg, clock) = manual_registry(RegistryConfig::default());
    reg.add(Peer::from_json(SEED_PEER).unwrap()).unwrap();
    let before = reg.get("node_abc123").unwrap().last_seen_ms;
    assert_eq!(before, 1_764_000_000_000, "add stamps last seen");
    clock.advance_ms(7_000);
    reg.touch("node_abc123").unwrap();
    assert_eq!(reg.get("node_abc123").unwrap().last_seen_ms, before + 7_000);
    assert!(reg.touch("nobody").is_err());
}

// 4. Peer health tracking (record_success / record_failure / health_score)
#[test]
fn peer_health_tracking() {
    let reg = PeerRegistry::new();
    reg.add(Peer::from_json(SEED_PEER).unwrap()).unwrap();
    let up = reg.record_success("node_abc123").unwrap();
    assert!(up > 0.5);
    let down1 = reg.record_failure("node_abc123").unwrap();
    let down2 = reg.record_failure("node_abc123").unwrap();
    assert!(down2 < down1 && down1 < up);
    let p = reg.get("node_abc123").unwrap();
    assert_eq!(p.health.successes(), 1);
    assert_eq!(p.health.failures(), 2);
    assert_eq!(p.health.consecutive_failures(), 2);
    assert!((p.health.success_rate().unwrap() - 1.0 / 3.0).abs() < 1e-9);
}

// 5. Registry add / get (add_peer / get_peer)
#[test]
fn registry_add_and_get_peer() {
    let reg = PeerRegistry::new();
    reg.add(Peer::from_json(SEED_PEER).unwrap()).unwrap();
    assert!(reg.add(Peer::from_json(SEED_PEER).unwrap()).is_err());
    let p = reg.get("node_abc123").unwrap();
    assert_eq!(p.capabilities().tools[0].name(), "search");
    assert!(reg.get("node_unknown").is_none());
    // upsert takes the seed dict too (version 0).
    let rec = PeerRecord::from_json(r#"{"node_id": "n2", "address": "ws://10.0.0.2:8000"}"#);
    assert_eq!(reg.upsert(rec.unwrap()).unwrap(), UpsertOutcome::Added);
    assert_eq!(reg.len(), 2);
}

// 6. Registry remove (remove_peer)
#[test]
fn registry_remove_peer() {
    let reg = PeerRegistry::new();
    reg.add(Peer::from_json(SEED_PEER).unwrap()).unwrap();
    let last = reg.remove("node_abc123").unwrap();
    assert_eq!(last.node_id().as_str(), "node_abc123");
    assert!(!reg.contains("node_abc123"));
    assert!(reg.remove("node_abc123").is_err());
}

// 7. Registry update (update_peer)
#[test]
fn registry_update_peer() {
    let reg = PeerRegistry::new();
    reg.add(Peer::from_json(SEED_PEER).unwrap()).unwrap();
    let mut caps = reg.get("node_abc123").unwrap().capabilities().clone();
    caps.tools = vec![peerdisc::Capability::new("translate")];
    let changed = reg
        .update(
            "node_abc123",
            PeerUpdate::new().capabilities(caps).bump_version(),
        )
        .unwrap();
    assert!(!changed.is_empty());
    let p = reg.get("node_abc123").unwrap();
    assert_eq!(p.version(), 1, "the edit raised the version");
    assert_eq!(p.capabilities().tools[0].name(), "translate");
    // The old record arriving again does not undo the edit.
    let old = PeerRecord::from_json(SEED_PEER).unwrap();
    assert!(matches!(
        reg.upsert(old).unwrap(),
        UpsertOutcome::Ignored { .. }
    ));
    assert_eq!(
        reg.get("node_abc123").unwrap().capabilities().tools[0].name(),
        "translate"
    );
}

// 8. Alive peers (list_alive_peers)
#[test]
fn registry_list_alive_peers() {
    let reg = PeerRegistry::new();
    for n in ["a", "b", "c"] {
        reg.add(Peer::builder(n).build().unwrap()).unwrap();
    }
    reg.set_liveness("b", Liveness::Dead).unwrap();
    let alive: Vec<String> = reg
        .list_alive()
        .iter()
        .map(|p| p.node_id().to_string())
        .collect();
    assert_eq!(alive, ["a", "c"]);
}

// 9. Connected peers (list_connected_peers)
#[test]
fn registry_list_connected_peers() {
    let reg = PeerRegistry::new();
    for n in ["a", "b", "c"] {
        reg.add(Peer::builder(n).build().unwrap()).unwrap();
    }
    reg.set_connection_state("c", ConnectionState::Connected)
        .unwrap();
    let connected: Vec<String> = reg
        .list_connected()
        .iter()
        .map(|p| p.node_id().to_string())
        .collect();
    assert_eq!(connected, ["c"]);
}

// 10. Dead peer cleanup (cleanup_dead_peers)
#[test]
fn dead_peer_cleanup() {
    let cfg = RegistryConfig {
        stale_after_ms: Some(30_000),
        dead_retention_ms: 0,
        ..RegistryConfig::default()
    };
    let (reg, clock) = manual_registry(cfg);
    // No times given: stamped with the registry's clock.
    reg.add(Peer::from_json(r#"{"node_id": "quiet"}"#).unwrap())
        .unwrap();
    reg.add(Peer::from_json(r#"{"node_id": "chatty"}"#).unwrap())
        .unwrap();
    clock.advance_ms(31_000);
    reg.touch("chatty").unwrap();
    let first = reg.cleanup_dead_peers();
    let second = reg.cleanup_dead_peers();
    let removed: Vec<String> = first.iter().chain(&second).map(|i| i.to_string()).collect();
    assert_eq!(removed, ["quiet"]);
    assert!(reg.contains("chatty") && !reg.contains("quiet"));
}

// 11. A peer added a moment ago is not dead at the first cleanup
#[test]
fn fresh_peer_survives_cleanup() {
    let cfg = RegistryConfig {
        stale_after_ms: Some(30_000),
        ..RegistryConfig::default()
    };
    let (reg, clock) = manual_registry(cfg);
    // The seed's dict carries no times: add stamps them.
    reg.add(Peer::from_json(SEED_PEER).unwrap()).unwrap();
    let p = reg.get("node_abc123").unwrap();
    assert_eq!(p.first_seen_ms, 1_764_000_000_000);
    assert_eq!(p.last_seen_ms, 1_764_000_000_000);
    assert!(reg.cleanup_dead_peers().is_empty());
    assert_eq!(reg.get("node_abc123").unwrap().liveness, Liveness::Alive);
    clock.advance_ms(31_000);
    reg.cleanup_dead_peers();
    assert_ne!(
        reg.get("node_abc123").map(|p| p.liveness),
        Some(Liveness::Alive)
    );
}

// 12. Statistics (get_peer_stats)
#[test]
fn registry_stats() {
    let reg = PeerRegistry::new();
    for n in ["a", "b", "c"] {
        reg.add(Peer::builder(n).build().unwrap()).unwrap();
    }
    reg.set_liveness("a", Liveness::Dead).unwrap();
    reg.set_connection_state("b", ConnectionState::Connected)
        .unwrap();
    let s = reg.stats();
    assert_eq!((s.total, s.alive, s.dead, s.connected), (3, 2, 1, 1));
    assert!((s.average_health - 0.5).abs() < 1e-9);
}

// 13. Event callbacks (on_add, on_remove, on_update)
#[test]
fn registry_callbacks() {
    let reg = PeerRegistry::new();
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let (a, r, u) = (seen.clone(), seen.clone(), seen.clone());
    reg.on_add(move |_, p| a.lock().unwrap().push(format!("add {}", p.node_id())))
        .unwrap();
    reg.on_remove(move |_, p, _| r.lock().unwrap().push(format!("remove {}", p.node_id())))
        .unwrap();
    reg.on_update(move |_, p, _| u.lock().unwrap().push(format!("update {}", p.node_id())))
        .unwrap();
    reg.add(Peer::from_json(SEED_PEER).unwrap()).unwrap();
    reg.record_success("node_abc123").unwrap();
    reg.remove("node_abc123").unwrap();
    assert!(wait_until(Duration::from_secs(5), || seen
        .lock()
        .unwrap()
        .len()
        == 3));
    assert_eq!(
        *seen.lock().unwrap(),
        [
            "add node_abc123",
            "update node_abc123",
            "remove node_abc123"
        ]
    );
}

fn node(id: &str, bootstrap: Option<&str>) -> Node {
    let mut b = Node::builder().node_id(id);
    if let Some(url) = bootstrap {
        b = b.bootstrap(url);
    }
    b.configure(|c| c.bootstrap_timeout_ms = 2_000)
        .start()
        .unwrap()
}

/// `ws://127.0.0.1:PORT` of a node: its address without the path.
fn no_path(n: &Node) -> String {
    let a = n.address();
    format!("ws://{}:{}", a.host(), a.port())
}

// 14. Bootstrap discovery, with the seed's URL form (no path)
#[test]
fn bootstrap_discovery() {
    let seed = node("boot-seed", None);
    let other = node("boot-other", Some(seed.address().as_str()));
    assert_eq!(other.wait_for_peers(1, Duration::from_secs(10)).unwrap(), 1);
    // The application's registry is the node's.
    let registry = PeerRegistry::new();
    let joiner = Node::builder()
        .node_id("boot-joiner")
        .bootstrap(no_path(&seed))
        .registry(registry.clone())
        .start()
        .unwrap();
    let report = joiner.discover_bootstrap().unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(report.peers.contains(&id("boot-other")), "{report:?}");
    assert_eq!(
        joiner.wait_for_peers(2, Duration::from_secs(10)).unwrap(),
        2
    );
    assert!(registry.contains("boot-seed") && registry.contains("boot-other"));
    // An advertised address in the seed's form means the node's path too.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let adv = Node::builder()
        .node_id("boot-advertised")
        .listen(([127, 0, 0, 1], port).into())
        .advertise(format!("ws://127.0.0.1:{port}"))
        .bootstrap(no_path(&seed))
        .start()
        .unwrap();
    assert_eq!(
        adv.address().as_str(),
        format!("ws://127.0.0.1:{port}/peerdisc")
    );
    assert!(wait_until(Duration::from_secs(10), || joiner
        .registry()
        .get("boot-advertised")
        .is_some_and(|p| p.is_alive())));
    for n in [&adv, &joiner, &other, &seed] {
        n.stop().unwrap();
    }
}

// 15. An unusable bootstrap node is reported with its reason
#[test]
fn bootstrap_unusable_node_reported() {
    let refused = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let seed = node("unusable-seed", None);
    let wrong_path = format!("ws://127.0.0.1:{}/not-here", seed.address().port());
    let n = Node::builder()
        .node_id("unusable-joiner")
        .bootstrap(format!("ws://127.0.0.1:{refused}"))
        .bootstrap(wrong_path.clone())
        .configure(|c| c.bootstrap_timeout_ms = 2_000)
        .start()
        .unwrap();
    let errors = match n.discover_bootstrap() {
        Err(NodeError::Bootstrap(errors)) => errors,
        other => panic!("expected every bootstrap node to fail: {other:?}"),
    };
    assert_eq!(errors.len(), 2, "{errors:?}");
    let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    let find = |url: &str| {
        text.iter()
            .find(|t| t.contains(url))
            .unwrap_or_else(|| panic!("no error names {url}: {text:?}"))
            .clone()
    };
    assert!(find(&format!("ws://127.0.0.1:{refused}/peerdisc")).contains("refused"));
    assert!(find(&wrong_path).contains("404"));
    assert!(errors
        .iter()
        .all(|e| matches!(e, BootstrapError::Unreachable { .. })));
    n.stop().unwrap();
    seed.stop().unwrap();
}

fn gossip_with(
    reg: &PeerRegistry,
    me: &str,
    config: MembershipConfig,
    outbox: Arc<Mutex<Vec<(NodeId, String)>>>,
) -> GossipDiscovery<impl FnMut(&NodeId, &str)> {
    let mut rec = PeerRecord::new(id(me));
    rec.version = 1;
    GossipDiscovery::with_registry(
        reg.clone(),
        rec,
        config,
        7,
        move |to: &NodeId, json: &str| outbox.lock().unwrap().push((to.clone(), json.into())),
    )
    .unwrap()
}

// 16. Gossip: a received announcement updates the registry
#[test]
fn gossip_handle_announcement() {
    let announcement = serde_json::json!({
        "type": "gossip_announcement",
        "timestamp": unix_now(),
        "peers": [
            {"node_id": "node_xyz", "address": "ws://10.0.0.7:8000", "tools": ["ocr"]},
            {"node_id": "node_new", "address": "ws://10.0.0.8:8000", "agents": ["a"],
             "reputation": 3}
        ]
    })
    .to_string();
    // Strict (default): the unknown `reputation` field is refused, nothing
    // is applied.
    let strict = PeerRegistry::new();
    let mut g = gossip_with(&strict, "me", MembershipConfig::default(), Arc::default());
    assert!(g
        .handle_announcement(&announcement, &id("node_xyz"))
        .is_err());
    assert!(strict.is_empty());
    // Seed-compatible: the extra field is dropped, both peers are added.
    let reg = PeerRegistry::new();
    let cfg = MembershipConfig {
        seed_compatible: true,
        ..MembershipConfig::default()
    };
    let mut g = gossip_with(&reg, "me", cfg, Arc::default());
    g.handle_announcement(&announcement, &id("node_xyz"))
        .unwrap();
    assert_eq!(reg.find_by_tool("ocr")[0].node_id().as_str(), "node_xyz");
    assert_eq!(
        reg.get("node_new").unwrap().addresses()[0].as_str(),
        "ws://10.0.0.8:8000/peerdisc"
    );
}

// 17. Gossip: periodic announcements through the send function, Unix
// timestamps, and three nodes converging with their registries
#[test]
fn gossip_periodic_announcements() {
    let outbox: Arc<Mutex<Vec<(NodeId, String)>>> = Arc::default();
    let reg = PeerRegistry::new();
    let cfg = MembershipConfig {
        seed_compatible: true,
        announce_interval_ms: 1_000,
        ..MembershipConfig::default()
    };
    let mut g = gossip_with(&reg, "me", cfg, outbox.clone());
    g.set_unix_epoch_ms((unix_now() * 1000.0) as u64);
    g.handle_announcement(
        r#"{"type":"gossip_announcement","timestamp":1764000000.0,
            "peers":[{"node_id":"old","address":"ws://10.0.0.9:8000"}]}"#,
        &id("old"),
    )
    .unwrap();
    let announcements = |from_ms: u64, to_ms: u64, g: &mut GossipDiscovery<_>| {
        outbox.lock().unwrap().clear();
        for t in (from_ms..to_ms).step_by(50) {
            g.tick(t);
        }
        outbox
            .lock()
            .unwrap()
            .iter()
            .filter(|(to, json)| to.as_str() == "old" && json.contains("gossip_announcement"))
            .map(|(_, json)| serde_json::from_str::<serde_json::Value>(json).unwrap())
            .filter(|v| v["states"].is_null())
            .collect::<Vec<_>>()
    };
    let first = announcements(0, 3_001, &mut g);
    assert!((3..=4).contains(&first.len()), "{first:?}");
    let a = &first[0];
    assert_eq!(a["peers"][0]["node_id"], "me");
    assert!(a["peers"][0].get("addresses").is_none(), "seed shape: {a}");
    let ts = a["timestamp"].as_f64().unwrap();
    assert!((ts - unix_now()).abs() < 60.0, "Unix seconds: {ts}");

    // Three nodes over an in-memory transport: registries converge.
    let queue: Arc<Mutex<Vec<(NodeId, NodeId, String)>>> = Arc::default();
    let names = ["g1", "g2", "g3"];
    let regs: Vec<PeerRegistry> = names.iter().map(|_| PeerRegistry::new()).collect();
    let mut nodes: Vec<_> = names
        .iter()
        .zip(&regs)
        .enumerate()
        .map(|(i, (n, r))| {
            let q = queue.clone();
            let me = id(n);
            let mut rec = PeerRecord::new(me.clone());
            rec.version = 1;
            GossipDiscovery::with_registry(
                r.clone(),
                rec,
                MembershipConfig::default(),
                i as u64,
                move |to: &NodeId, json: &str| {
                    q.lock()
                        .unwrap()
                        .push((me.clone(), to.clone(), json.into()))
                },
            )
            .unwrap()
        })
        .collect();
    nodes[1].join(&[id("g1")], 0).unwrap();
    nodes[2].join(&[id("g1")], 0).unwrap();
    let mut now = 0;
    while now < 10_000 && regs.iter().any(|r| r.list_alive().len() < 2) {
        now += 10;
        let batch = std::mem::take(&mut *queue.lock().unwrap());
        for (from, to, json) in batch {
            let i = names.iter().position(|n| *n == to.as_str()).unwrap();
            nodes[i].handle_announcement_at(&json, &from, now).unwrap();
        }
        for n in &mut nodes {
            n.tick(now);
        }
    }
    for r in &regs {
        assert_eq!(r.list_alive().len(), 2, "{:?}", r.list());
    }
}

// 18. Unified discovery: a node in seed-compatible mode hears an
// earlier-system peer over its WebSocket and announces to it
#[test]
fn unified_discovery_with_an_earlier_system_peer() {
    let registry = PeerRegistry::new();
    let added = Arc::new(AtomicUsize::new(0));
    let a = added.clone();
    registry
        .on_add(move |_, _| {
            a.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    let n = Node::builder()
        .node_id("unified")
        .registry(registry.clone())
        .seed_compatible(true)
        .configure(|c| c.membership.announce_interval_ms = 300)
        .start()
        .unwrap();
    let (mut ws, _) = tungstenite::connect(no_path(&n) + "/peerdisc").unwrap();
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_ref() {
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
    }
    // The earlier system's announcement: no `v`, no greeting, Unix time,
    // a field peerdisc does not define.
    let bare = serde_json::json!({
        "type": "gossip_announcement",
        "timestamp": unix_now(),
        "peers": [{"node_id": "legacy-1", "address": "ws://127.0.0.1:9",
                   "agents": ["legacy-agent"], "health_score": 0.9, "zone": "eu"}]
    });
    ws.send(tungstenite::Message::text(bare.to_string()))
        .unwrap();
    assert!(wait_until(Duration::from_secs(5), || registry.contains("legacy-1")));
    assert_eq!(
        registry.find_by_agent("legacy-agent")[0].node_id().as_str(),
        "legacy-1"
    );
    assert_eq!(added.load(Ordering::SeqCst), 1);
    // It hears the node's seed-shaped announcements on that connection,
    // again and again.
    let end = Instant::now() + Duration::from_secs(10);
    let mut heard = Vec::new();
    while heard.len() < 2 {
        assert!(
            Instant::now() < end,
            "seed-shaped announcements heard: {heard:?}"
        );
        match poll_text(&mut ws) {
            Ok(Some(t)) => {
                let v: serde_json::Value = serde_json::from_str(&t).unwrap();
                if v["type"] == "gossip_announcement" && v["states"].is_null() {
                    heard.push(v);
                }
            }
            Ok(None) => {}
            Err(e) => panic!("connection lost: {e}"),
        }
    }
    let (first, heard) = (&heard[0], &heard[1]);
    let gap = heard["timestamp"].as_f64().unwrap() - first["timestamp"].as_f64().unwrap();
    assert!(gap >= 0.25, "announce interval 300 ms, gap {gap} s");
    assert_eq!(heard["peers"][0]["node_id"], "unified");
    assert!(heard["peers"][0]["address"]
        .as_str()
        .unwrap()
        .starts_with("ws://127.0.0.1:"));
    assert!((heard["timestamp"].as_f64().unwrap() - unix_now()).abs() < 60.0);
    assert!(n.stats().unidentified == 0);
    n.stop().unwrap();

    // Off by default: the extra field makes it malformed; without it, a
    // bare announcement names no sender and is dropped and counted.
    let strict = node("strict", None);
    let (mut ws, _) = tungstenite::connect(strict.address().as_str()).unwrap();
    ws.send(tungstenite::Message::text(bare.to_string()))
        .unwrap();
    assert!(wait_until(Duration::from_secs(5), || strict
        .stats()
        .malformed
        == 1));
    let mut clean = bare.clone();
    clean["peers"][0].as_object_mut().unwrap().remove("zone");
    ws.send(tungstenite::Message::text(clean.to_string()))
        .unwrap();
    assert!(wait_until(Duration::from_secs(5), || strict
        .stats()
        .unidentified
        == 1));
    assert!(!strict.registry().contains("legacy-1"));
    strict.stop().unwrap();
}
