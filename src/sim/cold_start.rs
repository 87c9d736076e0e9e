//! The cold start: every node of a cluster starts at the same moment with
//! the same bootstrap list (a fleet restart), and nobody knows anybody yet.

use std::fmt;

use super::{NetworkConfig, SimConfig, Simulator};
use crate::membership::MembershipConfig;

/// How a cold start went. Times are from the common start, ms; byte counts
/// are up to the moment every view was alive (or the end of the run).
#[derive(Debug, Clone, PartialEq)]
pub struct ColdResult {
    /// Nodes.
    pub n: usize,
    /// Message loss.
    pub loss: f64,
    /// Seeds (nodes `0..seeds`, the bootstrap list of every node).
    pub seeds: usize,
    /// Over how long the nodes started, ms (0: all at once).
    pub spread_ms: u64,
    /// Time until 50 %, 99 %, 99.99 % and 100 % of the (observer, target)
    /// views are present (alive or suspect).
    pub t_present_ms: [Option<u64>; 4],
    /// Time until every view is alive: the cluster has converged.
    pub t_alive_ms: Option<u64>,
    /// Simulated time covered by the byte counts, ms.
    pub measured_ms: u64,
    /// Bytes sent by all nodes, divided by `n`.
    pub bytes_per_node: u64,
    /// The node that sent the most in the first second, and how much.
    pub busiest_first_second: (usize, u64),
    /// The node that sent the most in total, and how much.
    pub busiest_total: (usize, u64),
    /// The median of the nodes' bytes sent.
    pub median_total: u64,
    /// Bytes sent by the seeds together.
    pub seed_bytes: u64,
    /// Messages and bytes sent, per message type, largest first.
    pub by_type: Vec<(&'static str, u64, u64)>,
    /// Stream connections opened until converged (pairs of nodes that
    /// exchanged a stream message), per node.
    pub connections_per_node: f64,
}

impl ColdResult {
    /// The busiest node's bytes over the median node's.
    pub fn busiest_over_median(&self) -> f64 {
        self.busiest_total.1 as f64 / self.median_total.max(1) as f64
    }

    /// The seeds' share of all bytes sent, 0..=1.
    pub fn seed_share(&self) -> f64 {
        self.seed_bytes as f64 / (self.bytes_per_node * self.n as u64).max(1) as f64
    }
}

fn secs(ms: Option<u64>) -> String {
    ms.map_or_else(
        || "never".to_string(),
        |t| format!("{:.2} s", t as f64 / 1000.0),
    )
}

fn size(b: u64) -> String {
    if b >= 1_000_000 {
        format!("{:.2} MB", b as f64 / 1e6)
    } else {
        format!("{:.1} KB", b as f64 / 1e3)
    }
}

impl fmt::Display for ColdResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [p50, p99, p9999, p100] = self.t_present_ms;
        write!(
            f,
            "cold N={} loss={:.0}% seeds={}{}: views present 50% {}, 99% {}, 99.99% {}, 100% {}; all alive {}; \
             until then ({:.1} s): {} per node, median node {}, busiest node {} (node {}, {:.1}x median), \
             busiest in the first second {} (node {}), seeds {} ({:.1}% of all)",
            self.n,
            self.loss * 100.0,
            self.seeds,
            if self.spread_ms > 0 {
                format!(" start spread {} ms", self.spread_ms)
            } else {
                String::new()
            },
            secs(p50),
            secs(p99),
            secs(p9999),
            secs(p100),
            secs(self.t_alive_ms),
            self.measured_ms as f64 / 1000.0,
            size(self.bytes_per_node),
            size(self.median_total),
            size(self.busiest_total.1),
            self.busiest_total.0,
            self.busiest_over_median(),
            size(self.busiest_first_second.1),
            self.busiest_first_second.0,
            size(self.seed_bytes),
            self.seed_share() * 100.0,
        )?;
        write!(
            f,
            "; {:.1} stream connections per node; by type:",
            self.connections_per_node
        )?;
        for (kind, msgs, bytes) in &self.by_type {
            write!(f, " {kind} {} ({msgs} msgs)", size(*bytes))?;
        }
        Ok(())
    }
}

/// What the run watches after every event: the milestones' times and the
/// bytes of each node at the end of the first second.
struct Watch {
    thresholds: [u64; 4],
    present: [Option<u64>; 4],
    alive: Option<u64>,
    first_second: Option<Vec<u64>>,
}

impl Watch {
    fn check(&mut self, s: &Simulator) -> bool {
        let views = s.present_views();
        for (k, t) in self.thresholds.iter().enumerate() {
            if self.present[k].is_none() && views >= *t {
                self.present[k] = Some(s.now());
            }
        }
        if self.first_second.is_none() && s.now() >= 1_000 {
            self.first_second = Some((0..s.len()).map(|i| s.bytes_sent(i)).collect());
        }
        if self.alive.is_none() && s.fully_alive() {
            self.alive = Some(s.now());
        }
        self.alive.is_some()
    }
}

/// `n` nodes start at time 0, each with nodes `0..seeds` as its bootstrap
/// list (a seed lists the other seeds), at `loss`; runs until every node
/// holds every other alive, or `limit_ms`.
pub fn cold_start(
    n: usize,
    loss: f64,
    seeds: usize,
    seed: u64,
    m: &MembershipConfig,
    limit_ms: u64,
) -> ColdResult {
    cold_start_spread(n, loss, seeds, 0, seed, m, limit_ms)
}

/// As [`cold_start`], but node `i` starts at `i * spread_ms / n` (processes
/// spawned one after another, as the daemon bench does: its 100 daemons
/// start over about 0.9 s).
pub fn cold_start_spread(
    n: usize,
    loss: f64,
    seeds: usize,
    spread_ms: u64,
    seed: u64,
    m: &MembershipConfig,
    limit_ms: u64,
) -> ColdResult {
    let seeds = seeds.clamp(1, n);
    let mut s = Simulator::new(SimConfig {
        seed,
        membership: m.clone(),
        network: NetworkConfig {
            loss,
            ..NetworkConfig::default()
        },
        signed: false,
    });
    for _ in 0..n {
        s.add_node();
    }
    let views = (n as u64) * (n as u64 - 1);
    let at = |f: f64| ((views as f64) * f).ceil() as u64;
    let mut w = Watch {
        thresholds: [at(0.5), at(0.99), at(0.9999), views],
        present: [None; 4],
        alive: None,
        first_second: None,
    };
    let list: Vec<usize> = (0..seeds).collect();
    for i in 0..n {
        let start = (i as u64).saturating_mul(spread_ms) / n as u64;
        if start > s.now() {
            s.run_until_or(start.min(limit_ms), |s| {
                w.check(s);
                false
            });
        }
        let others: Vec<usize> = list.iter().copied().filter(|&k| k != i).collect();
        if !others.is_empty() {
            s.join_via(i, &others);
        }
    }
    s.run_until_or(limit_ms, |s| w.check(s));
    let measured_ms = s.now();
    let totals: Vec<u64> = (0..n).map(|i| s.bytes_sent(i)).collect();
    let first = w.first_second.clone().unwrap_or_else(|| totals.clone());
    let busiest = |v: &[u64]| {
        v.iter()
            .copied()
            .enumerate()
            .max_by_key(|&(i, b)| (b, std::cmp::Reverse(i)))
            .unwrap_or((0, 0))
    };
    let mut sorted = totals.clone();
    sorted.sort_unstable();
    let mut by_type: Vec<(&'static str, u64, u64)> = s
        .metrics()
        .by_type
        .iter()
        .map(|(k, (m, b))| (*k, *m, *b))
        .collect();
    by_type.sort_by_key(|t| std::cmp::Reverse(t.2));
    ColdResult {
        n,
        loss,
        seeds,
        spread_ms,
        t_present_ms: w.present,
        t_alive_ms: w.alive,
        measured_ms,
        bytes_per_node: s.total_bytes_sent() / n as u64,
        busiest_first_second: busiest(&first),
        busiest_total: busiest(&totals),
        median_total: sorted[n / 2],
        seed_bytes: totals[..seeds].iter().sum(),
        by_type,
        connections_per_node: s.metrics().stream_pairs.len() as f64 / n as f64,
    }
}
