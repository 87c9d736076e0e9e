//! Every JSON input outside the C ABI refuses a struct given as an array
//! (which serde's derive accepts), at the top and nested: the wire decoder,
//! snapshots, the model's `from_json`, and the CLI's `--config` / `--set`
//! (issue 17). The ABI's own entry points are covered by tests/ffi_contract.rs.

use std::process::Command;

use peerdisc::persist::{decode_snapshot, SNAPSHOT_FORMAT};
use peerdisc::wire::decode_str;
use peerdisc::{Peer, PeerRecord};

/// A record as an array of its fields (node_id first, the rest defaulted).
const RECORD_AS_ARRAY: &str = r#"["a"]"#;
/// A peer as an array (format, node_id).
const PEER_AS_ARRAY: &str = r#"[1, "a"]"#;

#[test]
fn plain_serde_would_take_the_arrays() {
    // What the strict decoders guard against: without them these pass.
    let r: PeerRecord = serde_json::from_str(RECORD_AS_ARRAY).unwrap();
    assert_eq!(r.node_id.as_str(), "a");
    let p: Peer = serde_json::from_str(PEER_AS_ARRAY).unwrap();
    assert_eq!(p.node_id().as_str(), "a");
}

#[test]
fn model_from_json_takes_objects_only() {
    assert!(PeerRecord::from_json(r#"{"node_id": "a"}"#).is_ok());
    assert!(Peer::from_json(r#"{"node_id": "a"}"#).is_ok());
    for bad in [RECORD_AS_ARRAY, PEER_AS_ARRAY, "null", "5", "\"a\""] {
        assert!(PeerRecord::from_json(bad).is_err(), "{bad}");
        assert!(Peer::from_json(bad).is_err(), "{bad}");
    }
    // Nested: capabilities and a capability entry.
    for bad in [
        r#"{"node_id": "a", "capabilities": [[], ["t"]]}"#,
        r#"{"node_id": "a", "capabilities": {"tools": [["t", null]]}}"#,
    ] {
        assert!(PeerRecord::from_json(bad).is_err(), "{bad}");
    }
    let ok = r#"{"node_id": "a", "capabilities": {"tools": ["t", {"name": "u", "metadata": {"k": "v"}}]}}"#;
    let r = PeerRecord::from_json(ok).unwrap();
    assert_eq!(r.capabilities.tools.len(), 2);
}

#[test]
fn the_wire_decoder_refuses_nested_arrays_for_records() {
    let ok = r#"{"v": 1, "type": "peer_list", "peers": [{"node_id": "a"}]}"#;
    decode_str(ok).unwrap();
    let nested = format!(r#"{{"v": 1, "type": "peer_list", "peers": [{RECORD_AS_ARRAY}]}}"#);
    let e = decode_str(&nested).unwrap_err();
    assert!(e.to_string().contains("sequence"), "{e}");
    let hello =
        format!(r#"{{"v": 1, "type": "hello", "record": {RECORD_AS_ARRAY}, "incarnation": 0}}"#);
    assert!(decode_str(&hello).is_err());
    // A gossip announcement's peer (record or seed dict): objects only.
    let ann = r#"{"type": "gossip_announcement", "timestamp": 1.0, "peers": [["a"]]}"#;
    assert!(decode_str(ann).is_err());
    let ann_ok =
        r#"{"type": "gossip_announcement", "timestamp": 1.0, "peers": [{"node_id": "a"}]}"#;
    decode_str(ann_ok).unwrap();
    for top in ["[1, \"ping\"]", "null", "5"] {
        assert!(decode_str(top).is_err(), "{top}");
    }
}

#[test]
fn snapshots_refuse_arrays_at_every_depth() {
    let ok = format!(
        r#"{{"format": {SNAPSHOT_FORMAT}, "saved_at_ms": 0, "peers": [{{"node_id": "a"}}]}}"#
    );
    assert_eq!(decode_snapshot(ok.as_bytes()).unwrap().len(), 1);
    let nested =
        format!(r#"{{"format": {SNAPSHOT_FORMAT}, "saved_at_ms": 0, "peers": [{PEER_AS_ARRAY}]}}"#);
    let e = decode_snapshot(nested.as_bytes()).unwrap_err();
    assert!(e.to_string().contains("sequence"), "{e}");
    let top = format!(r#"[{SNAPSHOT_FORMAT}, 0, []]"#);
    assert!(decode_snapshot(top.as_bytes()).is_err());
    assert!(decode_snapshot(b"null").is_err());
}

fn cli(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_peerdisc"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn cli_config_and_set_refuse_arrays() {
    let dir = std::env::temp_dir().join(format!("peerdisc-strict-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("config.json");
    let path = file.to_str().unwrap();
    for (text, good) in [
        (r#"{"registry": {"capacity": 5}}"#, true),
        ("[]", false),
        ("null", false),
        (r#"{"registry": [5]}"#, false),
        (r#"{"membership": []}"#, false),
    ] {
        std::fs::write(&file, text).unwrap();
        let out = cli(&["node", "--config", path, "--print-config"]);
        if good {
            assert!(out.status.success(), "{text}: {out:?}");
            let cfg: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(cfg["registry"]["capacity"], 5);
        } else {
            assert_eq!(out.status.code(), Some(3), "{text}: {out:?}");
        }
    }
    let out = cli(&["node", "--set", "registry=[5]", "--print-config"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let out = cli(&[
        "node",
        "--set",
        "registry={\"capacity\": 5}",
        "--print-config",
    ]);
    assert!(out.status.success(), "{out:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
