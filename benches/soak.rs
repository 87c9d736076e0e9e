//! Soak: 50 nodes on loopback in one process with churn (every 3 seconds a
//! node leaves, crashes or joins, about 49 running all along) for 10 minutes; the process's thread
//! count and resident memory are sampled and must stay flat.
//!
//! `cargo bench --bench soak` (10 minutes) or `cargo bench --bench soak -- 60`
//! (seconds).
//!
//! Every node runs the DEFAULT `NodeConfig` (only its id is set).
//! `PEERDISC_SOAK_TUNED=1` runs the earlier tuned row (64 connections,
//! per-IP limit 1024).

use std::time::{Duration, Instant};

use peerdisc::node::{Node, NodeBuilder};

const N: usize = 50;
const CHURN_EVERY: Duration = Duration::from_secs(3);
const SAMPLE_EVERY: Duration = Duration::from_secs(30);

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(0)
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

fn tuned() -> bool {
    std::env::var("PEERDISC_SOAK_TUNED").is_ok_and(|v| v == "1")
}

fn builder(id: String) -> NodeBuilder {
    let b = Node::builder().node_id(id);
    if !tuned() {
        return b;
    }
    b.configure(|c| {
        c.transport.max_connections = 64;
        c.transport.max_connections_per_ip = 1024;
    })
}

fn main() {
    let secs: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(600);
    let run = Duration::from_secs(secs);
    let seed = builder("s00".into()).start().unwrap();
    let seed_url = seed.address().to_string();
    let mut nodes: Vec<Option<Node>> = vec![Some(seed)];
    for i in 1..N {
        nodes.push(Some(
            builder(format!("s{i:02}"))
                .bootstrap(&seed_url)
                .start()
                .unwrap(),
        ));
    }
    std::thread::sleep(Duration::from_secs(3));
    println!(
        "soak: {N} nodes, churn every {CHURN_EVERY:?}, {secs} s, {}",
        if tuned() {
            "TUNED (64 connections, per-IP limit 1024)"
        } else {
            "DEFAULT NodeConfig (ids aside)"
        }
    );
    println!(
        "{:>6} {:>8} {:>9} {:>6} {:>7} {:>8}",
        "t (s)", "threads", "RSS (MB)", "fds", "running", "churned"
    );
    let start = Instant::now();
    let mut next_churn = start + CHURN_EVERY;
    let mut next_sample = start;
    let mut churned = 0u64;
    let mut k = 0usize;
    let mut samples = Vec::new();
    while start.elapsed() < run {
        let now = Instant::now();
        if now >= next_sample {
            let running = nodes.iter().filter(|n| n.is_some()).count();
            let s = (
                start.elapsed().as_secs(),
                threads(),
                rss_kb(),
                fds(),
                running,
            );
            println!(
                "{:>6} {:>8} {:>9.1} {:>6} {:>7} {:>8}",
                s.0,
                s.1,
                s.2 as f64 / 1024.0,
                s.3,
                s.4,
                churned
            );
            samples.push(s);
            next_sample += SAMPLE_EVERY;
        }
        if now >= next_churn {
            // Alternate: a running node goes away (a graceful leave or a
            // crash, in turn), then a stopped one comes back, so that about
            // N nodes run all along. The seed stays.
            k = k % (N - 1) + 1;
            if churned % 2 == 0 {
                if let Some(n) = nodes[k].take() {
                    if churned % 4 == 0 {
                        n.stop().unwrap();
                    } else {
                        n.abort().unwrap();
                    }
                }
            } else if let Some(slot) = nodes.iter().position(|n| n.is_none()) {
                nodes[slot] = Some(
                    builder(format!("s{slot:02}"))
                        .bootstrap(&seed_url)
                        .start()
                        .unwrap(),
                );
            }
            churned += 1;
            next_churn += CHURN_EVERY;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Flatness: compare the second half's samples with the first half's.
    let half = samples.len() / 2;
    let max_of = |v: &[(u64, usize, u64, usize, usize)],
                  f: fn(&(u64, usize, u64, usize, usize)) -> u64| {
        v.iter().map(f).max().unwrap_or(0)
    };
    if half > 0 {
        let (a, b) = samples.split_at(half);
        println!(
            "first half max: {} threads, {:.1} MB RSS; second half max: {} threads, {:.1} MB RSS",
            max_of(a, |s| s.1 as u64),
            max_of(a, |s| s.2) as f64 / 1024.0,
            max_of(b, |s| s.1 as u64),
            max_of(b, |s| s.2) as f64 / 1024.0
        );
    }
    for n in nodes.into_iter().flatten() {
        n.stop().unwrap();
    }
}
