//! Failure detection: direct and indirect probes, relays for others,
//! suspicion timeouts, the last probe before death, suspect notices.

use super::*;

/// Most `ping_req`s relayed at the same time.
const MAX_RELAYS: usize = 256;

impl Membership {
    pub(super) fn start_probe(&mut self, now: u64) {
        let (interval, timeout) = self.probe_timing();
        // While learning the membership in bulk (join.rs), probes are
        // spaced out: the next one waits longer, this one runs as usual.
        self.next_probe_ms = now + interval * self.joining.probe_slowdown(now);
        let Some(target) = self.members.next_probe_target(&mut self.rng) else {
            return;
        };
        let seq = self.next_seq();
        let mut pig = self.piggyback(self.config.max_piggyback_bytes, &target);
        if let Some(m) = self.members.get(&target) {
            if m.liveness != Liveness::Alive && !pig.states.iter().any(|s| s.node_id == target) {
                pig.states
                    .push(Self::state_of(m, Some(self.me.node_id.clone())));
            }
        }
        let ping = Ping {
            seq,
            target: target.clone(),
            peers: pig.peers,
            states: pig.states,
        };
        self.send(&target, Message::Ping(ping));
        self.round_trips.sent(seq, now);
        self.probe = Some(Probe {
            target,
            seq,
            indirect_at_ms: now + timeout,
            end_ms: now + interval,
            acked: false,
            indirect_sent: false,
            nacks_expected: 0,
            nacks: 0,
        });
    }

    pub(super) fn send_indirect_probes(&mut self, now: u64) {
        let Some(p) = self.probe.as_mut() else { return };
        p.indirect_sent = true;
        let (seq, target) = (p.seq, p.target.clone());
        let mut helpers: Vec<NodeId> = Vec::new();
        for _ in 0..self.config.indirect_probes {
            let mut exclude: Vec<&NodeId> = helpers.iter().collect();
            exclude.push(&target);
            let Some(i) = self.members.random_present(&mut self.rng, &exclude) else {
                break;
            };
            let id = self.members.at(i).node_id().clone();
            if !helpers.contains(&id) {
                helpers.push(id);
            }
        }
        for h in &helpers {
            let req = PingReq {
                seq,
                target: target.clone(),
            };
            self.send(h, Message::PingReq(req));
        }
        // A second direct try (memberlist's fallback probe, here on the same
        // transport): a single lost datagram must not start a suspicion.
        self.send(&target, Message::Ping(Ping::new(seq, target.clone())));
        self.round_trips.resent(seq, now);
        if let Some(p) = self.probe.as_mut() {
            p.nacks_expected = helpers.len() as u32;
        }
    }

    pub(super) fn finish_probe(&mut self, now: u64) {
        let Some(p) = self.probe.take() else { return };
        if p.acked || now < p.end_ms {
            return;
        }
        self.outcome(&p.target, false);
        let delta = if p.nacks_expected > 0 {
            p.nacks_expected.saturating_sub(p.nacks)
        } else {
            1
        };
        self.local_health = (self.local_health + delta).min(self.config.max_local_health);
        self.note_calm();
        let Some(m) = self.members.get(&p.target) else {
            return;
        };
        let (l, inc, ver) = (m.liveness, m.incarnation, m.record.version);
        let me = self.me.node_id.clone();
        match l {
            Liveness::Alive => {
                self.set_member_state(&p.target, Liveness::Suspect, inc, me, true, now);
                self.event(MembershipEvent::Suspected {
                    node_id: p.target.clone(),
                });
                self.accuse(&p.target, inc, ver);
            }
            Liveness::Suspect => {
                let newly = self
                    .suspicions
                    .update(&p.target, |s| {
                        s.local = true;
                        s.confirm(&me)
                    })
                    .unwrap_or(false);
                if newly {
                    self.accuse(&p.target, inc, ver);
                }
            }
            _ => {}
        }
    }

    pub(super) fn on_ack(&mut self, seq: u64, node_id: &NodeId, now: u64) {
        // Any ack of one of the last probes, late ones too: how long
        // answers take.
        self.round_trips.acked(seq, now);
        let mut probe_ok = false;
        if let Some(p) = &mut self.probe {
            if p.seq == seq && p.target == *node_id && !p.acked {
                p.acked = true;
                probe_ok = true;
            }
        }
        if probe_ok {
            if let Some(m) = self.members.get_mut(node_id) {
                m.heard(now);
            }
            self.outcome(node_id, true);
            self.local_health = self.local_health.saturating_sub(1);
            self.note_calm();
            return;
        }
        if let Some(v) = self
            .verifications
            .iter_mut()
            .find(|v| v.seq == seq && v.target == *node_id)
        {
            v.acked = true;
            return;
        }
        if let Some(i) = self.relays.iter().position(|r| r.seq == seq) {
            let r = self.relays.swap_remove(i);
            if r.target == *node_id {
                let ack = Ack {
                    seq: r.their_seq,
                    node_id: Some(r.target),
                    peers: Vec::new(),
                    states: Vec::new(),
                };
                self.send(&r.requester, Message::Ack(ack));
            }
            return;
        }
        if let Some(i) = self.reconnects.iter().position(|r| r.seq == seq) {
            let r = self.reconnects.swap_remove(i);
            if let Some(m) = self.members.get_mut(&r.target) {
                m.attempts = 0;
                m.next_attempt_ms = now;
            }
            self.outcome(&r.target, true);
            self.start_push_pull(&r.target);
        }
    }

    pub(super) fn on_ping_req(&mut self, from: &NodeId, r: PingReq, now: u64) {
        // At most MAX_RELAYS probes relayed at once: a flood of ping_req
        // cannot make this node flood others (or grow without bound).
        if r.target == self.me.node_id || self.relays.len() >= MAX_RELAYS {
            return;
        }
        let seq = self.next_seq();
        let mut ping = Ping::new(seq, r.target.clone());
        if let Some(m) = self.members.get(&r.target) {
            if m.liveness != Liveness::Alive {
                ping.states.push(Self::state_of(m, None));
            }
        }
        self.send(&r.target, Message::Ping(ping));
        self.relays.push(Relay {
            seq,
            requester: from.clone(),
            their_seq: r.seq,
            target: r.target,
            deadline_ms: now + self.config.probe_timeout_ms,
        });
    }

    pub(super) fn expire_relays(&mut self, now: u64) {
        let mut i = 0;
        while i < self.relays.len() {
            if self.relays[i].deadline_ms <= now {
                let r = self.relays.swap_remove(i);
                let nack = Nack {
                    seq: r.their_seq,
                    target: r.target,
                };
                self.send(&r.requester, Message::Nack(nack));
            } else {
                i += 1;
            }
        }
    }

    /// A suspicion whose timeout expired is not believed yet: the suspect
    /// gets one last full probe (direct and indirect) that carries the
    /// suspicion, so a live one answers and refutes.
    pub(super) fn expire_suspicions(&mut self, now: u64) {
        for id in self.suspicions.due(now) {
            let Some(inc) = self.suspicions.get(&id).map(|s| s.incarnation) else {
                continue;
            };
            let still = self
                .members
                .get(&id)
                .is_some_and(|m| m.liveness == Liveness::Suspect && m.incarnation == inc);
            if !still {
                self.suspicions.remove(&id);
                continue;
            }
            self.suspicions.update(&id, |s| s.verifying = true);
            let seq = self.next_seq();
            let mut ping = Ping::new(seq, id.clone());
            if let Some(m) = self.members.get(&id) {
                ping.states
                    .push(Self::state_of(m, Some(self.me.node_id.clone())));
            }
            self.send(&id, Message::Ping(ping));
            let (interval, timeout) = self.probe_timing();
            self.verifications.push(Verify {
                target: id,
                seq,
                incarnation: inc,
                indirect_at_ms: now + timeout,
                end_ms: now + interval,
                acked: false,
                indirect_sent: false,
                check: false,
            });
        }
    }

    /// Checks the members named in stale death claims with a full probe
    /// of this node's own ([`Verify::check`]).
    pub(super) fn start_checks(&mut self, now: u64) {
        for id in std::mem::take(&mut self.checks) {
            let Some(inc) = self
                .members
                .get(&id)
                .filter(|m| m.liveness == Liveness::Alive)
                .map(|m| m.incarnation)
            else {
                continue;
            };
            if self.verifications.iter().any(|v| v.target == id) {
                continue;
            }
            let seq = self.next_seq();
            self.send(&id, Message::Ping(Ping::new(seq, id.clone())));
            let (interval, timeout) = self.probe_timing();
            self.verifications.push(Verify {
                target: id,
                seq,
                incarnation: inc,
                indirect_at_ms: now + timeout,
                end_ms: now + interval,
                acked: false,
                indirect_sent: false,
                check: true,
            });
        }
    }

    pub(super) fn run_verifications(&mut self, now: u64) {
        let mut i = 0;
        while i < self.verifications.len() {
            let v = &self.verifications[i];
            if !v.acked && !v.indirect_sent && now >= v.indirect_at_ms && now < v.end_ms {
                let (seq, target) = (v.seq, v.target.clone());
                self.verifications[i].indirect_sent = true;
                let mut helpers: Vec<NodeId> = Vec::new();
                for _ in 0..self.verification_helpers() {
                    let mut exclude: Vec<&NodeId> = helpers.iter().collect();
                    exclude.push(&target);
                    if let Some(k) = self.members.random_present(&mut self.rng, &exclude) {
                        let h = self.members.at(k).node_id().clone();
                        if !helpers.contains(&h) {
                            helpers.push(h);
                        }
                    }
                }
                for h in helpers {
                    let req = PingReq {
                        seq,
                        target: target.clone(),
                    };
                    self.send(&h, Message::PingReq(req));
                }
                self.send(&target, Message::Ping(Ping::new(seq, target.clone())));
            }
            if now < self.verifications[i].end_ms {
                i += 1;
                continue;
            }
            let v = self.verifications.swap_remove(i);
            if v.check {
                let failed = !v.acked
                    && self.members.get(&v.target).is_some_and(|m| {
                        m.liveness == Liveness::Alive && m.incarnation == v.incarnation
                    });
                if failed {
                    // Its own evidence now: a first-hand suspicion, checked
                    // again at once (the death it was told of was declared
                    // after several failed probes elsewhere).
                    let (me, inc) = (self.me.node_id.clone(), v.incarnation);
                    self.set_member_state(&v.target, Liveness::Suspect, inc, me, true, now);
                    self.suspicions.update(&v.target, |s| s.deadline_ms = now);
                    let ver = self.members.get(&v.target).map_or(0, |m| m.record.version);
                    self.accuse(&v.target, inc, ver);
                }
                continue;
            }
            let still = self
                .members
                .get(&v.target)
                .is_some_and(|m| m.liveness == Liveness::Suspect && m.incarnation == v.incarnation);
            if !still {
                // The member's state moved on meanwhile. A suspicion still
                // marked as verifying would never expire again (it is out of
                // the deadline index): put it back, so that the next expiry
                // decides with the member's current state.
                self.suspicions.update(&v.target, |s| s.verifying = false);
                continue;
            }
            if v.acked {
                // It answered: wait for its refutation; check again later.
                let ver = self.members.get(&v.target).map_or(0, |m| m.record.version);
                let (min, _) = self.suspicion_bounds();
                self.suspicions.update(&v.target, |s| {
                    s.verifying = false;
                    s.failed_checks = 0;
                    s.deadline_ms = now + min;
                });
                let c = self.claim(&v.target, v.incarnation, ver);
                self.send(&v.target, Message::Suspect(c));
            } else if self
                .suspicions
                .get(&v.target)
                .is_some_and(|s| !(s.local || (s.fully_confirmed() && self.network_clean())))
            {
                // First-hand evidence now, but only one failed probe: count
                // as an accuser and wait one more (shortest) timeout; under
                // loss (local health above 0) the further last probes are
                // that wait.
                let me = self.me.node_id.clone();
                let (min, _) = self.suspicion_bounds();
                let wait = if self.local_health == 0 { min } else { 0 };
                let newly = self
                    .suspicions
                    .update(&v.target, |s| {
                        s.local = true;
                        s.verifying = false;
                        let newly = s.confirm(&me);
                        s.deadline_ms = s.deadline_ms.max(now + wait);
                        newly
                    })
                    .unwrap_or(false);
                if newly {
                    let ver = self.members.get(&v.target).map_or(0, |m| m.record.version);
                    self.accuse(&v.target, v.incarnation, ver);
                }
            } else if self
                .suspicions
                .update(&v.target, |s| {
                    // A fully confirmed suspicion heard from others (a
                    // witness's) on a healthy network: this failed probe
                    // is first-hand evidence and counts at once.
                    s.local = true;
                    s.failed_checks += 1;
                    s.failed_checks
                })
                .is_some_and(|n| n < self.checks_before_death())
            {
                // Under loss one failed last probe is weak evidence (at
                // 50 % loss 4 in 10 probes of a live member fail): probe
                // again at once, until enough have failed in a row.
                self.suspicions.update(&v.target, |s| {
                    s.verifying = false;
                    s.deadline_ms = now;
                });
            } else {
                self.suspicions.remove(&v.target);
                let me = self.me.node_id.clone();
                self.set_member_state(&v.target, Liveness::Dead, v.incarnation, me, false, now);
                self.event(MembershipEvent::DeclaredDead { node_id: v.target });
            }
        }
    }

    /// Counts probes that leave local health at 0 in a row.
    fn note_calm(&mut self) {
        self.clean_probes = if self.local_health == 0 {
            self.clean_probes.saturating_add(1)
        } else {
            0
        };
    }

    /// Whether local health has stayed at 0 for a while (twice its
    /// ceiling in probes): a healthy network, not a lull under loss.
    fn network_clean(&self) -> bool {
        self.local_health == 0 && self.clean_probes >= 2 * self.config.max_local_health.max(1)
    }

    /// The loss level the last probes before a death are sized for: local
    /// health, and at least 4 when the network has not been clean a while
    /// (a lull under heavy loss must not make a death cheap).
    fn loss_level(&self) -> u32 {
        if self.network_clean() {
            self.local_health
        } else {
            self.local_health.max(4)
        }
    }

    /// Failed last probes in a row before a first-hand suspicion becomes a
    /// death: one on a healthy network, `1 + level / 2` under loss
    /// ([`loss_level`](Self::loss_level)), where a single probe of a live
    /// member fails often.
    fn checks_before_death(&self) -> u32 {
        1 + self.loss_level() / 2
    }

    /// Helpers of a last probe: `indirect_probes`, times `1 + level` under
    /// loss (at most 40), so that a live member answers one of them.
    fn verification_helpers(&self) -> usize {
        let n = self.config.indirect_probes * (1 + self.loss_level() as usize);
        n.min(40.max(self.config.indirect_probes))
    }

    /// This node's first-hand accusation of `target` at `incarnation`: a
    /// `suspect` claim to the accused (so that it refutes) and to the
    /// accused's witnesses (so that independent accusations meet and
    /// confirm each other). Nobody else is told: a suspicion is not
    /// cluster-wide news, a death is (PROTOCOL.md "Suspicion").
    pub(super) fn accuse(&mut self, target: &NodeId, incarnation: u64, version: u64) {
        let c = self.claim(target, incarnation, version);
        for w in self.witnesses_of(target) {
            if w != self.me.node_id {
                self.send(&w, Message::Suspect(c.clone()));
            }
        }
        self.send(target, Message::Suspect(c));
    }

    /// The witnesses of a suspicion of `accused`: as many as the
    /// confirmations that bring its timeout to the floor, plus one.
    pub(super) fn witnesses_of(&self, accused: &NodeId) -> Vec<NodeId> {
        let k = self.config.suspicion_confirmations as usize + 1;
        crate::membership::witness::witnesses(&self.members, &self.me.node_id, accused, k)
    }

    /// Tells the members this node suspects (first-hand, or as a witness)
    /// that they are suspected, so they can refute quickly even when
    /// messages are lost: a suspicion is no longer broadcast, so its
    /// holders ask the accused again until it answers.
    pub(super) fn notify_suspects(&mut self) {
        if self.leaving {
            return;
        }
        let mut notes = Vec::new();
        for id in self
            .suspicions
            .locals()
            .chain(self.suspicions.others())
            .take(16)
        {
            if let Some(s) = self.suspicions.get(id) {
                notes.push((id.clone(), s.incarnation));
            }
        }
        for (id, inc) in notes {
            let ver = self.members.get(&id).map_or(0, |m| m.record.version);
            let c = self.claim(&id, inc, ver);
            self.send(&id, Message::Suspect(c));
        }
    }
}
