//! The networked node on loopback: convergence, failure detection, restart,
//! bootstrap errors and retries, port conflicts, capability updates, and no
//! thread left behind.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use peerdisc::node::{BootstrapError, Node, NodeError};
use peerdisc::transport::TransportError;
use peerdisc::{Capabilities, Capability, Liveness};

#[path = "support/ws_frames.rs"]
mod ws_frames;
use ws_frames::read_frames;

const BOUND: Duration = Duration::from_secs(20);

fn seed(id: &str) -> Node {
    Node::builder().node_id(id).start().unwrap()
}

fn joiner(id: &str, seed: &Node) -> Node {
    Node::builder()
        .node_id(id)
        .bootstrap(seed.address().as_str())
        .tool(format!("tool-{id}"))
        .start()
        .unwrap()
}

/// Waits (bounded) until `cond` holds; returns whether it did.
fn wait_for(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + BOUND;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Waits (bounded) until `cond` holds; panics with `what` otherwise.
fn eventually(what: &str, cond: impl FnMut() -> bool) {
    if !wait_for(cond) {
        panic!("not within {BOUND:?}: {what}");
    }
}

fn liveness_of(node: &Node, id: &str) -> Option<Liveness> {
    node.registry().get(id).map(|p| p.liveness)
}

fn mesh(n: usize) -> Vec<Node> {
    let first = seed("n00");
    let mut nodes = vec![first];
    for i in 1..n {
        let node = joiner(&format!("n{i:02}"), &nodes[0]);
        nodes.push(node);
    }
    for node in &nodes {
        node.wait_for_peers(n - 1, BOUND).unwrap();
    }
    nodes
}

#[test]
fn twenty_nodes_converge_and_find_capabilities() {
    let nodes = mesh(20);
    for node in &nodes {
        assert_eq!(node.peers().len(), 19, "{} peers", node.node_id());
        // Every other node's tool is found through the index.
        for other in &nodes[1..] {
            if other.node_id() != node.node_id() {
                let tool = format!("tool-{}", other.node_id());
                assert_eq!(
                    node.find_by_tool(&tool).len(),
                    1,
                    "{tool} at {}",
                    node.node_id()
                );
            }
        }
    }
    for n in &nodes {
        n.stop().unwrap();
    }
}

#[test]
fn killed_node_is_detected_and_left_node_is_noticed() {
    let nodes = mesh(6);
    let victim = nodes[3].node_id().to_string();
    nodes[3].abort().unwrap();
    for node in nodes.iter().filter(|n| n.node_id().as_str() != victim) {
        eventually(&format!("{} marks {victim} dead", node.node_id()), || {
            liveness_of(node, &victim) == Some(Liveness::Dead)
        });
    }
    // No survivor was declared dead by anyone.
    for node in nodes.iter().filter(|n| n.is_running()) {
        for p in node.registry().list() {
            if p.node_id().as_str() != victim {
                assert!(
                    p.is_alive(),
                    "{} thinks {} is {}",
                    node.node_id(),
                    p.node_id(),
                    p.liveness
                );
            }
        }
    }
    // A graceful stop is noticed as "left".
    let leaver = nodes[4].node_id().to_string();
    nodes[4].stop().unwrap();
    eventually("others see the leave", || {
        liveness_of(&nodes[0], &leaver) == Some(Liveness::Left)
    });
    for n in &nodes {
        n.stop().unwrap();
    }
}

#[test]
fn restarted_node_rejoins() {
    let nodes = mesh(4);
    let id = nodes[2].node_id().to_string();
    nodes[2].abort().unwrap();
    eventually("the crash is noticed", || {
        liveness_of(&nodes[0], &id) == Some(Liveness::Dead)
    });
    let back = joiner(&id, &nodes[0]);
    for node in nodes.iter().filter(|n| n.is_running()) {
        eventually(&format!("{} sees {id} alive again", node.node_id()), || {
            liveness_of(node, &id) == Some(Liveness::Alive)
        });
    }
    back.wait_for_peers(3, BOUND).unwrap();
    back.stop().unwrap();
    for n in &nodes {
        n.stop().unwrap();
    }
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn unreachable_bootstrap_gives_a_clear_error_and_is_retried() {
    let port = free_port();
    let url = format!("ws://127.0.0.1:{port}/peerdisc");
    let node = Node::builder()
        .node_id("lonely")
        .bootstrap(url.clone())
        .configure(|c| {
            c.bootstrap_timeout_ms = 1_000;
            c.rebootstrap_interval_ms = 300;
            c.membership.backoff_base_ms = 100;
            c.transport.backoff_base_ms = 50;
            c.transport.backoff_cap_ms = 200;
        })
        .start()
        .unwrap();
    match node.discover_bootstrap() {
        Err(NodeError::Bootstrap(errors)) => {
            assert_eq!(errors.len(), 1);
            assert!(
                matches!(&errors[0], BootstrapError::Unreachable { address, .. } if address.as_str() == url)
                    || matches!(&errors[0], BootstrapError::NoAnswer { .. }),
                "{errors:?}"
            );
            let text = NodeError::Bootstrap(errors).to_string();
            assert!(text.contains(&url), "{text}");
        }
        other => panic!("expected a bootstrap error, got {other:?}"),
    }
    // The bootstrap node comes up later on that port: the node retries by
    // itself and finds it.
    let late = Node::builder()
        .node_id("late-seed")
        .listen(format!("127.0.0.1:{port}").parse().unwrap())
        .start()
        .unwrap();
    node.wait_for_peers(1, BOUND).unwrap();
    assert!(node.registry().get("late-seed").is_some());
    node.stop().unwrap();
    late.stop().unwrap();
}

#[test]
fn taken_listen_port_fails_to_start_with_a_clear_error() {
    let holder = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = holder.local_addr().unwrap();
    let err = Node::builder().listen(addr).start().unwrap_err();
    assert!(
        matches!(err, NodeError::Transport(TransportError::Bind { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}

#[test]
fn capability_updates_reach_every_node() {
    let nodes = mesh(5);
    let mut caps = Capabilities::new();
    caps.tools.push(Capability::new("brand-new-tool"));
    caps.agents.push(Capability::new("brand-new-agent"));
    nodes[2].update_capabilities(caps).unwrap();
    for node in nodes.iter().filter(|n| n.node_id() != nodes[2].node_id()) {
        let seen = || {
            node.find_by_tool("brand-new-tool").len() == 1
                && node.find_by_agent("brand-new-agent").len() == 1
        };
        if !wait_for(seen) {
            let held = node.registry().get("n02");
            panic!(
                "{} did not see the update within {BOUND:?}: it holds n02 as {:?}; stats {:?}",
                node.node_id(),
                held.map(|p| (p.version(), p.liveness, p.capabilities().clone())),
                node.stats()
            );
        }
        // The old tool is gone from the index.
        assert!(node.find_by_tool("tool-n02").is_empty());
    }
    for n in &nodes {
        n.stop().unwrap();
    }
}

#[test]
fn stop_is_idempotent_and_use_after_stop_is_an_error() {
    let node = seed("once");
    node.stop().unwrap();
    node.stop().unwrap();
    assert!(matches!(
        node.update_capabilities(Capabilities::new()),
        Err(NodeError::NotRunning)
    ));
    assert!(matches!(
        node.discover_bootstrap(),
        Err(NodeError::NotRunning)
    ));
}

fn scratch_dir(name: &str) -> std::path::PathBuf {
    let d = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("node-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn restarted_node_rejoins_from_its_snapshot_without_bootstrap_nodes() {
    let dir = scratch_dir("snapshot");
    let snap = dir.join("peers.json");
    let seed = seed("boot");
    let other = joiner("other", &seed);
    let with_snapshot = |id: &str| {
        Node::builder()
            .node_id(id)
            .bootstrap(seed.address().as_str())
            .configure(|c| {
                c.snapshot_path = Some(snap.clone());
                c.snapshot_interval_ms = 200;
            })
            .start()
            .unwrap()
    };
    let node = with_snapshot("returning");
    node.wait_for_peers(2, BOUND).unwrap();
    other.wait_for_peers(2, BOUND).unwrap();
    node.stop().unwrap(); // saves the snapshot
    let saved = peerdisc::persist::load_snapshot(&snap).unwrap();
    assert!(saved.iter().any(|p| p.node_id().as_str() == "other"));
    // The bootstrap node goes away for good.
    let seed_addr = seed.address();
    seed.abort().unwrap();
    let node = Node::builder()
        .node_id("returning")
        .bootstrap(seed_addr.as_str())
        .configure(|c| c.snapshot_path = Some(snap.clone()))
        .start()
        .unwrap();
    eventually(
        "the restarted node finds `other` through its snapshot",
        || node.registry().get("other").is_some_and(|p| p.is_alive()),
    );
    eventually("`other` sees it alive again", || {
        liveness_of(&other, "returning") == Some(Liveness::Alive)
    });
    node.stop().unwrap();
    other.stop().unwrap();
}

#[test]
fn corrupt_snapshot_is_set_aside_and_the_node_starts() {
    let dir = scratch_dir("corrupt");
    let snap = dir.join("peers.json");
    std::fs::write(&snap, b"{\"format\": 1, \"peers\": [trunc").unwrap();
    let node = Node::builder()
        .configure(|c| c.snapshot_path = Some(snap.clone()))
        .start()
        .unwrap();
    let aside: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1, "the corrupt file is kept aside");
    node.stop().unwrap();
    // The stop wrote a fresh, valid snapshot.
    assert!(peerdisc::persist::load_snapshot(&snap).is_ok());
}

#[test]
fn identity_file_keeps_the_node_id_across_restarts() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch_dir("identity");
    let key = dir.join("node.key");
    let first = Node::builder()
        .configure(|c| c.identity_path = Some(key.clone()))
        .start()
        .unwrap();
    let id = first.node_id().clone();
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the key file is private");
    first.stop().unwrap();
    let again = Node::builder()
        .configure(|c| c.identity_path = Some(key.clone()))
        .build()
        .unwrap();
    assert_eq!(again.node_id(), &id, "same key, same id");
    // The id is derived from the public key published in the record.
    let derived = peerdisc::identity::node_id_for(
        &peerdisc::identity::Identity::load(&key)
            .unwrap()
            .verifying_key(),
    );
    assert_eq!(derived, id);
    // Without a path, every node gets a fresh key and id.
    let a = Node::builder().build().unwrap();
    let b = Node::builder().build().unwrap();
    assert_ne!(a.node_id(), b.node_id());
    // Choosing an id by hand and an identity at once is refused.
    let err = Node::builder()
        .node_id("mine")
        .configure(|c| c.identity_path = Some(key.clone()))
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("identity_path"), "{err}");
}

#[test]
fn derived_id_nodes_publish_their_public_key() {
    let seed = Node::builder().start().unwrap();
    let node = Node::builder()
        .bootstrap(seed.address().as_str())
        .start()
        .unwrap();
    node.wait_for_peers(1, BOUND).unwrap();
    let seen = node.registry().get(seed.node_id().as_str()).unwrap();
    let key = seen.record.public_key.as_deref().expect("a public key");
    let parsed = peerdisc::identity::parse_public_key(key).unwrap();
    assert_eq!(&peerdisc::identity::node_id_for(&parsed), seed.node_id());
    node.stop().unwrap();
    seed.stop().unwrap();
}

#[test]
fn discover_bootstrap_counts_an_answer_over_a_connection_the_seed_opened() {
    // The node's bootstrap node is down when the node starts; it then comes
    // up and dials the node itself. The node's discover_bootstrap is
    // answered over that connection (the node never dialled the seed).
    let port = free_port();
    let seed_url = format!("ws://127.0.0.1:{port}/peerdisc");
    let node = Node::builder()
        .node_id("asker")
        .bootstrap(seed_url.clone())
        .configure(|c| {
            c.rebootstrap_interval_ms = 60_000;
            c.membership.backoff_base_ms = 60_000;
            c.membership.backoff_cap_ms = 60_000;
            c.transport.backoff_base_ms = 60_000;
            c.transport.backoff_cap_ms = 60_000;
        })
        .start()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200)); // the first join fails
    let seed = Node::builder()
        .node_id("seed-dials-in")
        .listen(format!("127.0.0.1:{port}").parse().unwrap())
        .bootstrap(node.address().as_str())
        .start()
        .unwrap();
    node.wait_for_peers(1, BOUND).unwrap();
    let report = node.discover_bootstrap().unwrap();
    assert!(report.errors.is_empty(), "{report:?}");
    assert!(
        report.peers.iter().any(|p| p.as_str() == "seed-dials-in"),
        "{report:?}"
    );
    node.stop().unwrap();
    seed.stop().unwrap();
}

#[test]
fn restarted_node_on_a_new_port_is_listed_at_its_new_address() {
    let seed = seed("addr-seed");
    let first = joiner("mover", &seed);
    seed.wait_for_peers(1, BOUND).unwrap();
    first.wait_for_peers(1, BOUND).unwrap();
    let old = first.address();
    first.stop().unwrap();
    // Left (or, had the leave been lost, dead: never stuck as suspect).
    eventually("the seed no longer lists it alive", || {
        matches!(
            liveness_of(&seed, "mover"),
            Some(Liveness::Left) | Some(Liveness::Dead)
        )
    });
    // Same id, same record version (1), another port.
    let again = joiner("mover", &seed);
    assert_ne!(again.address(), old);
    eventually("the seed lists the new address", || {
        seed.registry()
            .get("mover")
            .is_some_and(|p| p.is_alive() && p.addresses().first() == Some(&again.address()))
    });
    again.stop().unwrap();
    seed.stop().unwrap();
}

#[test]
fn two_node_cluster_detects_a_crash_and_a_leave() {
    let a = seed("pair-a");
    let b = joiner("pair-b", &a);
    a.wait_for_peers(1, BOUND).unwrap();
    b.abort().unwrap();
    eventually("a marks the crashed b dead", || {
        liveness_of(&a, "pair-b") == Some(Liveness::Dead)
    });
    let c = joiner("pair-c", &a);
    a.wait_for_peers(1, BOUND).unwrap();
    // A node can only announce its leave to peers it knows.
    eventually("c knows a", || {
        c.registry().get("pair-a").is_some_and(|p| p.is_alive())
    });
    c.stop().unwrap();
    if !wait_for(|| liveness_of(&a, "pair-c") == Some(Liveness::Left)) {
        panic!(
            "a does not see c leave: it holds c as {:?}",
            a.registry()
                .get("pair-c")
                .map(|p| (p.liveness, p.incarnation, p.version()))
        );
    }
    a.stop().unwrap();
}

#[test]
fn bootstrap_node_down_at_start_is_retried_after_another_answered() {
    // Two bootstrap nodes; the second is not listening yet when the node
    // starts. The first answers at once, which ends the membership core's
    // join. Only the bootstrap worker's retries can then reach the second:
    // it has no bootstrap node of its own, and the first does not know it,
    // so no gossip can tell anyone about it.
    let port = free_port();
    let late_url = format!("ws://127.0.0.1:{port}/peerdisc");
    let first = seed("retry-first");
    let node = Node::builder()
        .node_id("retry-joiner")
        .bootstrap(first.address().as_str())
        .bootstrap(late_url.clone())
        .configure(|c| {
            c.membership.backoff_base_ms = 100;
            c.membership.backoff_cap_ms = 400;
            c.transport.backoff_base_ms = 50;
            c.transport.backoff_cap_ms = 200;
        })
        .start()
        .unwrap();
    node.wait_for_peers(1, BOUND).unwrap();
    // A few retries of the missing one fail meanwhile.
    std::thread::sleep(Duration::from_millis(300));
    let late = Node::builder()
        .node_id("retry-late")
        .listen(format!("127.0.0.1:{port}").parse().unwrap())
        .start()
        .unwrap();
    assert_eq!(late.address().as_str(), late_url);
    eventually("the late bootstrap node hears the joiner's hello", || {
        late.registry()
            .get("retry-joiner")
            .is_some_and(|p| p.is_alive())
    });
    eventually("the joiner lists the late bootstrap node", || {
        node.registry()
            .get("retry-late")
            .is_some_and(|p| p.is_alive())
    });
    node.stop().unwrap();
    late.stop().unwrap();
    first.stop().unwrap();
}

#[test]
fn connection_state_and_health_follow_real_connections() {
    use peerdisc::ConnectionState;
    let a = seed("conn-a");
    let b = joiner("conn-b", &a);
    a.wait_for_peers(1, BOUND).unwrap();
    let start = peerdisc::Health::INITIAL_SCORE;
    let mut before = 0.0;
    eventually(
        "a holds b as connected, with health above its start",
        || {
            a.registry().get("conn-b").is_some_and(|p| {
                before = p.health_score();
                p.connection_state == ConnectionState::Connected && before > start
            })
        },
    );
    b.abort().unwrap();
    if !wait_for(|| {
        a.registry().get("conn-b").is_some_and(|p| {
            p.connection_state != ConnectionState::Connected && p.health_score() < before
        })
    }) {
        let held = a.registry().get("conn-b");
        panic!(
            "after b crashed, a still holds it as {:?} (health before the crash {before})",
            held.map(|p| (p.connection_state, p.health_score(), p.liveness))
        );
    }
    a.stop().unwrap();
}

/// A bootstrap node slow to answer (here: one that never does) gets one
/// `hello` per connection: the stream delivers it, and a seed answering a
/// burst of joins would otherwise answer each of the core's retries.
#[test]
fn a_slow_seed_gets_one_hello_per_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // The silent seed: accepts one connection and counts the hellos on it
    // for 1.5 s (the core says hello again every probe interval, 200 ms).
    let silent = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut ws = tungstenite::accept(stream).unwrap();
        let frames = read_frames(&mut ws, Duration::from_millis(1_500));
        let hellos = frames
            .iter()
            .filter(|f| f.contains(r#""type":"hello""#))
            .count();
        (hellos, frames.len())
    });
    let n = Node::builder()
        .node_id("patient-joiner")
        .bootstrap(format!("ws://127.0.0.1:{port}/peerdisc"))
        .start()
        .unwrap();
    let (hellos, frames) = silent.join().unwrap();
    assert_eq!(hellos, 1, "hellos on the one connection ({frames} frames)");
    assert!(
        n.stats().hellos_held_back >= 2,
        "the core's retries were held back: {:?}",
        n.stats().hellos_held_back
    );
    n.stop().unwrap();
}
