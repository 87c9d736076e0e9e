//! Signed peer records: sign, verify, tampering, wrong keys, replays.

use peerdisc::identity::{
    canonical_bytes, sign, verify, GateOutcome, Identity, RecordGate, SignedRecord, VerifyError,
};
use peerdisc::{Capability, CapabilityKind, NodeId, PeerAddress, PeerRecord};

fn record(id: &Identity, version: u64) -> PeerRecord {
    let mut r = PeerRecord::new(id.node_id());
    r.version = version;
    r.addresses
        .push(PeerAddress::new("ws://10.0.0.5:8000").unwrap());
    r.capabilities
        .of_mut(CapabilityKind::Tool)
        .push(Capability::new("search"));
    r.metadata.insert("zone".into(), "eu-1".into());
    r.metadata.insert("arch".into(), "x86_64".into());
    r
}

#[test]
fn signed_record_verifies_and_round_trips_through_json() {
    let me = Identity::generate();
    let signed = sign(&me, record(&me, 3));
    assert_eq!(
        signed.record.public_key.as_deref(),
        Some(me.public_key_text().as_str())
    );
    assert_eq!(verify(&signed).unwrap().version, 3);
    let json = signed.to_json();
    let back = SignedRecord::from_json(&json).unwrap();
    assert_eq!(back, signed);
    assert!(verify(&back).is_ok());
    // Canonical bytes are stable across a decode/encode round trip.
    assert_eq!(
        canonical_bytes(&back.record),
        canonical_bytes(&signed.record)
    );
    assert!(canonical_bytes(&signed.record).starts_with(b"peerdisc-record-v1\n"));
}

#[test]
fn sign_stamps_the_identity_over_a_foreign_node_id() {
    let me = Identity::generate();
    let r = PeerRecord::new(NodeId::new("someone-else").unwrap());
    let signed = sign(&me, r);
    assert_eq!(signed.record.node_id, me.node_id());
    assert!(verify(&signed).is_ok());
}

#[test]
fn a_relay_cannot_change_any_field() {
    let me = Identity::generate();
    let signed = sign(&me, record(&me, 3));
    type Edit = Box<dyn Fn(&mut PeerRecord)>;
    let edits: Vec<(&str, Edit)> = vec![
        ("version", Box::new(|r| r.version += 1)),
        (
            "address",
            Box::new(|r| r.addresses[0] = PeerAddress::new("ws://6.6.6.6:1").unwrap()),
        ),
        (
            "extra address",
            Box::new(|r| {
                r.addresses
                    .push(PeerAddress::new("ws://6.6.6.6:1").unwrap())
            }),
        ),
        (
            "capability",
            Box::new(|r| {
                r.capabilities
                    .of_mut(CapabilityKind::Agent)
                    .push(Capability::new("evil"))
            }),
        ),
        (
            "metadata",
            Box::new(|r| {
                r.metadata.insert("zone".into(), "us-1".into());
            }),
        ),
        (
            "metadata removed",
            Box::new(|r| {
                r.metadata.remove("arch");
            }),
        ),
    ];
    for (name, edit) in edits {
        let mut forged = signed.clone();
        edit(&mut forged.record);
        assert!(
            matches!(verify(&forged), Err(VerifyError::BadSignature { .. })),
            "{name}: {:?}",
            verify(&forged)
        );
    }
    // A flipped signature bit fails too.
    let mut forged = signed.clone();
    let c = if forged.signature.starts_with('0') {
        "1"
    } else {
        "0"
    };
    forged.signature.replace_range(0..1, c);
    assert!(matches!(
        verify(&forged),
        Err(VerifyError::BadSignature { .. })
    ));
}

#[test]
fn a_record_claiming_another_nodes_id_is_rejected() {
    let victim = Identity::generate();
    let attacker = Identity::generate();
    // The attacker signs a record with the victim's id but its own key.
    let mut forged = sign(&attacker, record(&attacker, 9));
    forged.record.node_id = victim.node_id();
    assert!(matches!(
        verify(&forged),
        Err(VerifyError::NodeIdMismatch { .. })
    ));
    // Or puts the victim's public key in: the signature then fails.
    let mut forged = sign(&attacker, record(&attacker, 9));
    forged.record.node_id = victim.node_id();
    forged.record.public_key = Some(victim.public_key_text().into());
    assert!(matches!(
        verify(&forged),
        Err(VerifyError::BadSignature { .. })
    ));
}

#[test]
fn missing_or_malformed_keys_and_signatures_are_typed_errors() {
    let me = Identity::generate();
    let signed = sign(&me, record(&me, 1));
    let mut s = signed.clone();
    s.record.public_key = None;
    assert!(matches!(
        verify(&s),
        Err(VerifyError::MissingPublicKey { .. })
    ));
    let mut s = signed.clone();
    s.record.public_key = Some("rsa:abcd".into());
    assert!(matches!(
        verify(&s),
        Err(VerifyError::MalformedPublicKey { .. })
    ));
    let mut s = signed.clone();
    s.signature.pop();
    assert!(matches!(
        verify(&s),
        Err(VerifyError::MalformedSignature { .. })
    ));
    let mut s = signed.clone();
    s.signature = s.signature.to_uppercase();
    assert!(matches!(
        verify(&s),
        Err(VerifyError::MalformedSignature { .. })
    ));
    let mut s = signed;
    s.signature = "zz".repeat(64);
    assert!(matches!(
        verify(&s),
        Err(VerifyError::MalformedSignature { .. })
    ));
}

#[test]
fn signed_record_json_is_strict() {
    let me = Identity::generate();
    let json = sign(&me, record(&me, 1)).to_json();
    let extra = json.replacen('{', r#"{"x":1,"#, 1);
    assert!(SignedRecord::from_json(&extra).is_err());
    assert!(SignedRecord::from_json(&json[..json.len() - 1]).is_err());
    assert!(SignedRecord::from_json(r#"{"record":{"node_id":"a"}}"#).is_err());
}

#[test]
fn gate_keeps_the_newest_and_refuses_replays() {
    let me = Identity::generate();
    let mut gate = RecordGate::new();
    let v2 = sign(&me, record(&me, 2));
    assert_eq!(gate.offer(v2.clone()).unwrap(), GateOutcome::Added);
    // Replay and older versions are stale, nothing changes.
    for v in [0, 1, 2] {
        let err = gate.offer(sign(&me, record(&me, v))).unwrap_err();
        assert!(err.is_stale(), "{err}");
        assert_eq!(gate.get(me.node_id().as_str()), Some(&v2));
    }
    let v5 = sign(&me, record(&me, 5));
    assert_eq!(
        gate.offer(v5.clone()).unwrap(),
        GateOutcome::Replaced {
            previous_version: 2
        }
    );
    assert_eq!(gate.version(me.node_id().as_str()), Some(5));
    // A forged newer version is refused and the held one stays.
    let mut forged = sign(&me, record(&me, 6));
    forged.record.metadata.insert("zone".into(), "evil".into());
    assert!(matches!(
        gate.offer(forged),
        Err(VerifyError::BadSignature { .. })
    ));
    assert_eq!(gate.get(me.node_id().as_str()), Some(&v5));
    assert_eq!(gate.len(), 1);
    // Only forgetting it (dead timeout) lets an older version in again.
    assert_eq!(gate.forget(me.node_id().as_str()), Some(v5));
    assert!(gate.is_empty());
    assert_eq!(gate.offer(v2).unwrap(), GateOutcome::Added);
}

#[test]
fn gate_holds_many_nodes_independently() {
    let ids: Vec<Identity> = (0..20).map(|_| Identity::generate()).collect();
    let mut gate = RecordGate::new();
    for (i, id) in ids.iter().enumerate() {
        gate.offer(sign(id, record(id, i as u64 + 1))).unwrap();
    }
    assert_eq!(gate.len(), 20);
    assert_eq!(gate.iter().count(), 20);
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(gate.version(id.node_id().as_str()), Some(i as u64 + 1));
        assert!(gate
            .check(&sign(id, record(id, i as u64 + 1)))
            .unwrap_err()
            .is_stale());
    }
}

#[test]
fn a_record_beyond_the_model_limits_is_refused() {
    let me = Identity::generate();
    let mut signed = sign(&me, record(&me, 1));
    for i in 0..100 {
        signed.record.metadata.insert(format!("k{i}"), "v".into());
    }
    assert!(matches!(
        verify(&signed),
        Err(VerifyError::InvalidRecord(_))
    ));
}

/// The `signed_record_verify` fuzz target's seeds are genuine signed
/// records. `PEERDISC_WRITE_FUZZ_SEEDS=1` writes them anew.
#[test]
fn fuzz_seeds_verify() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/signed_record_verify");
    if std::env::var_os("PEERDISC_WRITE_FUZZ_SEEDS").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        let me = Identity::from_secret_bytes(&[3; 32]);
        std::fs::write(dir.join("full.json"), sign(&me, record(&me, 7)).to_json()).unwrap();
        std::fs::write(
            dir.join("empty.json"),
            sign(&me, PeerRecord::new(me.node_id())).to_json(),
        )
        .unwrap();
    }
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        verify(&SignedRecord::from_json(&text).unwrap()).unwrap();
        n += 1;
    }
    assert!(n >= 2);
}

#[test]
fn new_record_is_stamped_with_the_identity() {
    let me = Identity::generate();
    let mut r = me.new_record();
    assert_eq!(r.node_id, me.node_id());
    assert_eq!(r.public_key.as_deref(), Some(me.public_key_text().as_str()));
    r.version = 1;
    let signed = sign(&me, r.clone());
    assert_eq!(signed.record, r);
    assert!(verify(&signed).is_ok());
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Any valid record survives sign -> JSON -> decode -> verify: the
        /// signed bytes a receiver recomputes are the signer's (unicode,
        /// control characters, escapes, capability metadata included).
        #[test]
        fn signatures_survive_the_json_round_trip(
            meta in proptest::collection::btree_map("\\PC{0,12}|[\\x00-\\x1f\"\\\\/]{0,4}", "\\PC{0,40}|[\\x00-\\x1f\"\\\\/]{0,4}", 0..8),
            tools in proptest::collection::btree_set("[a-z0-9_\\-\u{e9}\u{4e2d}]{1,12}", 0..6),
            version in any::<u64>(),
        ) {
            let me = Identity::from_secret_bytes(&[5; 32]);
            let mut r = me.new_record();
            r.version = version;
            r.metadata = meta;
            for t in tools {
                r.capabilities.of_mut(CapabilityKind::Tool).push(Capability::new(t));
            }
            prop_assume!(r.validate().is_ok());
            let signed = sign(&me, r);
            let back = SignedRecord::from_json(&signed.to_json()).unwrap();
            prop_assert_eq!(&back, &signed);
            prop_assert!(verify(&back).is_ok());
        }
    }
}
