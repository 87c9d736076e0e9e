//! Dissemination rounds, push-pull anti-entropy, reconnecting to dead
//! members (healing partitions) and reclaiming the long dead.

use super::*;
use crate::wire::{id_hash, SummaryBuckets};

/// What a digest entry says the asker holds: incarnation, liveness, record
/// version, and whether its word about itself is signed.
type Held = (u64, Liveness, u64, bool);

/// The fewest new members one anti-entropy exchange may hand a node.
const EXCHANGE_FLOOR: usize = 64;

impl Membership {
    pub(super) fn gossip_round(&mut self, now: u64) {
        if self.broadcasts.is_empty() {
            return;
        }
        let mut targets: Vec<NodeId> = Vec::new();
        for _ in 0..self.config.fanout {
            let exclude: Vec<&NodeId> = targets.iter().collect();
            let Some(i) = self.members.random_present(&mut self.rng, &exclude) else {
                break;
            };
            let id = self.members.at(i).node_id().clone();
            if !targets.contains(&id) {
                targets.push(id);
            }
        }
        for t in targets {
            if self.broadcasts.is_empty() {
                break;
            }
            let pig = self.piggyback(self.config.max_gossip_bytes, &t);
            if pig.states.is_empty() {
                continue; // nothing it lacks
            }
            let g = GossipAnnouncement {
                timestamp: self.unix_seconds(now),
                peers: pig.peers.into_iter().map(AnnouncedPeer::Record).collect(),
                states: pig.states,
            };
            self.send(&t, Message::GossipAnnouncement(g));
        }
    }

    /// A gossip round out of turn, for news that must not wait for the
    /// next tick (a death: every hop would otherwise add half a gossip
    /// interval on average). At most four per gossip interval, so that a
    /// burst of deaths (a partition) does not become a burst of rounds.
    pub(super) fn gossip_now(&mut self, now: u64) {
        if now < self.next_eager_ms {
            return;
        }
        self.next_eager_ms = now + (self.config.gossip_interval_ms / 4).max(1);
        self.gossip_round(now);
    }

    pub(super) fn digest(&mut self) -> (Vec<MemberState>, bool) {
        let n = self.members.len();
        let cap = MAX_STATES_PER_MESSAGE - 1;
        let mut states = Vec::with_capacity(n.min(cap) + 1);
        states.push(self.my_state());
        let complete = n <= cap;
        let start = if complete {
            0
        } else {
            self.rng.random_range(0..n)
        };
        for k in 0..n.min(cap) {
            let m = self.members.at((start + k) % n);
            states.push(self.with_sig(Self::state_of(m, None)));
        }
        (states, complete)
    }

    /// One anti-entropy round: a digest exchange with a random present
    /// member, not one of this node's bootstrap nodes while it knows
    /// another. The next round comes at the catch-up pace (see `join.rs`),
    /// at most the N-scaled interval.
    pub(super) fn push_pull_round(&mut self, now: u64) {
        let normal = self.push_pull_interval();
        let spacing = self
            .joining
            .pace_ms
            .map_or(normal, |p| self.catch_up_spacing(p).min(normal));
        self.next_push_pull_ms = now + spacing;
        let seeds: Vec<&NodeId> = self.joining.bootstraps.iter().collect();
        let partner = self
            .members
            .random_present(&mut self.rng, &seeds)
            .or_else(|| self.members.random_present(&mut self.rng, &[]));
        if let Some(i) = partner {
            let id = self.members.at(i).node_id().clone();
            self.start_push_pull(&id);
            self.joining.exchange_started(id, now);
        }
    }

    /// The spacing of catch-up exchanges: the catch-up `pace`, or twice
    /// the time the answer to this node's last exchange took when that is
    /// longer, at most one gossip interval (the pace before catch-up was
    /// made faster). Only a catch-up's own answers count: once caught up
    /// the timing is forgotten, and the next catch-up starts at the pace.
    /// Where answers come within half the pace nothing
    /// changes (the simulator's cold starts, 0 % loss, are identical). On a
    /// host whose CPU is saturated (200 daemons started at once on 2
    /// cores, answers taking 100 ms and more) a node would otherwise start
    /// exchanges faster than it is answered, each bringing records that the
    /// next brings again: the work that slows every answer further. There,
    /// 17 interleaved pairs: all know all 2.23-2.83 s against 2.41-3.49 s,
    /// the daemons' CPU about 15 % lower (BENCHMARKS.md). At most one gossip
    /// interval: longer spacings (up to 1 s) left a few nodes waiting for
    /// their last records after one slow answer.
    pub(super) fn catch_up_spacing(&self, pace: u64) -> u64 {
        self.joining.spacing(pace, self.config.gossip_interval_ms)
    }

    /// Starts an exchange: a summary when the last one taught little
    /// (`summary.rs`), else the digest.
    pub(super) fn start_push_pull(&mut self, to: &NodeId) {
        let pp = if self.wants_summary() {
            self.summary_request()
        } else {
            let (states, complete) = self.digest();
            PushPull {
                complete,
                states,
                ..Default::default()
            }
        };
        self.send(to, Message::PushPull(pp));
    }

    pub(super) fn on_push_pull(&mut self, from: &NodeId, mut pp: PushPull, now: u64) {
        // The answer to an exchange of this node's (a reply, or the
        // partner's digest over the buckets its summary found different).
        if pp.reply || pp.within.is_some() {
            self.joining.exchange_answered(from, now);
        }
        if !pp.reply {
            if let Some(summary) = pp.summary.take() {
                self.on_summary(from, pp, summary, now);
                return;
            }
        }
        // The answer to this node's summary: a digest complete over the
        // buckets that differ (members elsewhere are held alike).
        let within = pp.within.take();
        let complete_for = |h: u64| pp.complete || within.as_ref().is_some_and(|w| w.contains(h));
        // What the sender holds, judged before merging its digest.
        let theirs: HashMap<NodeId, Held> = pp
            .states
            .iter()
            .map(|s| {
                let held = (s.incarnation, s.liveness, s.version, s.sig.is_some());
                (s.node_id.clone(), held)
            })
            .collect();
        // What the sender lacks: records (older version, or absent from a
        // complete digest), at most as many new members as it knows (see
        // `exchange_cap`).
        let mut lacking: Vec<Arc<PeerRecord>> = Vec::new();
        if !pp.reply {
            let cap = Self::exchange_cap(pp.states.len());
            let mut new_members = 0;
            let mut lacks = |id: &NodeId, h: u64, version: u64| match theirs.get(id) {
                Some(t) => t.2 < version,
                None if complete_for(h) && new_members < cap => {
                    new_members += 1;
                    true
                }
                None => false,
            };
            if lacks(&self.me.node_id, id_hash(&self.me.node_id), self.me.version) {
                lacking.push(self.me.clone());
            }
            for m in self.members.iter() {
                if lacking.len() >= MAX_PEERS_PER_MESSAGE {
                    break;
                }
                if m.liveness.is_present()
                    && m.node_id() != from
                    && lacks(m.node_id(), m.id_hash, m.record.version)
                {
                    lacking.push(m.record.clone());
                }
            }
            // Nor does this node ask for more new members than it knows.
            let mut room = Self::exchange_cap(self.members.len() + 1);
            let members = &self.members;
            pp.states.retain(|s| {
                if s.node_id == self.me.node_id || members.get(&s.node_id).is_some() {
                    return true;
                }
                if room == 0 {
                    return false;
                }
                room -= 1;
                true
            });
        }
        // What this node lacks: members it does not know, newer records.
        let missing = pp
            .states
            .iter()
            .filter(|s| {
                s.node_id != self.me.node_id
                    && match self.members.get(&s.node_id) {
                        Some(m) => s.version > m.record.version,
                        None => s.liveness.is_present(),
                    }
            })
            .count();
        let learned = self.joining.learned;
        self.apply_updates(from, pp.peers, pp.states, Source::Digest, now);
        let taught = missing + (self.joining.learned - learned) as usize;
        let asked = pp.reply || within.is_some();
        if asked {
            self.joining.last_taught = Some(taught);
        }
        if taught > 0 || asked {
            // The pace of the next exchanges (a responder that learned
            // nothing keeps its own).
            self.exchange_taught(taught, now);
        }
        if !pp.reply {
            let (states, complete) = if pp.complete || within.is_some() {
                (self.digest_diff(&theirs, &lacking, within.as_ref()), false)
            } else {
                self.digest()
            };
            let reply = PushPull {
                reply: true,
                complete,
                states,
                peers: lacking,
                ..Default::default()
            };
            self.send(from, Message::PushPull(reply));
        }
    }

    /// New members one exchange hands a node that knows `known` (itself
    /// included): as many as it knows, at least `EXCHANGE_FLOOR`. Knowledge
    /// still doubles per exchange, and a member that knows everything (a
    /// seed, an early joiner) is not made to hand everything to each of
    /// the many joiners that know almost nothing.
    fn exchange_cap(known: usize) -> usize {
        known.clamp(EXCHANGE_FLOOR, MAX_PEERS_PER_MESSAGE)
    }

    /// The answer to a complete digest: the states the asker lacks or
    /// holds older (by the merge order, or an older record version), the
    /// news both hold, and this node's own; a plain alive state the asker
    /// holds is not sent back. A member
    /// whose record goes along (`records`) needs no state when it is alive
    /// at incarnation 0.
    fn digest_diff(
        &self,
        theirs: &HashMap<NodeId, Held>,
        records: &[Arc<PeerRecord>],
        within: Option<&SummaryBuckets>,
    ) -> Vec<MemberState> {
        let sent: std::collections::HashSet<&NodeId> = records.iter().map(|r| &r.node_id).collect();
        let mut states = vec![self.my_state()];
        for m in self.members.iter() {
            if within.is_some_and(|w| !w.contains(m.id_hash)) {
                continue; // held alike (the summary sums agree)
            }
            let st = self.with_sig(Self::state_of(m, None));
            let needed = match theirs.get(m.node_id()) {
                // A state both hold is sent again when it is news: a
                // suspicion or death (a confirmation, for Lifeguard), a
                // refutation (an incarnation above 0), a signed word the
                // asker holds unsigned; the asker then knows this node
                // holds it (and does not send it the news again). Healed
                // partitions re-merge on such news.
                Some(&(inc, l, v, signed)) => {
                    let same = (l, inc) == (m.liveness, m.incarnation);
                    let news = m.liveness != Liveness::Alive
                        || m.incarnation > 0
                        || (st.sig.is_some() && !signed);
                    overrides(m.liveness, m.incarnation, l, inc)
                        || m.record.version > v
                        || (same && news)
                }
                // A member it lacks goes with its record, or not at all
                // (beyond the exchange's cap: a later exchange brings it).
                None => sent.contains(m.node_id()) && !Self::record_says_all(m),
            };
            if needed && states.len() < MAX_STATES_PER_MESSAGE {
                states.push(st);
            }
        }
        states
    }

    pub(super) fn reconnect_one(&mut self, now: u64) {
        let due: Vec<NodeId> = self
            .members
            .down()
            .iter()
            .filter(|id| {
                self.members
                    .get(id)
                    .is_some_and(|m| m.liveness == Liveness::Dead && m.next_attempt_ms <= now)
            })
            .cloned()
            .collect();
        if due.is_empty() {
            return;
        }
        let target = due[self.rng.random_range(0..due.len())].clone();
        let seq = self.next_seq();
        let attempts = {
            let Some(m) = self.members.get_mut(&target) else {
                return;
            };
            m.attempts = m.attempts.saturating_add(1);
            u32::from(m.attempts)
        };
        let delay = self.backoff(attempts);
        let mut ping = Ping::new(seq, target.clone());
        if let Some(m) = self.members.get_mut(&target) {
            m.next_attempt_ms = now + delay;
            ping.states.push(Self::state_of(m, None));
        }
        ping.states.push(self.my_state());
        self.send(&target, Message::Ping(ping));
        self.reconnects.push(Reconnect {
            seq,
            target,
            deadline_ms: now + self.config.probe_interval_ms * 2,
        });
    }

    pub(super) fn expire_reconnects(&mut self, now: u64) {
        let mut failed = Vec::new();
        self.reconnects.retain(|r| {
            if r.deadline_ms <= now {
                failed.push(r.target.clone());
                false
            } else {
                true
            }
        });
        for id in failed {
            self.outcome(&id, false);
        }
    }

    pub(super) fn reclaim(&mut self, now: u64) {
        let mut gone = Vec::new();
        for id in self.members.down() {
            let Some(m) = self.members.get(id) else {
                continue;
            };
            let (limit, reason) = match m.liveness {
                Liveness::Dead => (self.config.dead_reclaim_ms, RemovalReason::DeadReclaimed),
                Liveness::Left => (self.config.left_reclaim_ms, RemovalReason::LeftReclaimed),
                _ => continue,
            };
            if m.since_ms.saturating_add(limit) <= now {
                gone.push((id.clone(), reason));
            }
        }
        for (id, reason) in gone {
            self.members.remove(&id);
            self.suspicions.remove(&id);
            self.forget_word(&id);
            self.emit(Output::Registry(RegistryChange::Remove {
                node_id: id.clone(),
                reason,
            }));
            self.event(MembershipEvent::Removed {
                node_id: id,
                reason,
            });
        }
    }
}
