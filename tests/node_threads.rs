//! A node's thread count does not grow with its peers (one transport
//! poller thread serves all its connections), and `stop` joins every
//! thread: the process's thread count after the nodes stop is what it was
//! before, but for the callback dispatcher of a registry that outlives its
//! node; after the nodes are dropped, it is exactly what it was before.
//! Alone in its own test binary, so no other test's threads come and go
//! meanwhile.

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use peerdisc::node::Node;

/// Generous: a mesh of a few nodes forms in well under a second.
const FORM: Duration = Duration::from_secs(20);
/// Each `stop` returns within this.
const STOP: Duration = Duration::from_secs(2);
/// After the last stop (and after the drop), the thread count settles
/// within this.
const SETTLE: Duration = Duration::from_millis(500);

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Polls (bounded by `within`) until the thread count is `want`; panics
/// with the last count otherwise.
fn settles_at(want: usize, within: Duration, what: &str) {
    let deadline = Instant::now() + within;
    loop {
        let now = threads();
        if now == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {now} threads, expected {want}, {within:?} after"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn mesh(n: usize) -> Vec<Node> {
    mesh_with(n, true)
}

/// `udp`: the datagram path on (the default). Off, probes and gossip open
/// one WebSocket connection per pair, which is what a test of threads
/// against connections needs.
fn mesh_with(n: usize, udp: bool) -> Vec<Node> {
    let first = Node::builder()
        .node_id("n00")
        .configure(|c| c.datagram.enabled = udp)
        .start()
        .unwrap();
    let mut nodes = vec![first];
    for i in 1..n {
        let node = Node::builder()
            .node_id(format!("n{i:02}"))
            .configure(|c| c.datagram.enabled = udp)
            .bootstrap(nodes[0].address().as_str())
            .start()
            .unwrap();
        nodes.push(node);
    }
    for node in &nodes {
        node.wait_for_peers(n - 1, FORM).unwrap();
    }
    nodes
}

/// The budget for a whole node (driver, transport, mDNS, ...).
const MAX_THREADS_PER_NODE: usize = 6;

/// One test (the two parts run one after the other): the thread count of
/// the process is what they measure.
#[test]
fn threads_are_constant_per_node_and_all_joined_on_stop() {
    threads_do_not_grow_with_peers();
    stop_joins_every_thread();
}

fn threads_do_not_grow_with_peers() {
    let before = threads();
    let alone = Node::builder().node_id("alone").start().unwrap();
    let per_node = threads() - before;
    assert!(per_node <= MAX_THREADS_PER_NODE, "{per_node} threads");
    alone.stop().unwrap();
    drop(alone);
    settles_at(before, SETTLE, "after the lone node");
    // Without the datagram path (one thread less) probes and gossip open
    // one connection per pair: eight such nodes whose transports hold 48
    // connection ends or more (a full mesh is 56) have the same threads
    // per node as one alone.
    let alone = Node::builder()
        .node_id("alone")
        .configure(|c| c.datagram.enabled = false)
        .start()
        .unwrap();
    let per_node = threads() - before;
    alone.stop().unwrap();
    drop(alone);
    settles_at(before, SETTLE, "after the lone node without UDP");
    let nodes = mesh_with(8, false);
    let deadline = Instant::now() + FORM;
    let connections = || -> u64 {
        nodes
            .iter()
            .filter_map(|n| n.stats().transport)
            .map(|t| t.open_connections)
            .sum()
    };
    while connections() < 48 {
        assert!(
            Instant::now() < deadline,
            "only {} connection ends after {FORM:?}",
            connections()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    settles_at(before + 8 * per_node, SETTLE, "eight connected nodes");
    eprintln!(
        "{per_node} threads per node, alone and with {} connection ends among 8 nodes",
        connections()
    );
    for n in &nodes {
        n.stop().unwrap();
    }
    drop(nodes);
    settles_at(before, SETTLE, "after the mesh");
}

fn stop_joins_every_thread() {
    let before = threads();
    let mut nodes = mesh(5);
    assert!(threads() > before);
    // A node with a registry callback (its dispatcher thread) and a
    // subscriber (no thread), both of which see the others arrive.
    let watcher = Node::builder()
        .node_id("watcher")
        .bootstrap(nodes[0].address().as_str())
        .build()
        .unwrap();
    let added = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&added);
    watcher
        .registry()
        .on_add(move |_, _| {
            counter.fetch_add(1, Ordering::Relaxed);
        })
        .unwrap();
    let events = watcher.subscribe();
    watcher.start().unwrap();
    watcher.wait_for_peers(5, FORM).unwrap();
    let deadline = Instant::now() + FORM;
    while added.load(Ordering::Relaxed) < 5 {
        assert!(Instant::now() < deadline, "the callback saw every peer");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(events.try_iter().count() >= 5);
    nodes.push(watcher);
    // A peer that accepts TCP but never answers the WebSocket handshake
    // must not hold `stop` up.
    let hang = TcpListener::bind("127.0.0.1:0").unwrap();
    let hang_url = format!("ws://{}/peerdisc", hang.local_addr().unwrap());
    let stuck = Node::builder().bootstrap(hang_url).start().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    nodes.push(stuck);
    for n in &nodes {
        let t = Instant::now();
        n.stop().unwrap();
        assert!(
            t.elapsed() < STOP,
            "stopping {} took {:?}",
            n.node_id(),
            t.elapsed()
        );
    }
    // Every node thread is gone; the watcher's registry, which outlives its
    // node by design (`Node::registry` hands it out), keeps its callback
    // dispatcher until it is dropped.
    settles_at(before + 1, SETTLE, "after the last stop");
    drop(nodes);
    drop(events);
    settles_at(before, SETTLE, "after the nodes are dropped");
    drop(hang);
}
