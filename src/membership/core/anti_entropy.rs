//! Dissemination rounds, push-pull anti-entropy, reconnecting to dead
//! members (healing partitions) and reclaiming the long dead.

use super::*;

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

    pub(super) fn start_push_pull(&mut self, to: &NodeId) {
        let (states, complete) = self.digest();
        let pp = PushPull {
            reply: false,
            complete,
            states,
            peers: Vec::new(),
        };
        self.send(to, Message::PushPull(pp));
    }

    pub(super) fn on_push_pull(&mut self, from: &NodeId, pp: PushPull, now: u64) {
        // What the sender lacks, judged before merging its digest.
        let mut lacking: Vec<Arc<PeerRecord>> = Vec::new();
        if !pp.reply {
            let theirs: HashMap<&NodeId, u64> =
                pp.states.iter().map(|s| (&s.node_id, s.version)).collect();
            let lacks = |id: &NodeId, version: u64| match theirs.get(id) {
                Some(v) => *v < version,
                None => pp.complete,
            };
            if lacks(&self.me.node_id, self.me.version) {
                lacking.push(self.me.clone());
            }
            for m in self.members.iter() {
                if lacking.len() >= MAX_PEERS_PER_MESSAGE {
                    break;
                }
                if m.liveness.is_present()
                    && m.node_id() != from
                    && lacks(m.node_id(), m.record.version)
                {
                    lacking.push(m.record.clone());
                }
            }
        }
        self.apply_updates(from, pp.peers, pp.states, Source::Digest, now);
        if !pp.reply {
            let (states, complete) = self.digest();
            let reply = PushPull {
                reply: true,
                complete,
                states,
                peers: lacking,
            };
            self.send(from, Message::PushPull(reply));
        }
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
