//! PeerRegistry: operations, versions, capability index, eviction, cleanup,
//! statistics, and bad input that changes nothing.

use std::sync::Arc;

use peerdisc::{
    Capabilities, Capability, CapabilityKind, ChangedField, Clock, ConnectionState, Liveness,
    ManualClock, Peer, PeerEvent, PeerFilter, PeerRecord, PeerRegistry, PeerUpdate, RegistryConfig,
    RegistryError, RemovalReason, UpsertOutcome,
};

fn clocked(config: RegistryConfig) -> (PeerRegistry, ManualClock) {
    let clock = ManualClock::new(1_000_000);
    let reg = PeerRegistry::with_clock(config, Arc::new(clock.clone())).unwrap();
    (reg, clock)
}

fn peer(id: &str) -> Peer {
    Peer::builder(id)
        .address(format!("ws://127.0.0.1:{}", 9000 + id.len()))
        .build()
        .unwrap()
}

fn peer_at(id: &str, clock: &ManualClock) -> Peer {
    Peer::builder(id)
        .seen_at_ms(clock.now_ms())
        .build()
        .unwrap()
}

fn record(id: &str, version: u64, tools: &[&str]) -> PeerRecord {
    let mut b = Peer::builder(id).version(version);
    for t in tools {
        b = b.tool(*t);
    }
    b.build_record().unwrap()
}

fn ids(peers: &[Arc<Peer>]) -> Vec<String> {
    peers.iter().map(|p| p.node_id().to_string()).collect()
}

#[test]
fn add_get_list_remove() {
    let reg = PeerRegistry::new();
    assert!(reg.is_empty());
    reg.add(peer("b")).unwrap();
    reg.add(peer("a")).unwrap();
    assert_eq!(reg.len(), 2);
    assert_eq!(reg.get("a").unwrap().node_id().as_str(), "a");
    assert!(reg.get("zz").is_none());
    assert_eq!(ids(&reg.list()), ["a", "b"]);
    assert!(matches!(
        reg.add(peer("a")),
        Err(RegistryError::AlreadyExists(_))
    ));
    let removed = reg.remove("a").unwrap();
    assert_eq!(removed.node_id().as_str(), "a");
    assert!(matches!(reg.remove("a"), Err(RegistryError::NotFound(_))));
    assert_eq!(ids(&reg.list()), ["b"]);
}

#[test]
fn upsert_orders_by_version() {
    let reg = PeerRegistry::new();
    assert_eq!(
        reg.upsert(record("n", 1, &["a"])).unwrap(),
        UpsertOutcome::Added
    );
    match reg.upsert(record("n", 2, &["b"])).unwrap() {
        UpsertOutcome::Updated { changes } => {
            assert!(changes.contains(&ChangedField::Capabilities));
            assert!(changes.contains(&ChangedField::Version));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        reg.upsert(record("n", 2, &["c"])).unwrap(),
        UpsertOutcome::Ignored { current_version: 2 }
    );
    assert_eq!(
        reg.upsert(record("n", 1, &["d"])).unwrap(),
        UpsertOutcome::Ignored { current_version: 2 }
    );
    let p = reg.get("n").unwrap();
    assert_eq!(p.version(), 2);
    assert!(p.capabilities().contains(CapabilityKind::Tool, "b"));
    assert_eq!(reg.stats().stale_upserts, 2);
}

#[test]
fn upsert_keeps_local_observations_and_revives_dead_peer() {
    let (reg, clock) = clocked(RegistryConfig::default());
    reg.upsert(record("n", 1, &[])).unwrap();
    reg.record_success("n").unwrap();
    reg.set_connection_state("n", ConnectionState::Connected)
        .unwrap();
    reg.mark_dead("n").unwrap();
    let first_seen = reg.get("n").unwrap().first_seen_ms;
    clock.advance_ms(10);
    reg.upsert(record("n", 2, &[])).unwrap();
    let p = reg.get("n").unwrap();
    assert_eq!(p.health.successes(), 1);
    assert_eq!(p.connection_state, ConnectionState::Connected);
    assert_eq!(p.first_seen_ms, first_seen);
    assert_eq!(p.last_seen_ms, first_seen + 10);
    assert_eq!(p.liveness, Liveness::Alive);
}

#[test]
fn capability_index_follows_updates_and_removals() {
    let reg = PeerRegistry::new();
    reg.upsert(record("a", 1, &["search", "math"])).unwrap();
    reg.upsert(record("b", 1, &["search"])).unwrap();
    assert_eq!(ids(&reg.find_by_tool("search")), ["a", "b"]);
    assert_eq!(ids(&reg.find_by_tool("math")), ["a"]);
    reg.upsert(record("a", 2, &["math", "code"])).unwrap();
    assert_eq!(ids(&reg.find_by_tool("search")), ["b"]);
    assert_eq!(ids(&reg.find_by_tool("code")), ["a"]);
    let mut caps = Capabilities::new();
    caps.agents.push(Capability::new("planner"));
    reg.update("b", PeerUpdate::new().capabilities(caps))
        .unwrap();
    assert!(reg.find_by_tool("search").is_empty());
    assert_eq!(ids(&reg.find_by_agent("planner")), ["b"]);
    assert!(reg.find_by_tool("planner").is_empty(), "kinds are separate");
    reg.remove("a").unwrap();
    assert!(reg.find_by_tool("code").is_empty());
    assert!(reg.find_by_tool("math").is_empty());
    assert!(reg.find_by_resource("nothing").is_empty());
    assert!(reg.find_by_prompt("nothing").is_empty());
}

#[test]
fn connection_outcomes_drive_health() {
    let reg = PeerRegistry::new();
    reg.add(peer("n")).unwrap();
    let mut last = reg.get("n").unwrap().health_score();
    for _ in 0..3 {
        let s = reg.record_failure("n").unwrap();
        assert!(s < last);
        last = s;
    }
    assert_eq!(reg.get("n").unwrap().health.consecutive_failures(), 3);
    for _ in 0..3 {
        let s = reg.record_success("n").unwrap();
        assert!(s > last);
        last = s;
    }
    assert!(matches!(
        reg.record_success("missing"),
        Err(RegistryError::NotFound(_))
    ));
}

#[test]
fn filters_select_alive_and_connected() {
    let reg = PeerRegistry::new();
    for id in ["a", "b", "c", "d"] {
        reg.upsert(record(id, 1, &["t"])).unwrap();
    }
    reg.mark_dead("b").unwrap();
    reg.mark_suspect("c").unwrap();
    reg.mark_left("d").unwrap();
    reg.set_connection_state("a", ConnectionState::Connected)
        .unwrap();
    assert_eq!(ids(&reg.list_alive()), ["a", "c"]);
    assert_eq!(ids(&reg.list_connected()), ["a"]);
    let f: PeerFilter = serde_json::from_str(
        r#"{"liveness": ["dead", "left"], "capability": {"kind": "tool", "name": "t"}, "limit": 1}"#,
    )
    .unwrap();
    assert_eq!(ids(&reg.list_filtered(&f)), ["b"]);
    reg.record_success("a").unwrap();
    let f = PeerFilter {
        min_health: Some(0.55),
        ..Default::default()
    };
    assert_eq!(ids(&reg.list_filtered(&f)), ["a"]);
}

#[test]
fn dead_peers_are_cleaned_up_after_retention() {
    let (reg, clock) = clocked(RegistryConfig {
        dead_retention_ms: 1_000,
        stale_after_ms: Some(5_000),
        ..Default::default()
    });
    for id in ["dead", "left", "alive", "quiet"] {
        reg.add(peer_at(id, &clock)).unwrap();
    }
    reg.mark_dead("dead").unwrap();
    reg.mark_left("left").unwrap();
    // Subscribed after the set-up: only the cleanup's events arrive.
    let events = reg.subscribe();
    // The removals so far, as (node id, reason), sorted.
    let removals = || {
        let mut v: Vec<(String, RemovalReason)> = events
            .try_iter()
            .filter_map(|e| match e {
                PeerEvent::Removed { peer, reason } => Some((peer.node_id().to_string(), reason)),
                _ => None,
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    clock.advance_ms(999);
    assert!(reg.cleanup_dead_peers().is_empty());
    assert!(removals().is_empty());
    clock.advance_ms(1);
    let mut removed: Vec<String> = reg
        .cleanup_dead_peers()
        .iter()
        .map(|i| i.to_string())
        .collect();
    removed.sort();
    assert_eq!(removed, ["dead", "left"]);
    assert_eq!(
        removals(),
        [
            ("dead".to_string(), RemovalReason::Dead),
            ("left".to_string(), RemovalReason::Left)
        ]
    );
    // Staleness: "quiet" is not heard from; "alive" is.
    clock.advance_ms(4_000);
    reg.touch("alive").unwrap();
    clock.advance_ms(1_000);
    assert!(reg.cleanup_dead_peers().is_empty());
    assert_eq!(reg.get("quiet").unwrap().liveness, Liveness::Dead);
    assert_eq!(reg.get("alive").unwrap().liveness, Liveness::Alive);
    clock.advance_ms(1_000);
    let removed = reg.cleanup_dead_peers();
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0].as_str(), "quiet");
    // Stale, then dead for the retention time: removed as dead.
    assert_eq!(removals(), [("quiet".to_string(), RemovalReason::Dead)]);
    let s = reg.stats();
    assert_eq!((s.total, s.removes), (1, 3));
}

#[test]
fn capacity_evicts_lowest_ranked_first() {
    let (reg, clock) = clocked(RegistryConfig {
        capacity: 4,
        ..Default::default()
    });
    for id in ["healthy", "sick", "old", "connected"] {
        reg.add(peer_at(id, &clock)).unwrap();
        clock.advance_ms(10);
    }
    reg.record_success("healthy").unwrap();
    reg.record_failure("sick").unwrap();
    reg.set_connection_state("connected", ConnectionState::Connected)
        .unwrap();
    // "old" (0.5, seen first) and "sick" (0.4) are the candidates: sick goes.
    reg.add(peer_at("new1", &clock)).unwrap();
    assert!(reg.get("sick").is_none());
    // Then "old" (0.5, oldest) before "new1" (0.5, newer).
    clock.advance_ms(10);
    reg.add(peer_at("new2", &clock)).unwrap();
    assert!(reg.get("old").is_none());
    assert_eq!(reg.len(), 4);
    // A dead peer goes before any alive one, whatever its health.
    reg.record_success("new1").unwrap();
    reg.record_success("new1").unwrap();
    reg.mark_dead("new1").unwrap();
    clock.advance_ms(10);
    reg.add(peer_at("new3", &clock)).unwrap();
    assert!(reg.get("new1").is_none());
    assert_eq!(reg.stats().evictions, 3);
    assert_eq!(reg.len(), 4);
}

#[test]
fn full_registry_refuses_a_lower_ranked_newcomer() {
    let (reg, _clock) = clocked(RegistryConfig {
        capacity: 2,
        ..Default::default()
    });
    reg.add(peer("a")).unwrap();
    reg.add(peer("b")).unwrap();
    reg.set_connection_state("a", ConnectionState::Connected)
        .unwrap();
    reg.set_connection_state("b", ConnectionState::Connected)
        .unwrap();
    let err = reg.add(peer("c")).unwrap_err();
    assert!(
        matches!(err, RegistryError::Full { capacity: 2, .. }),
        "{err}"
    );
    assert_eq!(ids(&reg.list()), ["a", "b"]);
    // A newcomer that is less healthy than every evictable peer is refused.
    reg.set_connection_state("b", ConnectionState::Disconnected)
        .unwrap();
    reg.record_success("b").unwrap();
    let mut weak = peer("c");
    weak.health.record_failure();
    assert!(matches!(reg.add(weak), Err(RegistryError::Full { .. })));
    assert_eq!(ids(&reg.list()), ["a", "b"]);
}

#[test]
fn flood_of_records_never_exceeds_capacity() {
    let reg = PeerRegistry::with_config(RegistryConfig {
        capacity: 100,
        ..Default::default()
    })
    .unwrap();
    for i in 0..1_000 {
        let _ = reg.upsert(record(&format!("fake{i}"), 1, &["x"]));
    }
    assert_eq!(reg.len(), 100);
    assert_eq!(reg.find_by_tool("x").len(), 100);
    let s = reg.stats();
    assert_eq!(s.total, 100);
    assert_eq!(s.evictions, 900);
}

#[test]
fn rejected_input_changes_nothing() {
    let reg = PeerRegistry::new();
    reg.upsert(record("n", 3, &["keep"])).unwrap();
    let before = reg.get("n").unwrap();
    // Invalid record (duplicate tool) with a higher version.
    let mut bad = record("n", 9, &["x"]);
    bad.capabilities.tools.push(Capability::new("x"));
    assert!(matches!(reg.upsert(bad), Err(RegistryError::Invalid(_))));
    // Invalid update.
    let mut caps = Capabilities::new();
    caps.tools.push(Capability::new(""));
    assert!(reg
        .update("n", PeerUpdate::new().capabilities(caps))
        .is_err());
    assert_eq!(reg.get("n").unwrap(), before);
    assert_eq!(ids(&reg.find_by_tool("keep")), ["n"]);
    // Bad ids for lookups are answered, not panicked on.
    assert!(reg.get("not an id").is_none());
    assert!(matches!(
        reg.remove("not an id"),
        Err(RegistryError::Invalid(_))
    ));
    assert!(reg.stats().rejected >= 3);
    // Bad config.
    assert!(matches!(
        PeerRegistry::with_config(RegistryConfig {
            capacity: 0,
            ..Default::default()
        }),
        Err(RegistryError::InvalidConfig(_))
    ));
}

#[test]
fn stats_count_states_and_operations() {
    let reg = PeerRegistry::new();
    for id in ["a", "b", "c"] {
        reg.add(peer(id)).unwrap();
    }
    reg.mark_suspect("a").unwrap();
    reg.mark_dead("b").unwrap();
    reg.set_connection_state("c", ConnectionState::Connected)
        .unwrap();
    reg.record_success("c").unwrap();
    let s = reg.stats();
    assert_eq!(
        (s.total, s.alive, s.suspect, s.dead, s.left),
        (3, 1, 1, 1, 0)
    );
    assert_eq!((s.connected, s.disconnected), (1, 2));
    assert_eq!(s.adds, 3);
    assert_eq!(s.updates, 4);
    let expected = (0.5 + 0.5 + 0.6) / 3.0;
    assert!(
        (s.average_health - expected).abs() < 1e-6,
        "{}",
        s.average_health
    );
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["suspect"], 1);
}

#[test]
fn concurrent_readers_and_writers_end_consistent() {
    let reg = PeerRegistry::new();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let reg = reg.clone();
            std::thread::spawn(move || {
                for i in 0..500 {
                    let id = format!("t{t}-{i}");
                    reg.upsert(record(&id, 1, &["shared", &format!("own{t}")]))
                        .unwrap();
                    reg.upsert(record(&id, 2, &["shared"])).unwrap();
                    reg.record_success(&id).unwrap();
                    if i % 2 == 0 {
                        reg.remove(&id).unwrap();
                    }
                    let _ = reg.get(&format!("t{}-{}", (t + 1) % 4, i));
                    let _ = reg.find_by_tool("shared");
                }
            })
        })
        .collect();
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let reg = reg.clone();
            std::thread::spawn(move || {
                for _ in 0..200 {
                    let _ = reg.list_alive();
                    let _ = reg.stats();
                }
            })
        })
        .collect();
    for t in threads.into_iter().chain(readers) {
        t.join().unwrap();
    }
    assert_eq!(reg.len(), 4 * 250);
    assert_eq!(reg.find_by_tool("shared").len(), 1_000);
    for t in 0..4 {
        assert!(reg.find_by_tool(&format!("own{t}")).is_empty());
    }
    let s = reg.stats();
    assert_eq!(
        (s.total, s.alive, s.adds, s.removes),
        (1_000, 1_000, 2_000, 1_000)
    );
    assert!((s.average_health - 0.6).abs() < 1e-6);
}
