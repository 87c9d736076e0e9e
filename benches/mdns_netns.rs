//! mDNS discovery between fresh hosts in network namespaces (needs root;
//! prints SKIPPED otherwise).
//!
//! `cargo bench --bench mdns_netns` (optionally `-- --runs 20`).
//!
//! Per run: a fresh lab of two hosts (namespaces on a bridge), a node with
//! mDNS on in each, started at the same instant (no bootstrap URL). Figures:
//! - discovery: from start until each node lists the other as alive;
//! - graceful stop (even runs): from `stop()` on B until A no longer lists
//!   B as alive;
//! - crash (odd runs): from `abort()` on B (no leave, no goodbye) until A
//!   no longer lists B as alive (it is then dead).
//!
//! Then the same discovery measure with RFC 6762 name probing on
//! (`mdns.probe = true`), and a five-host mesh (time until all know all).

#[path = "../tests/support/netns.rs"]
mod netns;

#[path = "../tests/support/mdns_hosts.rs"]
mod mdns_hosts;

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use mdns_hosts::{assert_in_private_netns, knows, mdns_config};
use peerdisc::node::{Node, NodeConfig};

const POLL: Duration = Duration::from_millis(1);
const LIMIT: Duration = Duration::from_secs(15);

/// Starts one node per host at the same instant; returns them and that
/// instant.
fn start_together(lab: &netns::Lab, cfgs: Vec<NodeConfig>) -> (Vec<Node>, Instant) {
    let n = cfgs.len();
    let barrier = Arc::new(Barrier::new(n + 1));
    let handles: Vec<_> = cfgs
        .into_iter()
        .enumerate()
        .map(|(i, cfg)| {
            let b = Arc::clone(&barrier);
            lab.host(i).spawn_thread(move || {
                assert_in_private_netns();
                let node = Node::new(cfg).expect("config");
                b.wait();
                node.start().expect("start");
                node
            })
        })
        .collect();
    barrier.wait();
    let t0 = Instant::now();
    let nodes = handles
        .into_iter()
        .map(|h| h.join().expect("start thread"))
        .collect();
    (nodes, t0)
}

/// Time from `t0` until `cond` holds (polled every millisecond).
fn until(t0: Instant, mut cond: impl FnMut() -> bool) -> Option<Duration> {
    loop {
        if cond() {
            return Some(t0.elapsed());
        }
        if t0.elapsed() > LIMIT {
            return None;
        }
        std::thread::sleep(POLL);
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn summary(name: &str, v: &mut [f64]) {
    if v.is_empty() {
        println!("{name}: no samples");
        return;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let med = if v.len() % 2 == 1 {
        v[v.len() / 2]
    } else {
        (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
    };
    println!(
        "{name}: n={} median {med:.1} ms, min {:.1} ms, max {:.1} ms",
        v.len(),
        v[0],
        v[v.len() - 1]
    );
}

fn two_host_runs(runs: usize, probe: bool, with_stops: bool) {
    let mut both = Vec::new();
    let mut first = Vec::new();
    let mut graceful = Vec::new();
    let mut stop_call = Vec::new();
    let mut crash = Vec::new();
    let mut failures = 0;
    for run in 0..runs {
        let Some(lab) = netns::Lab::new(2) else {
            return;
        };
        let cfgs = (0..2)
            .map(|i| {
                let mut c = mdns_config(lab.host(i), &format!("r{run}-h{i}"));
                c.mdns.probe = probe;
                c
            })
            .collect();
        let (nodes, t0) = start_together(&lab, cfgs);
        let (a, b) = (&nodes[0], &nodes[1]);
        let (ida, idb) = (a.node_id().to_string(), b.node_id().to_string());
        let mut a_knows = None;
        let mut b_knows = None;
        let done = until(t0, || {
            if a_knows.is_none() && knows(a, &idb) {
                a_knows = Some(t0.elapsed());
            }
            if b_knows.is_none() && knows(b, &ida) {
                b_knows = Some(t0.elapsed());
            }
            a_knows.is_some() && b_knows.is_some()
        });
        match done {
            Some(d) => {
                both.push(ms(d));
                first.push(ms(a_knows.unwrap().min(b_knows.unwrap())));
            }
            None => failures += 1,
        }
        if with_stops && done.is_some() {
            let t1 = Instant::now();
            if run % 2 == 0 {
                // Stop on another thread; watch A meanwhile.
                let stopper = {
                    let b = b.clone();
                    std::thread::spawn(move || {
                        b.stop().unwrap();
                        t1.elapsed()
                    })
                };
                if let Some(d) = until(t1, || !knows(a, &idb)) {
                    graceful.push(ms(d));
                }
                stop_call.push(ms(stopper.join().expect("stop thread")));
            } else {
                b.abort().unwrap();
                if let Some(d) = until(t1, || !knows(a, &idb)) {
                    crash.push(ms(d));
                }
            }
        }
        for n in &nodes {
            n.stop().unwrap();
        }
        drop(lab);
    }
    let tag = if probe {
        "probe on"
    } else {
        "probe off (default)"
    };
    summary(
        &format!("two fresh hosts, both know each other [{tag}]"),
        &mut both,
    );
    summary(
        &format!("two fresh hosts, first one knows the other [{tag}]"),
        &mut first,
    );
    if with_stops {
        summary(
            "graceful stop -> not alive (left) at the other host",
            &mut graceful,
        );
        summary(
            "  stop() call itself (leave flush, mDNS goodbye, shutdown)",
            &mut stop_call,
        );
        summary(
            "crash (abort) -> not alive (dead) at the other host",
            &mut crash,
        );
    }
    if failures > 0 {
        println!("  {failures} run(s) did not converge within {LIMIT:?}");
    }
}

/// A starts, B starts `delay` later (A has announced and answered
/// already): time from B's start until both know each other.
fn late_joiner_runs(runs: usize, delay: Duration) {
    let mut both = Vec::new();
    for run in 0..runs {
        let Some(lab) = netns::Lab::new(2) else {
            return;
        };
        let (first, _) = start_together(&lab, vec![mdns_config(lab.host(0), &format!("l{run}-a"))]);
        std::thread::sleep(delay);
        let late = {
            let cfg = mdns_config(lab.host(1), &format!("l{run}-b"));
            let h = lab.host(1).spawn_thread(move || {
                assert_in_private_netns();
                let node = Node::new(cfg).expect("config");
                let t0 = Instant::now();
                node.start().expect("start");
                (node, t0)
            });
            h.join().expect("start thread")
        };
        let (b, t0) = late;
        let (ida, idb) = (first[0].node_id().to_string(), b.node_id().to_string());
        if let Some(d) = until(t0, || knows(&first[0], &idb) && knows(&b, &ida)) {
            both.push(ms(d));
        }
        b.stop().unwrap();
        first[0].stop().unwrap();
    }
    summary(
        &format!(
            "late joiner ({} ms after the first), both know each other",
            delay.as_millis()
        ),
        &mut both,
    );
}

fn mesh_runs(runs: usize, n: usize) {
    let mut all = Vec::new();
    for run in 0..runs {
        let Some(lab) = netns::Lab::new(n) else {
            return;
        };
        let cfgs = (0..n)
            .map(|i| mdns_config(lab.host(i), &format!("m{run}-h{i}")))
            .collect();
        let (nodes, t0) = start_together(&lab, cfgs);
        let ids: Vec<String> = nodes.iter().map(|n| n.node_id().to_string()).collect();
        let done = until(t0, || {
            nodes.iter().all(|node| {
                ids.iter()
                    .filter(|id| id.as_str() != node.node_id().as_str())
                    .all(|id| knows(node, id))
            })
        });
        if let Some(d) = done {
            all.push(ms(d));
        }
        for node in &nodes {
            node.stop().unwrap();
        }
    }
    summary(&format!("{n} fresh hosts, all know all"), &mut all);
}

fn main() {
    let mut runs = 20;
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--runs") {
        runs = args.get(i + 1).and_then(|v| v.parse().ok()).unwrap_or(runs);
    }
    if !netns::available_or_skip() {
        return;
    }
    println!(
        "mdns_netns: {} cores, runs per figure {runs}",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    two_host_runs(runs, false, true);
    late_joiner_runs(runs.min(10), Duration::from_millis(300));
    late_joiner_runs(runs.min(10), Duration::from_millis(1500));
    two_host_runs(runs.min(10), true, false);
    mesh_runs(runs.min(5), 5);
}
