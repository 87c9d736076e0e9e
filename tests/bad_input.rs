//! The bad-input table, wire and registry level: every hostile or broken
//! input is refused with a typed error, and a `PeerRegistry` fed through
//! the decoder (and the record verifier) is left exactly as it was.
//!
//! The same table against a running node, over real WebSocket connections
//! (forged and replayed records, claims about other nodes, floods of
//! frames and connections): `tests/node_bad_input.rs`; slow and silent
//! clients and connection limits: `tests/transport_limits.rs`; forged
//! records inside the membership core: `tests/membership_signed.rs`. The
//! property tests
//! at the end are the stable-toolchain versions of the `fuzz/` targets
//! `wire_decode`, `core_sequence` and `signed_liveness`.

use std::sync::Arc;

use peerdisc::identity::{sign, Identity, RecordGate, SignedRecord, VerifyError};
use peerdisc::keyring::{check_plaintext, Keyring, KeyringError};
use peerdisc::membership::{Membership, MembershipConfig};
use peerdisc::wire::{self, Message, WireError, MAX_MESSAGE_BYTES};
use peerdisc::{NodeId, PeerAddress, PeerRecord, PeerRegistry, UpsertOutcome};
use proptest::prelude::*;

#[path = "support/signed_liveness_ops.rs"]
mod signed_liveness_ops;

/// Why an input was refused.
#[derive(Debug)]
enum Refused {
    Wire(WireError),
    Verify(VerifyError),
}

/// The records a message carries.
fn records_of(msg: &Message) -> Vec<Arc<PeerRecord>> {
    match msg {
        Message::Hello(m) => vec![m.record.clone()],
        Message::PeerList(m) => m.peers.clone(),
        Message::Ping(m) => m.peers.clone(),
        Message::Ack(m) => m.peers.clone(),
        Message::PushPull(m) => m.peers.clone(),
        Message::GossipAnnouncement(m) => {
            m.peers.iter().filter_map(|p| p.to_record().ok()).collect()
        }
        _ => Vec::new(),
    }
}

/// Decodes a frame and puts its records in the registry.
fn feed_wire(reg: &PeerRegistry, bytes: &[u8]) -> Result<usize, Refused> {
    let msg = wire::decode(bytes).map_err(Refused::Wire)?;
    let mut n = 0;
    for r in records_of(&msg) {
        if matches!(
            reg.upsert((*r).clone()),
            Ok(UpsertOutcome::Added | UpsertOutcome::Updated { .. })
        ) {
            n += 1;
        }
    }
    Ok(n)
}

/// Decodes a signed record, passes it through the gate, then the registry.
fn feed_signed(reg: &PeerRegistry, gate: &mut RecordGate, json: &str) -> Result<(), Refused> {
    let signed = SignedRecord::from_json(json).map_err(Refused::Verify)?;
    gate.offer(signed.clone()).map_err(Refused::Verify)?;
    reg.upsert(signed.record)
        .expect("a verified record fits the registry");
    Ok(())
}

/// The registry's content, comparable.
fn contents(reg: &PeerRegistry) -> Vec<String> {
    let mut v: Vec<String> = reg.list().iter().map(|p| p.record.to_json()).collect();
    v.sort();
    v
}

fn rec(id: &str, extra: &str) -> String {
    format!(r#"{{"node_id":"{id}","addresses":["ws://10.0.0.5:8000"]{extra},"version":1}}"#)
}

/// A registry that already knows one peer.
fn known_registry() -> PeerRegistry {
    let reg = PeerRegistry::new();
    reg.upsert(PeerRecord::from_json(&rec("known", "")).unwrap())
        .unwrap();
    reg
}

type WireCase = (&'static str, Vec<u8>, fn(&WireError) -> bool);

fn wire_cases() -> Vec<WireCase> {
    let many_peers = |n: usize| {
        let one = r#"{"node_id":"p"}"#;
        let mut s = String::from(r#"{"v":1,"type":"peer_list","peers":["#);
        for i in 0..n {
            if i > 0 {
                s.push(',');
            }
            s.push_str(one);
        }
        s.push_str("]}");
        s.into_bytes()
    };
    let too_many_ids = {
        let ids: Vec<String> = (0..1025).map(|i| format!("\"n{i}\"")).collect();
        format!(
            r#"{{"v":1,"type":"peer_list_request","node_ids":[{}]}}"#,
            ids.join(",")
        )
        .into_bytes()
    };
    let too_many_states = {
        let s: Vec<String> = (0..16_385)
            .map(|_| r#"["a",0,"alive",0]"#.to_string())
            .collect();
        format!(r#"{{"v":1,"type":"peer_list","states":[{}]}}"#, s.join(",")).into_bytes()
    };
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes();
    let meta: Vec<String> = (0..65).map(|i| format!("\"k{i}\":\"v\"")).collect();
    let too_much_meta = format!(
        r#"{{"v":1,"type":"hello","incarnation":0,"record":{}}}"#,
        rec("x", &format!(r#","metadata":{{{}}}"#, meta.join(",")))
    )
    .into_bytes();
    vec![
        ("oversized frame", vec![b' '; MAX_MESSAGE_BYTES + 1], |e| {
            matches!(e, WireError::TooLarge { .. })
        }),
        (
            "a million peers in one announcement",
            {
                let mut s =
                    String::from(r#"{"type":"gossip_announcement","timestamp":1.0,"peers":["#);
                for i in 0..1_000_000 {
                    if i > 0 {
                        s.push(',');
                    }
                    s.push_str(r#"{"node_id":"p"}"#);
                }
                s.push_str("]}");
                s.into_bytes()
            },
            |e| matches!(e, WireError::TooLarge { .. }),
        ),
        (
            "1025 peers (within the byte limit)",
            many_peers(1025),
            |e| matches!(e, WireError::TooMany { what: "peers", .. }),
        ),
        ("16385 states", too_many_states, |e| {
            matches!(e, WireError::TooMany { what: "states", .. })
        }),
        ("1025 requested ids", too_many_ids, |e| {
            matches!(
                e,
                WireError::TooMany {
                    what: "node_ids",
                    ..
                }
            )
        }),
        ("empty frame", b"".to_vec(), |e| {
            matches!(e, WireError::NotJson(_))
        }),
        (
            "truncated JSON",
            br#"{"v":1,"type":"ping","seq":7,"tar"#.to_vec(),
            |e| matches!(e, WireError::NotJson(_)),
        ),
        (
            "not UTF-8",
            b"{\"v\":1,\"type\":\"ping\xff\"}".to_vec(),
            |e| matches!(e, WireError::NotJson(_)),
        ),
        (
            "trailing garbage",
            br#"{"v":1,"type":"ack","seq":1,"node_id":"a"} x"#.to_vec(),
            |e| matches!(e, WireError::NotJson(_)),
        ),
        ("nesting bomb", deep, |e| matches!(e, WireError::NotJson(_))),
        (
            "number out of range",
            br#"{"v":1,"type":"ping","seq":1e400,"target":"b"}"#.to_vec(),
            |e| matches!(e, WireError::NotJson(_)),
        ),
        ("JSON array", b"[1,2,3]".to_vec(), |e| {
            matches!(e, WireError::NotAnObject)
        }),
        ("JSON string", br#""ping""#.to_vec(), |e| {
            matches!(e, WireError::NotAnObject)
        }),
        ("no type", br#"{"v":1,"seq":7}"#.to_vec(), |e| {
            matches!(e, WireError::MissingType)
        }),
        ("type not a string", br#"{"v":1,"type":7}"#.to_vec(), |e| {
            matches!(e, WireError::MissingType)
        }),
        (
            "unknown type",
            br#"{"v":1,"type":"steal_keys"}"#.to_vec(),
            |e| matches!(e, WireError::UnknownType(t) if t == "steal_keys"),
        ),
        (
            "no version",
            br#"{"type":"ping","seq":7,"target":"b"}"#.to_vec(),
            |e| matches!(e, WireError::MissingVersion("ping")),
        ),
        (
            "unknown version",
            br#"{"v":2,"type":"ping","seq":7,"target":"b"}"#.to_vec(),
            |e| matches!(e, WireError::UnsupportedVersion { found: 2, .. }),
        ),
        (
            "version as text",
            br#"{"v":"1","type":"ping","seq":7,"target":"b"}"#.to_vec(),
            |e| matches!(e, WireError::Invalid { kind: "ping", .. }),
        ),
        (
            "negative version",
            br#"{"v":-1,"type":"ping","seq":7,"target":"b"}"#.to_vec(),
            |e| matches!(e, WireError::Invalid { kind: "ping", .. }),
        ),
        (
            "wrong field type",
            br#"{"v":1,"type":"ping","seq":"7","target":"b"}"#.to_vec(),
            |e| matches!(e, WireError::Invalid { kind: "ping", .. }),
        ),
        (
            "negative sequence number",
            br#"{"v":1,"type":"ping","seq":-7,"target":"b"}"#.to_vec(),
            |e| matches!(e, WireError::Invalid { kind: "ping", .. }),
        ),
        (
            "unknown field",
            br#"{"v":1,"type":"ping","seq":7,"target":"b","admin":true}"#.to_vec(),
            |e| matches!(e, WireError::Invalid { kind: "ping", .. }),
        ),
        (
            "missing field",
            br#"{"v":1,"type":"ping","seq":7}"#.to_vec(),
            |e| matches!(e, WireError::Invalid { kind: "ping", .. }),
        ),
        (
            "bad node id",
            br#"{"v":1,"type":"ping","seq":7,"target":"a b/../c"}"#.to_vec(),
            |e| matches!(e, WireError::Invalid { kind: "ping", .. }),
        ),
        (
            "empty node id",
            br#"{"v":1,"type":"dead","node_id":"","incarnation":1}"#.to_vec(),
            |e| matches!(e, WireError::Invalid { kind: "dead", .. }),
        ),
        (
            "bad liveness in a state",
            br#"{"v":1,"type":"peer_list","states":[["a",0,"zombie",0]]}"#.to_vec(),
            |e| {
                matches!(
                    e,
                    WireError::Invalid {
                        kind: "peer_list",
                        ..
                    }
                )
            },
        ),
        (
            "record with a non-ws address",
            format!(
                r#"{{"v":1,"type":"hello","incarnation":0,"record":{}}}"#,
                rec("x", "").replace("ws://", "http://")
            )
            .into_bytes(),
            |e| matches!(e, WireError::Invalid { kind: "hello", .. }),
        ),
        ("record with too much metadata", too_much_meta, |e| {
            matches!(e, WireError::Invalid { kind: "hello", .. })
        }),
        (
            "record with an unknown field",
            format!(
                r#"{{"v":1,"type":"hello","incarnation":0,"record":{}}}"#,
                rec("x", r#","trusted":true"#)
            )
            .into_bytes(),
            |e| matches!(e, WireError::Invalid { kind: "hello", .. }),
        ),
        (
            "record with an oversized key",
            format!(
                r#"{{"v":1,"type":"hello","incarnation":0,"record":{}}}"#,
                rec("x", &format!(r#","public_key":"{}""#, "k".repeat(300)))
            )
            .into_bytes(),
            |e| matches!(e, WireError::Invalid { kind: "hello", .. }),
        ),
    ]
}

#[test]
fn wire_bad_input_table() {
    let cases = wire_cases();
    assert!(cases.len() >= 20);
    for (name, bytes, expected) in cases {
        let reg = known_registry();
        let before = contents(&reg);
        match feed_wire(&reg, &bytes) {
            Err(Refused::Wire(e)) => assert!(expected(&e), "{name}: unexpected error {e:?}"),
            other => panic!("{name}: expected a wire error, got {other:?}"),
        }
        assert_eq!(contents(&reg), before, "{name}: the registry changed");
    }
}

#[test]
fn a_valid_frame_passes_the_same_pipeline() {
    // The control: the pipeline does accept good input.
    let reg = known_registry();
    let hello = format!(
        r#"{{"v":1,"type":"hello","incarnation":0,"record":{}}}"#,
        rec("fresh", "")
    );
    assert_eq!(feed_wire(&reg, hello.as_bytes()).unwrap(), 1);
    assert!(reg.contains("fresh"));
}

#[test]
fn an_older_record_on_the_wire_does_not_replace_a_newer_one() {
    let reg = known_registry();
    let mut newer = PeerRecord::from_json(&rec("known", "")).unwrap();
    newer.version = 5;
    reg.upsert(newer).unwrap();
    let before = contents(&reg);
    for v in [0, 1, 5] {
        let old = format!(
            r#"{{"v":1,"type":"hello","incarnation":0,"record":{}}}"#,
            rec("known", r#","metadata":{"evil":"1"}"#)
                .replace(r#""version":1"#, &format!(r#""version":{v}"#))
        );
        assert_eq!(feed_wire(&reg, old.as_bytes()).unwrap(), 0);
        assert_eq!(contents(&reg), before, "version {v}");
    }
}

fn signed_record(id: &Identity, version: u64) -> SignedRecord {
    let mut r = PeerRecord::new(id.node_id());
    r.version = version;
    r.addresses
        .push(PeerAddress::new("ws://10.0.0.7:8000").unwrap());
    sign(id, r)
}

#[test]
fn signed_record_bad_input_table() {
    let owner = Identity::generate();
    let other = Identity::generate();
    let good = signed_record(&owner, 4);
    // Forgeries are made from a genuine *newer* record, so they pass the
    // version check and meet the signature check.
    let newer = signed_record(&owner, 5);
    let tamper = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v: serde_json::Value = serde_json::from_str(&newer.to_json()).unwrap();
        f(&mut v);
        v.to_string()
    };
    let claiming = {
        let mut s = signed_record(&other, 9);
        s.record.node_id = owner.node_id();
        s.to_json()
    };
    type Case = (&'static str, String, fn(&VerifyError) -> bool);
    let cases: Vec<Case> = vec![
        (
            "forged signature",
            tamper(&|v| v["signature"] = "ab".repeat(64).into()),
            |e| matches!(e, VerifyError::BadSignature { .. }),
        ),
        (
            "signature by another key",
            {
                let mut s = newer.clone();
                s.signature = signed_record(&other, 5).signature;
                s.to_json()
            },
            |e| matches!(e, VerifyError::BadSignature { .. }),
        ),
        (
            "relay changed the address",
            tamper(&|v| v["record"]["addresses"][0] = "ws://6.6.6.6:1".into()),
            |e| matches!(e, VerifyError::BadSignature { .. }),
        ),
        (
            "relay raised the version",
            tamper(&|v| v["record"]["version"] = 99.into()),
            |e| matches!(e, VerifyError::BadSignature { .. }),
        ),
        (
            "replayed older record",
            signed_record(&owner, 2).to_json(),
            |e| e.is_stale(),
        ),
        ("replayed same record", good.to_json(), |e| e.is_stale()),
        ("record claiming another node's id", claiming, |e| {
            matches!(e, VerifyError::NodeIdMismatch { .. })
        }),
        (
            "no public key",
            tamper(&|v| v["record"]["public_key"] = serde_json::Value::Null),
            |e| matches!(e, VerifyError::MissingPublicKey { .. }),
        ),
        (
            "malformed public key",
            tamper(&|v| v["record"]["public_key"] = "ed25519:zz".into()),
            |e| matches!(e, VerifyError::MalformedPublicKey { .. }),
        ),
        (
            "truncated signature",
            tamper(&|v| v["signature"] = "abcd".into()),
            |e| matches!(e, VerifyError::MalformedSignature { .. }),
        ),
        (
            "unknown field",
            tamper(&|v| v["trusted"] = true.into()),
            |e| matches!(e, VerifyError::InvalidRecord(_)),
        ),
        ("not JSON", "{\"record\":".to_string(), |e| {
            matches!(e, VerifyError::InvalidRecord(_))
        }),
    ];
    for (name, json, expected) in cases {
        let reg = PeerRegistry::new();
        let mut gate = RecordGate::new();
        // The genuine version 4 is already known.
        feed_signed(&reg, &mut gate, &good.to_json()).unwrap();
        let before = contents(&reg);
        match feed_signed(&reg, &mut gate, &json) {
            Err(Refused::Verify(e)) => assert!(expected(&e), "{name}: unexpected error {e:?}"),
            other => panic!("{name}: expected a verify error, got {other:?}"),
        }
        assert_eq!(contents(&reg), before, "{name}: the registry changed");
        assert_eq!(gate.get(owner.node_id().as_str()), Some(&good), "{name}");
    }
    // And a genuine newer record is taken.
    let reg = PeerRegistry::new();
    let mut gate = RecordGate::new();
    feed_signed(&reg, &mut gate, &good.to_json()).unwrap();
    feed_signed(&reg, &mut gate, &signed_record(&owner, 5).to_json()).unwrap();
    assert_eq!(reg.get(owner.node_id().as_str()).unwrap().version(), 5);
}

#[test]
fn fuzz_seed_corpus_is_valid() {
    // The seeds of `fuzz/` are valid messages, so the fuzzer starts deep.
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/seeds/wire");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        wire::decode(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        n += 1;
    }
    assert!(n >= 13);
}

// ----- stable versions of the fuzz targets --------------------------------

fn seed_messages() -> Vec<Vec<u8>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/seeds/wire");
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    v.sort();
    v
}

fn check_decode(data: &[u8]) {
    if let Ok(msg) = wire::decode(data) {
        let text = wire::encode(&msg);
        assert_eq!(text.len(), wire::encoded_len(&msg));
        assert_eq!(wire::decode(text.as_bytes()).unwrap(), msg);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// `fuzz_targets/wire_decode.rs` on random bytes.
    #[test]
    fn prop_wire_decode_never_panics(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        check_decode(&data);
    }

    /// ... and on mutated valid messages (byte flips, cuts, splices).
    #[test]
    fn prop_wire_decode_mutated_seeds(
        seed in 0usize..13,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
        cut in any::<usize>(),
    ) {
        let seeds = seed_messages();
        let mut data = seeds[seed % seeds.len()].clone();
        for (pos, b) in edits {
            let i = pos % data.len();
            data[i] = b;
        }
        data.truncate(cut % (data.len() + 1) + data.len() / 2);
        check_decode(&data);
    }

    /// `fuzz_targets/core_sequence.rs`: a sequence of (sender, message,
    /// time advance) and ticks, messages drawn from mutated seeds.
    #[test]
    fn prop_core_sequence_never_panics(
        steps in proptest::collection::vec(
            (0u8..6, 0usize..13, proptest::collection::vec((any::<usize>(), any::<u8>()), 0..3), 0u16..5000),
            1..40,
        ),
    ) {
        let seeds = seed_messages();
        let me = NodeId::new("fuzz-me").unwrap();
        let mut record = PeerRecord::new(me.clone());
        record.addresses.push(PeerAddress::new("ws://127.0.0.1:9000").unwrap());
        let mut core = Membership::new(record, MembershipConfig::default(), 7).unwrap();
        let senders: Vec<NodeId> = ["node-a", "node-b", "node-c", "node-d", "fuzz-me"]
            .iter()
            .map(|s| NodeId::new(*s).unwrap())
            .collect();
        let mut now = 1_000u64;
        for (op, seed, edits, advance) in steps {
            now += u64::from(advance);
            if op == 5 {
                core.handle_tick(now);
            } else {
                let mut data = seeds[seed % seeds.len()].clone();
                for (pos, b) in edits {
                    let i = pos % data.len();
                    data[i] = b;
                }
                let _ = core.handle_bytes(&senders[usize::from(op)], &data, now);
            }
            while core.poll_output().is_some() {}
        }
    }
}

// ----- the cluster key in front of the decoder ----------------------------

/// A frame through the cluster-key check (sealed for a keyed node, plain
/// for an unkeyed one), then the decoder, then the registry.
fn feed_frame(
    reg: &PeerRegistry,
    ring: Option<&Keyring>,
    frame: &str,
) -> Result<usize, KeyringError> {
    let plain = match ring {
        Some(r) => r.open(frame)?,
        None => {
            check_plaintext(frame)?;
            frame.to_string()
        }
    };
    Ok(feed_wire(reg, plain.as_bytes()).unwrap_or(0))
}

#[test]
fn cluster_key_bad_input_table() {
    let ours = Keyring::new(vec![[1; 32]]).unwrap();
    let theirs = Keyring::new(vec![[2; 32]]).unwrap();
    let hello = format!(
        r#"{{"v":1,"type":"hello","incarnation":0,"record":{}}}"#,
        rec("intruder", "")
    );
    let sealed = ours.seal(&hello);
    let v: serde_json::Value = serde_json::from_str(&sealed).unwrap();
    let c = v["c"].as_str().unwrap();
    let flipped = format!("{}{}", if c.starts_with('A') { "B" } else { "A" }, &c[1..]);
    type Case<'a> = (&'a str, Option<&'a Keyring>, String, KeyringError);
    let cases: Vec<Case> = vec![
        (
            "plaintext to a keyed node",
            Some(&ours),
            hello.clone(),
            KeyringError::PlaintextRefused,
        ),
        (
            "sealed to a plaintext node",
            None,
            sealed.clone(),
            KeyringError::SealedRefused,
        ),
        (
            "sealed with another cluster's key",
            Some(&ours),
            theirs.seal(&hello),
            KeyringError::UnknownKey {
                key_id: theirs.primary_key_id().to_string(),
            },
        ),
        (
            "tampered ciphertext",
            Some(&ours),
            sealed.replace(c, &flipped),
            KeyringError::Tampered,
        ),
        (
            "unknown sealed version",
            Some(&ours),
            sealed.replacen(r#""v":1"#, r#""v":7"#, 1),
            KeyringError::UnsupportedVersion(7),
        ),
    ];
    for (name, ring, frame, expected) in cases {
        let reg = known_registry();
        let before = contents(&reg);
        assert_eq!(
            feed_frame(&reg, ring, &frame).unwrap_err(),
            expected,
            "{name}"
        );
        assert_eq!(contents(&reg), before, "{name}: the registry changed");
    }
    // Controls: the right key, and plaintext between plaintext nodes.
    let reg = known_registry();
    assert_eq!(feed_frame(&reg, Some(&ours), &sealed).unwrap(), 1);
    let reg = known_registry();
    assert_eq!(feed_frame(&reg, None, &hello).unwrap(), 1);
}

proptest! {
    // Each case signs and verifies a few dozen claims (slow in a debug
    // build): fewer cases than the other targets.
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// `fuzz_targets/signed_liveness.rs`: claims signed by the right key,
    /// another or none, at any incarnation; the core believes only what the
    /// keys signed.
    #[test]
    fn prop_signed_liveness_believes_only_signed_words(
        data in proptest::collection::vec(any::<u8>(), 0..330),
    ) {
        signed_liveness_ops::run(&data);
    }
}
