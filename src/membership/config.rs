/// Tuning of the membership protocol. Times are milliseconds.
///
/// The defaults aim at a LAN/datacenter cluster of up to about 10,000 nodes
/// with 200 ms gossip; see PROTOCOL.md for how each value was chosen and
/// BENCHMARKS.md ("Membership protocol in the simulator") for what they
/// give.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MembershipConfig {
    /// How often queued updates are pushed to `fanout` peers.
    pub gossip_interval_ms: u64,
    /// Peers per gossip round.
    pub fanout: usize,
    /// Each update is sent about `retransmit_mult * ceil(log10(N + 1))`
    /// times by every node that holds it (deaths and leaves twice as
    /// often: PROTOCOL.md, "Dissemination").
    pub retransmit_mult: u32,
    /// One direct probe per probe interval (times the local-health
    /// multiplier).
    pub probe_interval_ms: u64,
    /// How long to wait for a direct `ack` before asking `indirect_probes`
    /// peers to probe (times the local-health multiplier).
    pub probe_timeout_ms: u64,
    /// Peers asked to probe indirectly (`ping_req`).
    pub indirect_probes: usize,
    /// Suspicion timeout floor: `suspicion_mult * max(1, log10 N) *
    /// probe_interval`.
    pub suspicion_mult: f64,
    /// Suspicion timeout ceiling, as a multiple of the floor.
    pub suspicion_max_mult: f64,
    /// Independent confirmations after which the timeout reaches its floor.
    pub suspicion_confirmations: u32,
    /// Highest local-health score (Lifeguard's awareness); the multiplier
    /// is `1 + score`.
    pub max_local_health: u32,
    /// Weight of the local-health score on the probe interval (0: none,
    /// 1: Lifeguard's full multiplier).
    pub awareness_interval_weight: f64,
    /// Weight of the local-health score on the suspicion timeout.
    pub awareness_suspicion_weight: f64,
    /// Base anti-entropy interval, scaled up with the cluster size above 32
    /// nodes as memberlist does (`* (ceil(log2 N - 5) + 1)`).
    pub push_pull_interval_ms: u64,
    /// How often one dead peer is tried again (to re-merge healed
    /// partitions). Each dead peer also has its own backoff.
    pub reconnect_interval_ms: u64,
    /// First backoff for an unreachable peer or seed; doubles per failure.
    pub backoff_base_ms: u64,
    /// Backoff ceiling.
    pub backoff_cap_ms: u64,
    /// Dead peers are forgotten after this long.
    pub dead_reclaim_ms: u64,
    /// Peers that left are forgotten after this long.
    pub left_reclaim_ms: u64,
    /// Byte budget of the updates in one `gossip_announcement`.
    pub max_gossip_bytes: usize,
    /// Byte budget of updates piggybacked on a `ping` or `ack`.
    pub max_piggyback_bytes: usize,
    /// Records sent in answer to `hello` (bootstrap).
    pub peer_list_size: usize,
    /// Refuse every unsigned record, also of nodes with hand-picked ids
    /// (an open network). Off by default: records that carry a signature
    /// are always verified, and those of nodes whose id is derived from a
    /// key must always carry one (`peerdisc::identity::check_record`).
    /// The same switch makes liveness claims (`alive`, `leave`) and
    /// connection greetings of every node need their signature
    /// (PROTOCOL.md, "Signed liveness").
    pub require_signed_records: bool,
    /// Seed-compatible mode, for networks that still have nodes of the
    /// earlier Python (seed) system. Off by default. When on: a bare
    /// `gossip_announcement` (no greeting first) is accepted, the sender
    /// taken to be its first listed peer; seed peer entries and
    /// announcements with fields peerdisc does not define are accepted (the
    /// extra fields dropped); and every `announce_interval_ms` the node
    /// sends a seed-shaped announcement (itself and its live peers, Unix
    /// timestamp) to every member that has not left. PROTOCOL.md lists what
    /// an earlier-system peer can and cannot see.
    pub seed_compatible: bool,
    /// How often a seed-compatible node announces itself (the seed
    /// system's `announce_interval`, 60 s there too). Unused when
    /// `seed_compatible` is off.
    pub announce_interval_ms: u64,
}

impl Default for MembershipConfig {
    fn default() -> Self {
        MembershipConfig {
            gossip_interval_ms: 200,
            fanout: 3,
            retransmit_mult: 4,
            probe_interval_ms: 200,
            probe_timeout_ms: 80,
            indirect_probes: 5,
            suspicion_mult: 2.0,
            suspicion_max_mult: 6.0,
            suspicion_confirmations: 3,
            max_local_health: 8,
            awareness_interval_weight: 0.0,
            awareness_suspicion_weight: 0.05,
            push_pull_interval_ms: 30_000,
            reconnect_interval_ms: 1_000,
            backoff_base_ms: 1_000,
            backoff_cap_ms: 30_000,
            dead_reclaim_ms: 15 * 60_000,
            left_reclaim_ms: 5 * 60_000,
            max_gossip_bytes: 16 * 1024,
            max_piggyback_bytes: 1024,
            peer_list_size: crate::wire::MAX_PEERS_PER_MESSAGE,
            require_signed_records: false,
            seed_compatible: false,
            announce_interval_ms: 60_000,
        }
    }
}

impl MembershipConfig {
    /// Retransmissions per update for a cluster of `n` nodes.
    pub fn retransmit_limit(&self, n: usize) -> u32 {
        let log = ((n as f64 + 1.0).log10()).ceil().max(1.0) as u32;
        self.retransmit_mult.saturating_mul(log).max(1)
    }

    /// The anti-entropy interval for a cluster of `n` nodes.
    pub fn push_pull_interval(&self, n: usize) -> u64 {
        if n <= 32 {
            return self.push_pull_interval_ms;
        }
        let scale = ((n as f64).log2() - 5.0).ceil().max(0.0) as u64 + 1;
        self.push_pull_interval_ms.saturating_mul(scale)
    }

    /// `(min, max)` suspicion timeouts for `n` nodes, before the
    /// local-health multiplier.
    pub fn suspicion_bounds(&self, n: usize) -> (u64, u64) {
        let log = (n.max(1) as f64).log10().max(1.0);
        let min = self.suspicion_mult * log * self.probe_interval_ms as f64;
        (min as u64, (min * self.suspicion_max_mult) as u64)
    }

    /// Checks the values are usable.
    pub fn validate(&self) -> Result<(), super::MembershipError> {
        let bad = |what: &'static str| Err(super::MembershipError::InvalidConfig(what));
        if self.gossip_interval_ms == 0 || self.probe_interval_ms == 0 {
            return bad("intervals must be above zero");
        }
        if self.probe_timeout_ms >= self.probe_interval_ms {
            return bad("probe_timeout_ms must be below probe_interval_ms");
        }
        if self.fanout == 0 {
            return bad("fanout must be at least 1");
        }
        if !(self.suspicion_mult > 0.0 && self.suspicion_max_mult >= 1.0) {
            return bad("suspicion multipliers must be positive (max at least 1)");
        }
        if !(0.0..=1.0).contains(&self.awareness_interval_weight)
            || !(0.0..=1.0).contains(&self.awareness_suspicion_weight)
        {
            return bad("awareness weights must be within 0..=1");
        }
        if self.backoff_base_ms == 0 || self.backoff_cap_ms < self.backoff_base_ms {
            return bad("backoff_base_ms must be above zero and at most backoff_cap_ms");
        }
        if self.seed_compatible && self.announce_interval_ms == 0 {
            return bad("announce_interval_ms must be above zero in seed-compatible mode");
        }
        if self.peer_list_size > crate::wire::MAX_PEERS_PER_MESSAGE {
            return bad("peer_list_size is above the per-message peer limit");
        }
        Ok(())
    }
}
