//! The measured scenarios. Each builds a network, runs it, and returns its
//! figures; `Display` prints them on one line.
//!
//! Large clusters start converged ([`Simulator::add_converged_cluster`]):
//! every node already knows every other, as after a long run; timers are
//! then warmed up before measuring.

use std::fmt;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub use super::cold_start::{cold_start, cold_start_spread, ColdResult};
use super::{NetworkConfig, SimConfig, Simulator};
use crate::membership::MembershipConfig;

fn sim(n: usize, loss: f64, seed: u64, membership: &MembershipConfig) -> Simulator {
    signed_sim(n, loss, seed, membership, false)
}

fn signed_sim(
    n: usize,
    loss: f64,
    seed: u64,
    membership: &MembershipConfig,
    signed: bool,
) -> Simulator {
    let mut s = Simulator::new(SimConfig {
        seed,
        membership: membership.clone(),
        network: NetworkConfig {
            loss,
            ..NetworkConfig::default()
        },
        signed,
    });
    s.add_converged_cluster(n);
    s
}

fn secs(ms: Option<u64>) -> String {
    ms.map_or_else(
        || "never".to_string(),
        |t| format!("{:.2} s", t as f64 / 1000.0),
    )
}

/// Median of the values that are `Some` (`None` if any is `None`).
pub fn median(times: &[Option<u64>]) -> Option<u64> {
    let mut v: Vec<u64> = times.iter().copied().collect::<Option<Vec<_>>>()?;
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    Some(v[v.len() / 2])
}

/// Traffic over a window of a run: per message type and the suspicion and
/// refutation share ([`Metrics::suspicion_bytes`](super::Metrics)), per
/// node per second.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Traffic {
    /// Per message type: (messages, bytes) per node per second.
    pub by_type: Vec<(&'static str, f64, f64)>,
    /// Suspicion and refutation bytes per node per second.
    pub suspicion_bytes_per_node_per_sec: f64,
}

/// A snapshot of the counters [`Traffic`] is computed from.
struct Counters {
    at: u64,
    by_type: std::collections::BTreeMap<&'static str, (u64, u64)>,
    suspicion: u64,
}

impl Counters {
    fn of(s: &Simulator) -> Self {
        Counters {
            at: s.now(),
            by_type: s.metrics().by_type.clone(),
            suspicion: s.metrics().suspicion_bytes,
        }
    }

    /// Traffic from this snapshot to now, per node of `n`.
    fn since(&self, s: &Simulator, n: usize) -> Traffic {
        let secs = (s.now().saturating_sub(self.at)).max(1) as f64 / 1000.0;
        let per = |x: u64| x as f64 / n.max(1) as f64 / secs;
        let by_type = s
            .metrics()
            .by_type
            .iter()
            .map(|(k, &(m, b))| {
                let (m0, b0) = self.by_type.get(k).copied().unwrap_or((0, 0));
                (*k, per(m - m0), per(b - b0))
            })
            .filter(|(_, m, _)| *m > 0.0)
            .collect();
        Traffic {
            by_type,
            suspicion_bytes_per_node_per_sec: per(s.metrics().suspicion_bytes - self.suspicion),
        }
    }
}

impl fmt::Display for Traffic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "suspicion+refutation {:.0} B/s per node; per node per type:",
            self.suspicion_bytes_per_node_per_sec
        )?;
        for (k, m, b) in &self.by_type {
            write!(f, " {k} {m:.1}/s {b:.0} B/s;")?;
        }
        Ok(())
    }
}

/// How fast a new node becomes known to everyone.
#[derive(Debug, Clone, PartialEq)]
pub struct JoinResult {
    /// Nodes already in the cluster.
    pub n: usize,
    /// Message loss.
    pub loss: f64,
    /// Time until 99.99 % of the nodes know the new node, ms.
    pub t_9999_ms: Option<u64>,
    /// Time until all of them do, ms.
    pub t_all_ms: Option<u64>,
    /// The gossip interval (one round), ms.
    pub round_ms: u64,
    /// Traffic from the join until all knew it (or the limit).
    pub traffic: Traffic,
}

impl fmt::Display for JoinResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rounds = |t: Option<u64>| t.map_or(f64::NAN, |t| t as f64 / self.round_ms as f64);
        write!(
            f,
            "join N={} loss={:.0}%: 99.99% in {} ({:.1} rounds), 100% in {} ({:.1} rounds)",
            self.n,
            self.loss * 100.0,
            secs(self.t_9999_ms),
            rounds(self.t_9999_ms),
            secs(self.t_all_ms),
            rounds(self.t_all_ms),
        )?;
        if self.loss >= 0.5 {
            write!(f, "; {}", self.traffic)?;
        }
        Ok(())
    }
}

/// A new node joins a converged cluster of `n` through one random member.
/// `signed`: every node has an identity and verifies every record it
/// accepts ([`SimConfig::signed`]).
pub fn join_convergence(
    n: usize,
    loss: f64,
    seed: u64,
    m: &MembershipConfig,
    signed: bool,
) -> JoinResult {
    let mut s = signed_sim(n, loss, seed, m, signed);
    s.run_for(1_000);
    let new = s.add_node();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    let via = rng.random_range(0..n);
    let t0 = s.now();
    let c0 = Counters::of(&s);
    s.join(new, via);
    let want = ((n as f64) * 0.9999).ceil() as usize;
    let limit = t0 + 60_000;
    let t1 = s.run_until_or(limit, |s| s.known_by(new) >= want);
    let t2 = t1.and_then(|_| s.run_until_or(limit, |s| s.known_by(new) >= n));
    JoinResult {
        n,
        loss,
        t_9999_ms: t1.map(|t| t - t0),
        t_all_ms: t2.map(|t| t - t0),
        round_ms: m.gossip_interval_ms,
        traffic: c0.since(&s, n),
    }
}

/// Steady-state traffic.
#[derive(Debug, Clone, PartialEq)]
pub struct BandwidthResult {
    /// Cluster size.
    pub n: usize,
    /// Measured window, ms (one full anti-entropy period or more).
    pub window_ms: u64,
    /// Encoded bytes sent per node per second.
    pub bytes_per_node_per_sec: f64,
    /// Messages sent per node per second.
    pub messages_per_node_per_sec: f64,
}

impl fmt::Display for BandwidthResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "steady N={}: {:.0} B/s per node ({:.1} KB/s), {:.1} msg/s per node, window {:.0} s",
            self.n,
            self.bytes_per_node_per_sec,
            self.bytes_per_node_per_sec / 1000.0,
            self.messages_per_node_per_sec,
            self.window_ms as f64 / 1000.0
        )
    }
}

/// Bytes per node per second in a converged, lossless cluster of `n`, over
/// one anti-entropy period (so push-pull is counted at its true rate).
/// `signed`: as in [`join_convergence`].
pub fn steady_bandwidth(
    n: usize,
    seed: u64,
    m: &MembershipConfig,
    signed: bool,
) -> BandwidthResult {
    steady_bandwidth_at(n, 0.0, seed, m, signed)
}

/// [`steady_bandwidth`] with `loss` of the messages lost: the failed probes
/// start suspicions, and their refutations (signed, in a signed cluster)
/// travel with the rest.
pub fn steady_bandwidth_at(
    n: usize,
    loss: f64,
    seed: u64,
    m: &MembershipConfig,
    signed: bool,
) -> BandwidthResult {
    let mut s = signed_sim(n, loss, seed, m, signed);
    s.run_for(5_000);
    let window = m.push_pull_interval(n).max(10_000);
    let (b0, m0) = (s.total_bytes_sent(), s.metrics().messages_sent);
    s.run_for(window);
    let (b1, m1) = (s.total_bytes_sent(), s.metrics().messages_sent);
    let per = |x: u64| x as f64 / n as f64 / (window as f64 / 1000.0);
    BandwidthResult {
        n,
        window_ms: window,
        bytes_per_node_per_sec: per(b1 - b0),
        messages_per_node_per_sec: per(m1 - m0),
    }
}

/// Crash detection and false positives.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectionResult {
    /// Cluster size.
    pub n: usize,
    /// Message loss.
    pub loss: f64,
    /// Quiet time observed before the first crash, ms.
    pub quiet_ms: u64,
    /// Per crash: time until every live node holds the crashed one dead.
    pub detection_ms: Vec<Option<u64>>,
    /// Failed probes of healthy nodes (suspicions started) over the run.
    pub false_suspicions: u64,
    /// Healthy nodes declared dead by a suspicion timeout over the run.
    pub false_death_declarations: u64,
    /// (observer, healthy node) views turned dead over the run.
    pub false_dead_views: u64,
    /// Refutations over the run.
    pub refutations: u64,
    /// False death declarations during the quiet time only.
    pub quiet_false_deaths: u64,
    /// Traffic over the quiet time (no crash: the load of false
    /// suspicions alone).
    pub quiet_traffic: Traffic,
}

impl DetectionResult {
    /// Median detection time.
    pub fn median_ms(&self) -> Option<u64> {
        median(&self.detection_ms)
    }

    /// Slowest detection.
    pub fn max_ms(&self) -> Option<u64> {
        self.detection_ms
            .iter()
            .copied()
            .collect::<Option<Vec<_>>>()
            .and_then(|v| v.into_iter().max())
    }
}

impl fmt::Display for DetectionResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "failure N={} loss={:.0}%: {} quiet s with {} false deaths; {} of {} crashes detected by all within 60 s, median {} (max {}){}; over the run: {} false suspicions, {} refutations, {} false death declarations, {} false dead views",
            self.n,
            self.loss * 100.0,
            self.quiet_ms / 1000,
            self.quiet_false_deaths,
            self.detection_ms.iter().filter(|t| t.is_some()).count(),
            self.detection_ms.len(),
            secs(self.median_ms()),
            secs(self.max_ms()),
            if self.detection_ms.iter().any(Option::is_none) {
                let detected: Vec<Option<u64>> =
                    self.detection_ms.iter().copied().filter(Option::is_some).collect();
                format!(
                    " [of those detected: median {}, max {}]",
                    secs(median(&detected)),
                    secs(detected.iter().copied().flatten().max())
                )
            } else {
                String::new()
            },
            self.false_suspicions,
            self.refutations,
            self.false_death_declarations,
            self.false_dead_views,
        )?;
        if self.loss > 0.0 {
            write!(f, "; quiet time: {}", self.quiet_traffic)?;
        }
        Ok(())
    }
}

/// Runs a converged cluster of `n` at `loss` for `quiet_ms` (counting false
/// suspicions and deaths), then crashes `crashes` random nodes one after
/// the other, measuring how long until every live node holds each dead.
pub fn failure_detection(
    n: usize,
    loss: f64,
    quiet_ms: u64,
    crashes: usize,
    seed: u64,
    m: &MembershipConfig,
) -> DetectionResult {
    let mut s = sim(n, loss, seed, m);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xdead);
    s.run_for(2_000);
    let c0 = Counters::of(&s);
    s.run_for(quiet_ms);
    let quiet_traffic = c0.since(&s, n);
    let quiet_false_deaths = s.metrics().false_death_declarations;
    let mut detection_ms = Vec::new();
    for _ in 0..crashes {
        let victim = loop {
            let v = rng.random_range(0..n);
            if s.is_up(v) {
                break v;
            }
        };
        let t0 = s.now();
        s.crash(victim);
        let t = s.run_until_or(t0 + 60_000, |s| s.dead_by(victim) >= s.up_count());
        detection_ms.push(t.map(|t| t - t0));
        s.run_for(1_000 + rng.random_range(0..1_000));
    }
    let mt = s.metrics();
    DetectionResult {
        n,
        loss,
        quiet_ms,
        detection_ms,
        false_suspicions: mt.false_suspicions,
        false_death_declarations: mt.false_death_declarations,
        false_dead_views: mt.false_dead_views,
        refutations: mt.refutations,
        quiet_false_deaths,
        quiet_traffic,
    }
}

/// A 50/50 partition and its healing.
#[derive(Debug, Clone, PartialEq)]
pub struct RemergeResult {
    /// Cluster size.
    pub n: usize,
    /// How long the partition lasted, ms.
    pub partition_ms: u64,
    /// Fraction of cross-partition views that were dead when it healed.
    pub dead_fraction_at_heal: f64,
    /// Time from healing until every node holds every other alive, ms.
    pub remerge_ms: Option<u64>,
}

impl fmt::Display for RemergeResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "partition N={} 50/50 for {:.0} s ({:.0}% of cross views dead at heal): re-merged in {}",
            self.n,
            self.partition_ms as f64 / 1000.0,
            self.dead_fraction_at_heal * 100.0,
            secs(self.remerge_ms)
        )
    }
}

/// Splits a converged cluster of `n` in two halves for `partition_ms`,
/// heals it, and measures the time until every node holds every other
/// alive again.
pub fn partition_remerge(
    n: usize,
    partition_ms: u64,
    seed: u64,
    m: &MembershipConfig,
) -> RemergeResult {
    let mut s = sim(n, 0.0, seed, m);
    s.run_for(2_000);
    for i in 0..n {
        s.set_group(i, if i < n / 2 { 1 } else { 2 });
    }
    s.run_for(partition_ms);
    let cross = 2 * (n / 2) * (n - n / 2);
    let dead: usize = (0..n).map(|t| s.dead_by(t)).sum();
    s.heal();
    let t0 = s.now();
    let t = s.run_until_or(t0 + 300_000, |s| s.fully_alive());
    RemergeResult {
        n,
        partition_ms,
        dead_fraction_at_heal: dead as f64 / cross as f64,
        remerge_ms: t.map(|t| t - t0),
    }
}
