//! Registry snapshots: round trip, atomic save, corrupt files set aside,
//! restore, periodic saving.

use std::fs;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use peerdisc::persist::{
    decode_snapshot, load_or_set_aside, load_snapshot, restore, save_snapshot, PersistError,
    Snapshotter,
};
use peerdisc::{ConnectionState, Liveness, NodeId, Peer, PeerRegistry, RegistryConfig};

fn peer(i: usize) -> Peer {
    Peer::builder(format!("node-{i:05}"))
        .address(format!("ws://10.0.{}.{}:8000", i / 250, i % 250 + 1))
        .agent("planner")
        .tool(format!("tool-{}", i % 17))
        .build()
        .unwrap()
}

fn registry_with(n: usize) -> PeerRegistry {
    let reg = PeerRegistry::with_config(RegistryConfig {
        capacity: 100_000,
        ..RegistryConfig::default()
    })
    .unwrap();
    for i in 0..n {
        reg.add(peer(i)).unwrap();
    }
    reg
}

#[test]
fn round_trip_of_1000_peers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("peers.json");
    let reg = registry_with(1000);
    reg.mark_suspect("node-00003").unwrap();
    reg.set_connection_state("node-00004", ConnectionState::Connected)
        .unwrap();
    assert_eq!(save_snapshot(&reg, &path).unwrap(), 1000);
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.starts_with(r#"{"format":1,"saved_at_ms":"#));
    let mut loaded = load_snapshot(&path).unwrap();
    assert_eq!(loaded.len(), 1000);
    loaded.sort_by(|a, b| a.node_id().cmp(b.node_id()));
    for p in &loaded {
        assert_eq!(*reg.get(p.node_id().as_str()).unwrap(), *p);
    }
    // Only the snapshot is left in the directory (no temporary file).
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);

    // A restarted node gets them back, disconnected, without bootstrap.
    let fresh = registry_with(0);
    let me = NodeId::new("node-00000").unwrap();
    assert_eq!(restore(&fresh, loaded, Some(&me)), 999);
    assert!(!fresh.contains("node-00000"));
    let p4 = fresh.get("node-00004").unwrap();
    assert_eq!(p4.connection_state, ConnectionState::Disconnected);
    assert_eq!(fresh.get("node-00003").unwrap().liveness, Liveness::Suspect);
    assert_eq!(
        fresh.find_by_tool("tool-3").len(),
        reg.find_by_tool("tool-3").len()
    );
}

#[test]
fn saving_replaces_the_previous_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("peers.json");
    save_snapshot(&registry_with(5), &path).unwrap();
    save_snapshot(&registry_with(2), &path).unwrap();
    assert_eq!(load_snapshot(&path).unwrap().len(), 2);
    save_snapshot(&registry_with(0), &path).unwrap();
    assert!(load_snapshot(&path).unwrap().is_empty());
}

#[test]
fn missing_snapshot_is_a_quiet_empty_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("peers.json");
    assert!(load_snapshot(&path).unwrap_err().is_not_found());
    let (peers, warning) = load_or_set_aside(&path);
    assert!(peers.is_empty() && warning.is_none());
}

#[test]
fn corrupt_or_truncated_snapshots_are_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let good_path = dir.path().join("good.json");
    save_snapshot(&registry_with(20), &good_path).unwrap();
    let good = fs::read(&good_path).unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", good[..good.len() / 2].to_vec()),
        ("truncated to nothing", Vec::new()),
        ("garbage", b"\x00\xffnot a snapshot at all".to_vec()),
        (
            "wrong version",
            String::from_utf8(good.clone())
                .unwrap()
                .replacen(r#""format":1"#, r#""format":9"#, 1)
                .into_bytes(),
        ),
        (
            "unknown field",
            String::from_utf8(good.clone())
                .unwrap()
                .replacen('{', r#"{"extra":true,"#, 1)
                .into_bytes(),
        ),
        ("not an object", b"[1,2,3]".to_vec()),
        (
            "bad peer",
            br#"{"format":1,"saved_at_ms":1,"peers":[{"node_id":"bad id!"}]}"#.to_vec(),
        ),
        (
            "duplicate",
            br#"{"format":1,"saved_at_ms":1,"peers":[{"node_id":"a"},{"node_id":"a"}]}"#.to_vec(),
        ),
    ];
    for (name, bytes) in cases {
        let path = dir.path().join(format!("{}.json", name.replace(' ', "_")));
        fs::write(&path, &bytes).unwrap();
        let direct = load_snapshot(&path).unwrap_err();
        match name {
            "wrong version" => assert!(
                matches!(
                    direct,
                    PersistError::UnsupportedFormat {
                        found: 9,
                        supported: 1
                    }
                ),
                "{direct}"
            ),
            "duplicate" => assert!(matches!(direct, PersistError::DuplicatePeer(_)), "{direct}"),
            _ => assert!(
                matches!(direct, PersistError::Corrupt(_)),
                "{name}: {direct}"
            ),
        }
        let (peers, warning) = load_or_set_aside(&path);
        assert!(peers.is_empty(), "{name}");
        let warning = warning.expect("a warning");
        let moved = warning.moved_to.clone().expect("moved aside");
        assert!(!path.exists(), "{name}: the bad file is moved away");
        assert_eq!(fs::read(&moved).unwrap(), bytes, "{name}: kept intact");
        assert!(moved
            .file_name()
            .unwrap()
            .to_string_lossy()
            .contains(".json.corrupt-"));
        let text = warning.to_string();
        assert!(
            text.contains("could not be loaded") && text.contains("set aside"),
            "{text}"
        );
        // The node starts anyway, and the next save works.
        save_snapshot(&registry_with(1), &path).unwrap();
        assert_eq!(load_or_set_aside(&path).0.len(), 1);
    }
}

#[test]
fn decode_is_strict_and_accepts_the_documented_form() {
    let ok = br#"{"format":1,"saved_at_ms":1764000000000,"peers":[{"format":1,"node_id":"node-a","addresses":["ws://10.0.0.5:8000"]}]}"#;
    let peers = decode_snapshot(ok).unwrap();
    assert_eq!(peers[0].node_id().as_str(), "node-a");
    assert!(decode_snapshot(br#"{"format":1,"peers":[]}"#).is_err());
    assert!(decode_snapshot(br#"{"format":"1","saved_at_ms":0,"peers":[]}"#).is_err());
    assert!(decode_snapshot(br#"{"format":1,"saved_at_ms":0,"peers":[]} trailing"#).is_err());
}

#[test]
fn concurrent_saves_while_another_thread_upserts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("peers.json");
    let reg = registry_with(200);
    let stop = Arc::new(AtomicBool::new(false));
    std::thread::scope(|s| {
        let writer = {
            let reg = reg.clone();
            let stop = stop.clone();
            s.spawn(move || {
                let mut i = 200;
                while !stop.load(Ordering::Relaxed) {
                    let mut rec = peer(i % 400).record;
                    rec.version = (i / 400) as u64 + 1;
                    let _ = reg.upsert(rec);
                    let _ = reg.remove(&format!("node-{:05}", (i * 7) % 400));
                    i += 1;
                }
            })
        };
        let savers: Vec<_> = (0..2)
            .map(|_| {
                let (reg, path) = (reg.clone(), path.clone());
                s.spawn(move || {
                    for _ in 0..15 {
                        save_snapshot(&reg, &path).unwrap();
                        // Every snapshot seen is complete and valid.
                        let peers = load_snapshot(&path).unwrap();
                        assert!(peers.len() <= 400);
                    }
                })
            })
            .collect();
        for h in savers {
            h.join().unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        writer.join().unwrap();
    });
    let n = save_snapshot(&reg, &path).unwrap();
    assert_eq!(load_snapshot(&path).unwrap().len(), n);
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn snapshotter_saves_periodically_and_on_stop() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("peers.json");
    let reg = registry_with(3);
    let snap = Snapshotter::start(reg.clone(), &path, Duration::from_millis(20)).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !path.exists() {
        assert!(std::time::Instant::now() < deadline, "no periodic save");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(load_snapshot(&path).unwrap().len(), 3);
    reg.add(peer(77)).unwrap();
    assert_eq!(snap.stop().unwrap(), 4);
    assert_eq!(load_snapshot(&path).unwrap().len(), 4);

    // Dropping also saves a last time.
    let path2 = dir.path().join("peers2.json");
    let snap = Snapshotter::start(reg.clone(), &path2, Duration::from_secs(3600)).unwrap();
    drop(snap);
    assert_eq!(load_snapshot(&path2).unwrap().len(), 4);
}

#[test]
fn save_into_a_missing_directory_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = save_snapshot(&registry_with(1), dir.path().join("nope/peers.json")).unwrap_err();
    assert!(matches!(err, PersistError::Io { .. }), "{err}");
}

/// The `snapshot_load` fuzz target's seeds are valid snapshots.
/// `PEERDISC_WRITE_FUZZ_SEEDS=1` writes them anew.
#[test]
fn fuzz_seeds_load() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/snapshot_load");
    if std::env::var_os("PEERDISC_WRITE_FUZZ_SEEDS").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        let reg = registry_with(3);
        reg.mark_dead("node-00001").unwrap();
        save_snapshot(&reg, dir.join("three.json")).unwrap();
        save_snapshot(&registry_with(0), dir.join("empty.json")).unwrap();
    }
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        load_snapshot(e.unwrap().path()).unwrap();
        n += 1;
    }
    assert!(n >= 2);
}

#[test]
fn an_unreadable_snapshot_is_left_in_place() {
    let dir = tempfile::tempdir().unwrap();
    // A directory where the file should be: reading fails with an I/O error.
    let path = dir.path().join("peers.json");
    fs::create_dir(&path).unwrap();
    let (peers, warning) = load_or_set_aside(&path);
    assert!(peers.is_empty());
    let warning = warning.expect("a warning");
    assert!(warning.moved_to.is_none());
    assert!(path.is_dir());
    assert!(warning.to_string().contains("left in place"), "{warning}");
}

#[test]
fn rejoin_addresses_prefer_present_healthy_recent_peers() {
    use peerdisc::persist::rejoin_addresses;
    let reg = registry_with(5);
    reg.mark_dead("node-00000").unwrap();
    reg.record_failure("node-00001").unwrap();
    reg.record_success("node-00002").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("peers.json");
    save_snapshot(&reg, &path).unwrap();
    let peers = load_snapshot(&path).unwrap();
    let addrs: Vec<String> = rejoin_addresses(&peers, 10)
        .iter()
        .map(|a| a.as_str().to_string())
        .collect();
    assert_eq!(addrs.len(), 5);
    assert_eq!(addrs[0], "ws://10.0.0.3:8000"); // node-00002: most successes
    assert_eq!(addrs[4], "ws://10.0.0.1:8000"); // node-00000: dead, last
    assert_eq!(rejoin_addresses(&peers, 2).len(), 2);
    assert!(rejoin_addresses(&[], 2).is_empty());
}
