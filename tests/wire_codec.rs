//! The wire format: round trips, the seed shape, strict refusals, limits.

use std::sync::Arc;

use peerdisc::wire::{
    decode, decode_str, encode, encoded_len, AnnouncedPeer, DigestSummary, GossipAnnouncement,
    Hello, MemberState, Message, PeerList, PeerListRequest, Ping, PingReq, PushPull, StateClaim,
    SummaryBuckets, WireError, MAX_MESSAGE_BYTES, MAX_PEERS_PER_MESSAGE,
};
use peerdisc::{Liveness, NodeId, PeerRecord};

fn id(s: &str) -> NodeId {
    NodeId::new(s).unwrap()
}

fn record(s: &str) -> Arc<PeerRecord> {
    let mut r = PeerRecord::new(id(s));
    r.version = 3;
    Arc::new(r)
}

fn samples() -> Vec<Message> {
    let st = MemberState::new(id("b"), 2, Liveness::Alive, 1);
    let mut sus = MemberState::new(id("c"), 4, Liveness::Suspect, 0);
    sus.from = Some(id("a"));
    vec![
        Message::Hello(Hello {
            record: record("a"),
            incarnation: 1,
            sig: None,
        }),
        Message::PeerListRequest(PeerListRequest::default()),
        Message::PeerListRequest(PeerListRequest {
            node_ids: vec![id("x")],
        }),
        Message::PeerList(PeerList {
            peers: vec![record("a")],
            states: vec![st.clone()],
        }),
        Message::GossipAnnouncement(GossipAnnouncement {
            timestamp: 1.5,
            peers: vec![AnnouncedPeer::Record(record("d"))],
            states: vec![st.clone(), sus.clone()],
        }),
        Message::Ping(Ping::new(9, id("b"))),
        Message::PingReq(PingReq {
            seq: 3,
            target: id("c"),
        }),
        Message::PushPull(PushPull {
            reply: true,
            complete: true,
            states: vec![st, sus],
            peers: vec![record("e")],
            ..Default::default()
        }),
        Message::PushPull(PushPull {
            states: vec![MemberState::new(id("a"), 0, Liveness::Alive, 1)],
            summary: DigestSummary::from_sums((0..16).map(|i| i * 0x0101_0101_0101).collect()),
            ..Default::default()
        }),
        Message::PushPull(PushPull {
            states: vec![MemberState::new(id("a"), 0, Liveness::Alive, 1)],
            within: SummaryBuckets::new(16, vec![0, 7, 15]),
            ..Default::default()
        }),
        Message::Suspect(StateClaim {
            node_id: id("c"),
            incarnation: 4,
            version: 0,
            from: Some(id("a")),
            sig: None,
            nonce: None,
            proof: None,
        }),
        Message::Leave(StateClaim {
            node_id: id("a"),
            incarnation: 1,
            version: 0,
            from: None,
            sig: None,
            nonce: None,
            proof: None,
        }),
    ]
}

#[test]
fn every_message_round_trips_and_its_size_is_exact() {
    for m in samples() {
        let json = encode(&m);
        assert!(json.starts_with(r#"{"v":1,"type":""#), "{json}");
        assert_eq!(encoded_len(&m), json.len());
        assert_eq!(decode_str(&json).unwrap(), m, "{json}");
    }
}

#[test]
fn member_states_are_compact_arrays() {
    let mut s = MemberState::new(id("n1"), 3, Liveness::Suspect, 2);
    s.from = Some(id("n2"));
    let json = serde_json::to_string(&s).unwrap();
    assert_eq!(json, r#"["n1",3,"suspect",2,"n2"]"#);
    let json = r#"{"v":1,"type":"ping","seq":1,"target":"b","states":[["n1",3,"dead",2,"n2",7]]}"#;
    assert!(matches!(decode_str(json), Err(WireError::Invalid { .. })));
}

#[test]
fn the_seed_announcement_decodes_without_a_version() {
    let json = r#"{"type": "gossip_announcement", "timestamp": 1764000000.25, "peers": [
        {"node_id": "node_abc123", "address": "ws://192.168.1.100:8000",
         "agents": ["agent1", "agent2"], "tools": ["search"], "resources": [], "prompts": [],
         "last_seen": 1764000000.0, "health_score": 0.8, "connection_state": "connected"},
        {"node_id": "node_def", "addresses": ["ws://10.0.0.2:8000"], "version": 4}
    ]}"#;
    let Message::GossipAnnouncement(g) = decode_str(json).unwrap() else {
        panic!("not an announcement")
    };
    assert_eq!(g.peers.len(), 2);
    let seed = g.peers[0].to_record().unwrap();
    assert_eq!(seed.node_id.as_str(), "node_abc123");
    // A seed URL without a path means the default path.
    assert_eq!(
        seed.addresses[0].as_str(),
        "ws://192.168.1.100:8000/peerdisc"
    );
    assert_eq!(seed.capabilities.agents.len(), 2);
    assert!(matches!(g.peers[1], AnnouncedPeer::Record(_)));
    assert_eq!(g.peers[1].to_record().unwrap().version, 4);
}

#[test]
fn seed_peers_are_strict_too() {
    let json = r#"{"type":"gossip_announcement","timestamp":1.0,"peers":[{"node_id":"a","colour":"red"}]}"#;
    assert!(matches!(decode_str(json), Err(WireError::Invalid { .. })));
    // A seed peer with an address that is not ws:// decodes, but cannot
    // become a record.
    let json = r#"{"type":"gossip_announcement","timestamp":1.0,"peers":[{"node_id":"a","address":"http://x"}]}"#;
    let Message::GossipAnnouncement(g) = decode_str(json).unwrap() else {
        panic!()
    };
    assert!(g.peers[0].to_record().is_err());
}

#[test]
fn refusals_are_typed() {
    assert!(matches!(decode(b"\xff\xfe"), Err(WireError::NotJson(_))));
    assert!(matches!(decode(b"[1,2]"), Err(WireError::NotAnObject)));
    assert!(matches!(decode(br#"{"v":1}"#), Err(WireError::MissingType)));
    assert!(matches!(
        decode(br#"{"v":1,"type":"teleport"}"#),
        Err(WireError::UnknownType(t)) if t == "teleport"
    ));
    assert!(matches!(
        decode(br#"{"type":"ping","seq":1,"target":"b"}"#),
        Err(WireError::MissingVersion("ping"))
    ));
    assert!(matches!(
        decode(br#"{"v":2,"type":"ping","seq":1,"target":"b"}"#),
        Err(WireError::UnsupportedVersion { found: 2, .. })
    ));
    assert!(matches!(
        decode(br#"{"v":1,"type":"ping","seq":1,"target":"b","extra":0}"#),
        Err(WireError::Invalid { kind: "ping", .. })
    ));
    assert!(matches!(
        decode(br#"{"v":1,"type":"ping","seq":1,"target":"bad id!"}"#),
        Err(WireError::Invalid { kind: "ping", .. })
    ));
}

#[test]
fn summaries_are_strictly_shaped() {
    // 16 buckets: 128 bytes, 171 base64 characters and one `=`.
    let sums = format!("{}=", "A".repeat(171));
    let ok = format!(r#"{{"v":1,"type":"push_pull","summary":{{"buckets":16,"sums":"{sums}"}}}}"#);
    assert!(decode_str(&ok).is_ok(), "{ok}");
    for bad in [
        // a summary on an answer
        format!(
            r#"{{"v":1,"type":"push_pull","reply":true,"summary":{{"buckets":16,"sums":"{sums}"}}}}"#
        ),
        // a summary with records, or claimed complete
        format!(
            r#"{{"v":1,"type":"push_pull","complete":true,"summary":{{"buckets":16,"sums":"{sums}"}}}}"#
        ),
        format!(
            r#"{{"v":1,"type":"push_pull","peers":[{{"node_id":"e"}}],"summary":{{"buckets":16,"sums":"{sums}"}}}}"#
        ),
        // a summary and a bucket list together
        format!(
            r#"{{"v":1,"type":"push_pull","summary":{{"buckets":16,"sums":"{sums}"}},"within":{{"of":16,"buckets":[1]}}}}"#
        ),
        // a bad bucket count, short sums, unsorted or out-of-range buckets
        r#"{"v":1,"type":"push_pull","summary":{"buckets":17,"sums":""}}"#.to_string(),
        r#"{"v":1,"type":"push_pull","summary":{"buckets":16,"sums":"AAAA"}}"#.to_string(),
        r#"{"v":1,"type":"push_pull","within":{"of":16,"buckets":[3,2]}}"#.to_string(),
        r#"{"v":1,"type":"push_pull","within":{"of":16,"buckets":[16]}}"#.to_string(),
        r#"{"v":1,"type":"push_pull","within":{"of":16,"buckets":[]}}"#.to_string(),
        r#"{"v":1,"type":"push_pull","complete":true,"within":{"of":16,"buckets":[1]}}"#
            .to_string(),
    ] {
        assert!(
            matches!(
                decode_str(&bad),
                Err(WireError::Invalid {
                    kind: "push_pull",
                    ..
                })
            ),
            "{bad}: {:?}",
            decode_str(&bad)
        );
    }
}

#[test]
fn the_size_limit_is_checked_before_parsing() {
    let big = vec![b' '; MAX_MESSAGE_BYTES + 1];
    assert!(matches!(decode(&big), Err(WireError::TooLarge { .. })));
}

#[test]
fn the_peer_limit_is_enforced() {
    let peers: Vec<String> = (0..=MAX_PEERS_PER_MESSAGE)
        .map(|i| format!(r#"{{"node_id":"n{i}"}}"#))
        .collect();
    let json = format!(
        r#"{{"v":1,"type":"peer_list","peers":[{}]}}"#,
        peers.join(",")
    );
    assert!(matches!(
        decode_str(&json),
        Err(WireError::TooMany { what: "peers", .. })
    ));
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn decoding_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn decoding_never_panics_on_near_messages(
            kind in prop::sample::select(vec!["ping", "ack", "push_pull", "gossip_announcement", "peer_list", "hello", "suspect", "nack"]),
            body in "[a-z0-9_\":,\\[\\]{} .-]{0,80}",
        ) {
            let json = format!(r#"{{"v":1,"type":"{kind}",{body}}}"#);
            let _ = decode_str(&json);
        }

        #[test]
        fn states_round_trip(
            n in "[a-z0-9]{1,12}", inc in any::<u64>(), ver in any::<u64>(),
            l in 0usize..4, from in proptest::option::of("[a-z]{1,8}"),
        ) {
            let liveness = [Liveness::Alive, Liveness::Suspect, Liveness::Dead, Liveness::Left][l];
            let mut s = MemberState::new(id(&n), inc, liveness, ver);
            // The fifth element: the accuser of a suspect or dead claim, the
            // subject's signature of an alive or left one.
            if matches!(liveness, Liveness::Suspect | Liveness::Dead) {
                s.from = from.map(|f| id(&f));
            } else if from.is_some() {
                s.sig = Some(peerdisc::model::RecordSignature::from_bytes([7; 64]));
            }
            let m = Message::Ping(Ping { seq: 1, target: id("t"), peers: vec![], states: vec![s] });
            let json = encode(&m);
            prop_assert_eq!(encoded_len(&m), json.len());
            prop_assert_eq!(decode_str(&json).unwrap(), m);
        }
    }
}
