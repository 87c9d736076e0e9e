//! The peer model: creation, JSON round trip, strict decoding, activity and
//! health tracking.

use peerdisc::model::{limits, PEER_FORMAT_VERSION};
use peerdisc::{
    Capability, CapabilityKind, ConnectionState, Health, Liveness, ModelError, NodeId, Peer,
    PeerAddress, PeerRecord,
};

fn sample() -> Peer {
    Peer::builder("node_abc123")
        .address("ws://192.168.1.100:8000")
        .address("ws://[::1]:8001/p2p")
        .public_key("ed25519:abcd")
        .agent("agent1")
        .agent("agent2")
        .tool("search")
        .capability(
            CapabilityKind::Resource,
            Capability::new("docs").with_metadata("lang", "en"),
        )
        .prompt("summarize")
        .metadata("region", "eu")
        .version(7)
        .seen_at_ms(1_000)
        .build()
        .unwrap()
}

#[test]
fn peer_creation_sets_defaults() {
    let p = sample();
    assert_eq!(p.node_id().as_str(), "node_abc123");
    assert_eq!(p.addresses().len(), 2);
    assert_eq!(p.addresses()[1].host(), "::1");
    assert_eq!(p.addresses()[1].port(), 8001);
    assert_eq!(p.addresses()[1].path(), "/p2p");
    assert_eq!(p.connection_state, ConnectionState::Disconnected);
    assert_eq!(p.liveness, Liveness::Alive);
    assert_eq!(p.health_score(), Health::INITIAL_SCORE);
    assert_eq!((p.first_seen_ms, p.last_seen_ms), (1_000, 1_000));
    assert_eq!(p.version(), 7);
    assert!(p.capabilities().contains(CapabilityKind::Agent, "agent2"));
    assert!(!p.capabilities().contains(CapabilityKind::Tool, "agent2"));
    assert_eq!(p.capabilities().len(), 5);
}

#[test]
fn peer_json_round_trip_keeps_everything() {
    let mut p = sample();
    p.health.record_success();
    p.health.record_failure();
    p.connection_state = ConnectionState::Connected;
    p.set_liveness(Liveness::Suspect, 1_500);
    p.incarnation = 3;
    let json = p.to_json();
    let back = Peer::from_json(&json).unwrap();
    assert_eq!(back, p);
    // Stable snake_case field names.
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    for key in [
        "format",
        "node_id",
        "addresses",
        "public_key",
        "capabilities",
        "metadata",
        "version",
        "connection_state",
        "liveness",
        "incarnation",
        "health",
        "first_seen_ms",
        "last_seen_ms",
        "liveness_changed_ms",
    ] {
        assert!(v.get(key).is_some(), "missing field {key} in {json}");
    }
    assert_eq!(v["connection_state"], "connected");
    assert_eq!(v["liveness"], "suspect");
    assert_eq!(v["capabilities"]["agents"][0], "agent1");
    assert_eq!(v["capabilities"]["resources"][0]["metadata"]["lang"], "en");
}

#[test]
fn record_json_round_trip() {
    let r = sample().record;
    assert_eq!(PeerRecord::from_json(&r.to_json()).unwrap(), r);
}

#[test]
fn strict_decoding_refuses_bad_input() {
    let cases = [
        (r#"{"node_id": 5}"#, "wrong type"),
        (r#"{"node_id": "a", "bogus": 1}"#, "unknown field"),
        (r#"{"format": 2, "node_id": "a"}"#, "unknown format"),
        (r#"{"node_id": "a b"}"#, "bad id"),
        (r#"{"node_id": ""}"#, "empty id"),
        (
            r#"{"node_id": "a", "addresses": ["http://x:1"]}"#,
            "bad scheme",
        ),
        (r#"{"node_id": "a", "addresses": ["ws://"]}"#, "no host"),
        (
            r#"{"node_id": "a", "health": {"successes": 0, "failures": 0, "consecutive_failures": 0, "score": 1.5}}"#,
            "score",
        ),
        (
            r#"{"node_id": "a", "capabilities": {"tools": ["x", "x"]}}"#,
            "duplicate",
        ),
        (
            r#"{"node_id": "a", "capabilities": {"gadgets": ["x"]}}"#,
            "unknown kind",
        ),
        (
            r#"{"node_id": "a", "capabilities": {"tools": [""]}}"#,
            "empty name",
        ),
        (
            r#"{"node_id": "a", "liveness": "zombie"}"#,
            "unknown liveness",
        ),
        (r#"{"node_id": "a", "version": -1}"#, "negative version"),
        (r#"{"node_id": "a""#, "truncated"),
        ("", "empty"),
        ("[]", "array"),
    ];
    for (json, what) in cases {
        assert!(
            Peer::from_json(json).is_err(),
            "{what}: {json} was accepted"
        );
    }
    // The format check itself must refuse it, not some other JSON error.
    // `Peer::from_json` goes through serde, which turns the check's
    // `UnsupportedFormat` into a `Json` error carrying its message; either
    // form is accepted, anything else is not.
    let unsupported = ModelError::UnsupportedFormat {
        found: 9,
        supported: PEER_FORMAT_VERSION,
    };
    match Peer::from_json(r#"{"format": 9, "node_id": "a"}"#) {
        Err(e @ ModelError::UnsupportedFormat { .. }) => assert_eq!(e, unsupported),
        Err(ModelError::Json(m)) if m.starts_with(&unsupported.to_string()) => {}
        other => panic!("expected {unsupported:?}, got {other:?}"),
    }
}

#[test]
fn limits_are_enforced() {
    let long = "x".repeat(limits::MAX_NODE_ID_LEN + 1);
    assert!(matches!(
        NodeId::new(&long),
        Err(ModelError::InvalidNodeId { .. })
    ));
    let mut b = Peer::builder("n");
    for i in 0..=limits::MAX_ADDRESSES {
        b = b.address(format!("ws://h{i}:1"));
    }
    assert!(matches!(b.build(), Err(ModelError::TooMany { .. })));
    let big = "n".repeat(limits::MAX_CAPABILITY_NAME_LEN + 1);
    assert!(matches!(
        Peer::builder("n").tool(big).build(),
        Err(ModelError::TooLong { .. })
    ));
    assert!(PeerAddress::new("ws://u:p@host:1").is_err());
    assert!(PeerAddress::new("ws://host:0").is_err());
    assert_eq!(PeerAddress::new("wss://host").unwrap().port(), 443);
}

#[test]
fn activity_tracking_never_moves_back() {
    let mut p = sample();
    p.touch(5_000);
    assert_eq!(p.last_seen_ms, 5_000);
    p.touch(4_000);
    assert_eq!(p.last_seen_ms, 5_000);
    assert_eq!(p.first_seen_ms, 1_000);
    let old = p.set_liveness(Liveness::Dead, 6_000);
    assert_eq!(old, Liveness::Alive);
    assert_eq!(p.liveness_changed_ms, 6_000);
    assert!(!p.is_alive());
}

#[test]
fn health_score_falls_on_failure_and_climbs_back() {
    let mut h = Health::new();
    assert_eq!(h.success_rate(), None);
    for _ in 0..10 {
        h.record_failure();
    }
    assert!(h.score() < 0.06, "{}", h.score());
    assert_eq!(h.consecutive_failures(), 10);
    for _ in 0..10 {
        h.record_success();
    }
    assert!(h.score() > 0.85, "{}", h.score());
    assert_eq!(h.consecutive_failures(), 0);
    assert_eq!((h.successes(), h.failures()), (10, 10));
    assert_eq!(h.success_rate(), Some(0.5));
    assert!((0.0..=1.0).contains(&h.score()));
}

#[test]
fn capability_kinds_parse_both_forms() {
    assert_eq!(
        "tools".parse::<CapabilityKind>().unwrap(),
        CapabilityKind::Tool
    );
    assert_eq!(
        "prompt".parse::<CapabilityKind>().unwrap(),
        CapabilityKind::Prompt
    );
    assert!("gadget".parse::<CapabilityKind>().is_err());
}

#[test]
fn datagram_addresses_are_strict() {
    let a = PeerAddress::new("udp://10.0.0.5:7400").unwrap();
    assert!(a.is_datagram());
    assert_eq!(
        a.datagram_socket_addr(),
        Some("10.0.0.5:7400".parse().unwrap())
    );
    let v6 = PeerAddress::new("udp://[::1]:7400").unwrap();
    assert_eq!(
        v6.datagram_socket_addr(),
        Some("[::1]:7400".parse().unwrap())
    );
    // A host name is kept but gives no socket address (no lookup).
    let named = PeerAddress::new("udp://seed.example:7400").unwrap();
    assert_eq!(named.datagram_socket_addr(), None);
    for bad in [
        "udp://10.0.0.5",
        "udp://10.0.0.5:7400/path",
        "udp://10.0.0.5:0",
        "udp://:7400",
    ] {
        assert!(PeerAddress::new(bad).is_err(), "{bad}");
    }
    let ws = PeerAddress::new("ws://10.0.0.5:7400/peerdisc").unwrap();
    assert!(!ws.is_datagram());
    assert_eq!(ws.datagram_socket_addr(), None);
    assert_eq!(
        PeerAddress::datagram("10.0.0.5:7400".parse().unwrap()).as_str(),
        "udp://10.0.0.5:7400"
    );
}
