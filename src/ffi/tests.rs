use super::status::{guard, peerdisc_status::*, FfiError};
use super::*;

#[test]
fn panic_becomes_a_status_and_a_message() {
    let st = guard("test_fn", || panic!("boom"));
    assert_eq!(st, PEERDISC_ERR_PANIC);
    // SAFETY: a valid C string until the next failing call.
    let msg = unsafe { std::ffi::CStr::from_ptr(peerdisc_last_error()) }
        .to_str()
        .unwrap();
    assert!(msg.contains("test_fn") && msg.contains("boom"), "{msg}");
    assert_eq!(peerdisc_last_error_status(), PEERDISC_ERR_PANIC as i32);
    peerdisc_last_error_clear();
    assert!(peerdisc_last_error().is_null());
}

#[test]
fn errors_set_the_last_error() {
    let st = guard("f", || Err(FfiError::new(PEERDISC_ERR_FULL, "full")));
    assert_eq!(st, PEERDISC_ERR_FULL);
    assert_eq!(peerdisc_last_error_status(), PEERDISC_ERR_FULL as i32);
}

#[test]
fn every_status_has_a_distinct_name() {
    let mut seen = std::collections::HashSet::new();
    for s in peerdisc_status::ALL {
        // SAFETY: static C string.
        let n = unsafe { std::ffi::CStr::from_ptr(peerdisc_status_str(s as i32)) };
        assert_eq!(n.to_str().unwrap(), s.name());
        assert!(seen.insert(s as i32));
    }
    // SAFETY: static C string.
    let n = unsafe { std::ffi::CStr::from_ptr(peerdisc_status_str(12345)) };
    assert_eq!(n.to_str().unwrap(), "PEERDISC_UNKNOWN_STATUS");
}

#[test]
fn peer_view_matches_peer_json() {
    use crate::model::{Capability, CapabilityKind, ConnectionState, Liveness, Peer};
    use std::sync::Arc;

    let plain = Peer::builder("a").build().unwrap();
    let mut full = Peer::builder("node_full")
        .address("ws://10.0.0.1:8000")
        .address("wss://example.org/peer")
        .public_key("ed25519:abc\"quoted\"")
        .agent("planner")
        .tool("search")
        .capability(
            CapabilityKind::Resource,
            Capability::new("docs").with_metadata("lang", "en"),
        )
        .prompt("summarize\u{e9}")
        .metadata("region", "eu-west")
        .metadata("note", "line\nbreak")
        .version(7)
        .seen_at_ms(1_764_000_000_000)
        .build()
        .unwrap();
    full.connection_state = ConnectionState::Connected;
    full.set_liveness(Liveness::Suspect, 1_764_000_000_500);
    full.incarnation = 3;
    full.health.record_success();
    full.health.record_failure();
    let peers = vec![Arc::new(plain), Arc::new(full)];
    for p in &peers {
        assert_eq!(
            serde_json::to_string(&PeerView::of(p)).unwrap(),
            p.to_json()
        );
    }
    assert_eq!(peers_json(&peers), serde_json::to_string(&peers).unwrap());
    assert_eq!(peers_json(&[]), "[]");
}
