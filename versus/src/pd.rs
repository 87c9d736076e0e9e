//! The scenario's side for peerdisc: N nodes on threads, no async runtime.

use std::collections::HashSet;

use peerdisc::node::{Node, NodeBuilder};
use peerdisc::Liveness;

use crate::{Cluster, Options};

pub struct Peerdisc {
    nodes: Vec<Node>,
    joiner: Option<Node>,
    victim: Option<usize>,
    seed: String,
    interval_ms: u64,
    conns: usize,
}

const JOINER: &str = "joiner";

fn id(i: usize) -> String {
    format!("p{i:03}")
}

fn index(id: &str) -> Option<usize> {
    id.strip_prefix('p')?.parse().ok()
}

/// Connections each of `n` nodes may keep: room for one to every other
/// node (a pair of nodes shares one connection; the driver keeps at most
/// three quarters of the limit open), as a node that runs alone in its
/// process would, when the process may open that many files (each
/// connection end holds one, each node a few more); otherwise 48 (the
/// nodes then keep closing and reopening connections, which costs
/// handshakes on the wire).
pub fn max_connections(n: usize, fd_limit: u64) -> usize {
    let all = 2 * (n + 8);
    let needed = (n as u64) * (n as u64 - 1) + 8 * (n as u64) + 4_096;
    if fd_limit >= needed {
        all
    } else {
        48
    }
}

/// Whether the tuned full-mesh row is asked for (`VERSUS_FULL_MESH=1`):
/// a connection budget for one connection to every peer and the per-IP
/// limit lifted. By default every node runs the DEFAULT `NodeConfig`, its
/// id and intervals aside.
pub fn full_mesh() -> bool {
    std::env::var("VERSUS_FULL_MESH").is_ok_and(|v| v == "1")
}

/// The default `NodeConfig` with `interval_ms` gossip and probes (200 ms,
/// the defaults, unless asked otherwise); tuned for a full mesh with
/// `VERSUS_FULL_MESH=1`.
fn builder(id: &str, interval_ms: u64, max_connections: usize) -> NodeBuilder {
    let full = full_mesh();
    let per_ip = per_ip();
    Node::builder().node_id(id).configure(|c| {
        c.membership.gossip_interval_ms = interval_ms;
        c.membership.probe_interval_ms = interval_ms;
        if full {
            c.transport.max_connections = max_connections;
            c.transport.max_connections_per_ip = 1 << 16;
        } else if let Some(limit) = per_ip {
            c.transport.max_connections_per_ip = limit;
        }
    })
}

/// `VERSUS_PER_IP=N`: the default config but the per-IP inbound limit
/// (every node of this benchmark dials from 127.0.0.1, where separate
/// hosts would each have their own address).
pub fn per_ip() -> Option<usize> {
    std::env::var("VERSUS_PER_IP").ok()?.parse().ok()
}

impl Peerdisc {
    fn running(&self) -> impl Iterator<Item = &Node> {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != self.victim)
            .map(|(_, x)| x)
    }
}

impl Cluster for Peerdisc {
    const NAME: &'static str = "peerdisc";

    fn start(n: usize, opts: &Options) -> Self {
        let conns = max_connections(n + 1, opts.fd_limit);
        let first = builder(&id(0), opts.interval_ms, conns)
            .start()
            .expect("start node 0");
        let seed = first.address().as_str().to_string();
        let mut nodes = vec![first];
        for i in 1..n {
            let node = builder(&id(i), opts.interval_ms, conns)
                .bootstrap(seed.as_str())
                .start()
                .expect("start node");
            nodes.push(node);
        }
        Peerdisc {
            nodes,
            joiner: None,
            victim: None,
            seed,
            interval_ms: opts.interval_ms,
            conns,
        }
    }

    fn converged(&self) -> bool {
        let n = self.nodes.len();
        self.nodes.iter().all(|x| x.registry().stats().alive == n - 1)
    }

    fn bytes_sent(&self) -> u64 {
        self.nodes
            .iter()
            .chain(self.joiner.iter())
            .map(|x| {
                let s = x.stats();
                s.transport.map_or(0, |t| t.bytes_sent) + s.datagram_bytes_out
            })
            .sum()
    }

    fn start_joiner(&mut self) {
        let node = builder(JOINER, self.interval_ms, self.conns)
            .bootstrap(self.seed.as_str())
            .start()
            .expect("start the joining node");
        self.joiner = Some(node);
    }

    fn joiner_known_by_all(&self) -> bool {
        self.running()
            .all(|x| x.registry().get(JOINER).is_some_and(|p| p.is_alive()))
    }

    fn kill(&mut self, i: usize) {
        // A crash: no leave message.
        self.nodes[i].abort().expect("abort");
        self.victim = Some(i);
    }

    fn victim_dead_at_all(&self) -> bool {
        let Some(v) = self.victim else { return false };
        let victim = id(v);
        self.running().chain(self.joiner.iter()).all(|x| {
            x.registry()
                .get(&victim)
                .is_some_and(|p| p.liveness == Liveness::Dead)
        })
    }

    fn sample(&self, dead: &mut HashSet<(usize, usize)>, suspect: &mut HashSet<(usize, usize)>) {
        for (i, x) in self.nodes.iter().enumerate() {
            if Some(i) == self.victim {
                continue;
            }
            for p in x.registry().list() {
                let Some(j) = index(p.node_id().as_str()) else {
                    continue; // the joiner
                };
                if Some(j) == self.victim {
                    continue;
                }
                match p.liveness {
                    Liveness::Dead | Liveness::Left => {
                        dead.insert((i, j));
                    }
                    Liveness::Suspect => {
                        suspect.insert((i, j));
                    }
                    Liveness::Alive => {}
                }
            }
        }
    }

    fn shutdown(self) {
        let all: Vec<Node> = self.nodes.into_iter().chain(self.joiner).collect();
        // Stop in parallel: a graceful stop waits about 30 ms for its leave
        // messages.
        std::thread::scope(|s| {
            for chunk in all.chunks(10) {
                s.spawn(move || {
                    for x in chunk {
                        let _ = x.stop();
                    }
                });
            }
        });
    }
}
