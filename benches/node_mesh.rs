//! N nodes in one process on loopback: time until a joining node is known by
//! all, time until a killed node is dead at all, steady-state bytes per node
//! per second (counted at the transport), node start and stop times,
//! threads per node.
//!
//! `cargo bench --bench node_mesh` (N = 50 and 100; `-- 20` for other sizes).
//!
//! Every node runs the DEFAULT `NodeConfig` (only its id is set): the
//! datagram path on, the default connection limits. `PEERDISC_MESH_FULL=1`
//! runs the earlier tuned row instead: a connection budget for a full mesh
//! and the per-IP limit lifted. `PEERDISC_MESH_PER_IP=N` keeps the defaults
//! but the per-IP inbound limit (all nodes of this bench dial from
//! 127.0.0.1, where separate hosts would each have their own address).

use std::time::{Duration, Instant};

use peerdisc::node::{Node, NodeBuilder};
use peerdisc::Liveness;

const STEADY: Duration = Duration::from_secs(10);
const LIMIT: Duration = Duration::from_secs(30);

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Connections each of `n` nodes may keep: room for one to every other
/// node (a pair shares one connection; the driver keeps at most three
/// quarters of the limit open) when the process may open that many files
/// (one per connection end, plus a few per node), otherwise 48 (the nodes
/// then close and reopen connections as they probe round the cluster).
fn max_connections(n: usize) -> usize {
    // SAFETY: getrlimit with a valid pointer to a local struct.
    let limit = unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_max
        } else {
            1024
        }
    };
    let needed = (n as u64) * (n as u64 - 1) + 8 * (n as u64) + 4_096;
    if limit >= needed {
        2 * (n + 8)
    } else {
        48
    }
}

fn full_mesh() -> bool {
    std::env::var("PEERDISC_MESH_FULL").is_ok_and(|v| v == "1")
}

fn per_ip() -> Option<usize> {
    std::env::var("PEERDISC_MESH_PER_IP").ok()?.parse().ok()
}

fn builder(id: String, max_connections: usize) -> NodeBuilder {
    let b = Node::builder().node_id(id);
    if !full_mesh() {
        return match per_ip() {
            Some(limit) => b.configure(|c| c.transport.max_connections_per_ip = limit),
            None => b,
        };
    }
    b.configure(|c| {
        c.transport.max_connections = max_connections;
        c.transport.max_connections_per_ip = 1 << 16;
    })
}

fn wait(limit: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
    let t = Instant::now();
    while t.elapsed() < limit {
        if cond() {
            return Some(t.elapsed());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}

fn bytes_sent(nodes: &[Node]) -> u64 {
    nodes
        .iter()
        .map(|n| {
            let s = n.stats();
            s.transport.map_or(0, |t| t.bytes_sent) + s.datagram_bytes_out
        })
        .sum()
}

fn fmt(d: Option<Duration>) -> String {
    d.map(|d| format!("{:.2} s", d.as_secs_f64()))
        .unwrap_or_else(|| format!("> {} s", LIMIT.as_secs()))
}

/// Start and stop times of `n` nodes that bootstrap from nobody, in a
/// process doing nothing else: the cost of a start and a stop themselves,
/// without a cluster's traffic competing for the 2 cores.
fn idle_start_stop(n: usize, max_conns: usize) -> (Vec<Duration>, Vec<Duration>) {
    let mut starts = Vec::new();
    let mut nodes = Vec::new();
    for i in 0..n {
        let t = Instant::now();
        nodes.push(builder(format!("idle{i:03}"), max_conns).start().unwrap());
        starts.push(t.elapsed());
    }
    let mut stops = Vec::new();
    for x in &nodes {
        let t = Instant::now();
        x.stop().unwrap();
        stops.push(t.elapsed());
    }
    (starts, stops)
}

fn run(n: usize) {
    let t_before = threads();
    let (idle_starts, idle_stops) = idle_start_stop(n, max_connections(n + 1));
    let mut starts = Vec::new();
    let t = Instant::now();
    let max_conns = max_connections(n + 1);
    let first = builder("b000".into(), max_conns).start().unwrap();
    starts.push(t.elapsed());
    let seed = first.address();
    let mut nodes = vec![first];
    for i in 1..n {
        let t = Instant::now();
        let node = builder(format!("b{i:03}"), max_conns)
            .bootstrap(seed.as_str())
            .start()
            .unwrap();
        starts.push(t.elapsed());
        nodes.push(node);
    }
    let converge = wait(LIMIT, || {
        nodes.iter().all(|x| x.registry().stats().alive == n - 1)
    });
    // Steady state: bytes sent by all nodes over STEADY.
    std::thread::sleep(Duration::from_secs(2));
    let b0 = bytes_sent(&nodes);
    let t0 = Instant::now();
    std::thread::sleep(STEADY);
    let per_node = (bytes_sent(&nodes) - b0) as f64 / t0.elapsed().as_secs_f64() / n as f64;
    let conns: usize = nodes
        .iter()
        .filter_map(|x| x.stats().transport.map(|t| t.open_connections as usize))
        .sum();
    let t_running = threads();
    // A joining node.
    let joiner = builder("joiner".into(), max_conns)
        .bootstrap(seed.as_str())
        .start()
        .unwrap();
    let join = wait(LIMIT, || {
        nodes
            .iter()
            .all(|x| x.registry().get("joiner").is_some_and(|p| p.is_alive()))
    });
    // A killed node.
    let victim = nodes[n / 2].node_id().to_string();
    nodes[n / 2].abort().unwrap();
    let dead = wait(LIMIT, || {
        nodes.iter().filter(|x| x.is_running()).all(|x| {
            x.registry()
                .get(&victim)
                .is_some_and(|p| p.liveness == Liveness::Dead)
        })
    });
    let false_dead: usize = nodes
        .iter()
        .filter(|x| x.is_running())
        .map(|x| {
            x.registry()
                .list()
                .iter()
                .filter(|p| p.node_id().as_str() != victim && !p.is_alive())
                .count()
        })
        .sum();
    let mut stops = Vec::new();
    for x in nodes.iter().chain(std::iter::once(&joiner)) {
        let t = Instant::now();
        x.stop().unwrap();
        stops.push(t.elapsed());
    }
    drop(nodes);
    drop(joiner);
    let t_after = threads();
    let ms = |v: &[Duration], f: fn(&[f64]) -> f64| {
        let xs: Vec<f64> = v.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        f(&xs)
    };
    let mean = |x: &[f64]| x.iter().sum::<f64>() / x.len() as f64;
    let max = |x: &[f64]| x.iter().cloned().fold(0.0, f64::max);
    if full_mesh() {
        println!(
            "N = {n} nodes on loopback, one process, TUNED: full-mesh connection budget ({max_conns} per node), per-IP limit lifted"
        );
    } else if let Some(limit) = per_ip() {
        println!(
            "N = {n} nodes on loopback, one process, DEFAULT NodeConfig (ids aside) but the per-IP limit ({limit}): datagram path on"
        );
    } else {
        println!(
            "N = {n} nodes on loopback, one process, DEFAULT NodeConfig (ids aside): datagram path on, default connection limits"
        );
    }
    println!(
        "  initial convergence (all know all):     {}",
        fmt(converge)
    );
    println!("  joining node known by all:              {}", fmt(join));
    println!("  killed node dead at all:                {}", fmt(dead));
    println!("  false deaths during the run:            {false_dead}");
    println!(
        "  steady-state traffic per node:          {:.2} KB/s",
        per_node / 1024.0
    );
    println!(
        "  node start, idle process:        mean {:.2} ms, max {:.2} ms",
        ms(&idle_starts, mean),
        ms(&idle_starts, max)
    );
    println!(
        "  node start, as the mesh forms:   mean {:.2} ms, max {:.2} ms",
        ms(&starts, mean),
        ms(&starts, max)
    );
    println!(
        "  node stop, alone (no peers):     mean {:.2} ms, max {:.2} ms",
        ms(&idle_stops, mean),
        ms(&idle_stops, max)
    );
    println!(
        "  node stop, in the mesh:          mean {:.2} ms, max {:.2} ms (all threads joined)",
        ms(&stops, mean),
        ms(&stops, max)
    );
    let per_node_threads = (t_running - t_before) as f64 / n as f64;
    let per_node_conns = conns as f64 / n as f64;
    println!(
        "  threads per node: {per_node_threads:.1} with {per_node_conns:.1} open connections each (so {:.1} + connections)",
        per_node_threads - per_node_conns
    );
    println!(
        "  threads left after stop: {}",
        t_after.saturating_sub(t_before)
    );
}

/// One process runs all the nodes: each connection holds a socket at both
/// ends, so raise the soft limit on open files to the hard limit.
fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

fn main() {
    raise_fd_limit();
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![50, 100]
    } else {
        sizes
    };
    for n in sizes {
        run(n);
    }
}
