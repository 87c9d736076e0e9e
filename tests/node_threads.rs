//! `stop` joins every thread: the process's thread count after the nodes
//! stop is what it was before. Alone in its own test binary, so no other
//! test's threads come and go meanwhile.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use peerdisc::node::Node;

const BOUND: Duration = Duration::from_secs(20);

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(0)
}

fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + BOUND;
    while Instant::now() < deadline {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("not within {BOUND:?}: {what}");
}

fn mesh(n: usize) -> Vec<Node> {
    let first = Node::builder().node_id("n00").start().unwrap();
    let mut nodes = vec![first];
    for i in 1..n {
        let node = Node::builder()
            .node_id(format!("n{i:02}"))
            .bootstrap(nodes[0].address().as_str())
            .start()
            .unwrap();
        nodes.push(node);
    }
    for node in &nodes {
        node.wait_for_peers(n - 1, BOUND).unwrap();
    }
    nodes
}

#[test]
fn stop_joins_every_thread() {
    let before = threads();
    let nodes = mesh(5);
    assert!(threads() > before);
    // A peer that accepts TCP but never answers the WebSocket handshake
    // must not hold `stop` up.
    let hang = TcpListener::bind("127.0.0.1:0").unwrap();
    let hang_url = format!("ws://{}/peerdisc", hang.local_addr().unwrap());
    let stuck = Node::builder().bootstrap(hang_url).start().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    stuck.stop().unwrap();
    for n in &nodes {
        n.stop().unwrap();
    }
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "stop took {:?}",
        t.elapsed()
    );
    drop(nodes);
    drop(stuck);
    eventually("no thread left behind", || threads() <= before);
}
