//! Merging what others say: records (newest version wins) and liveness
//! claims (the SWIM order), refutation of claims about this node.

use super::*;

impl Membership {
    pub(super) fn apply_updates(
        &mut self,
        from: &NodeId,
        peers: Vec<Arc<PeerRecord>>,
        states: Vec<MemberState>,
        source: Source,
        now: u64,
    ) {
        // Records from a bootstrap or anti-entropy list are not news to the
        // rest of the cluster: they are merged, not re-broadcast.
        let news = source == Source::Gossip;
        for r in peers {
            // A node's own record, first-hand, at a version this node
            // already holds with other content: it restarted and reused the
            // version. Only the owner may publish above it, so show it the
            // record held here (it then re-publishes at a higher version).
            if r.node_id == *from {
                if let Some(m) = self.members.get(from) {
                    if m.record.version == r.version && *m.record != *r {
                        let held = m.record.clone();
                        self.send(
                            from,
                            Message::PeerList(PeerList {
                                peers: vec![held],
                                states: Vec::new(),
                            }),
                        );
                    }
                }
            }
            self.apply_record(r, from, news, now);
        }
        let mut want = Vec::new();
        for s in &states {
            if self.apply_state(s, from, source, now) && want.len() < MAX_REQUESTED_IDS {
                want.push(s.node_id.clone());
            }
        }
        if !want.is_empty() {
            self.send(
                from,
                Message::PeerListRequest(PeerListRequest { node_ids: want }),
            );
        }
    }

    /// Merges a record received from `from`: a newer version replaces the
    /// old one; an unknown node is added as alive at incarnation 0 (its
    /// state follows). Only a record newer than the one held has its
    /// signature checked (a replay costs no verification); one that fails
    /// changes nothing. Returns `false` when the record was refused.
    pub(super) fn apply_record(
        &mut self,
        rec: Arc<PeerRecord>,
        from: &NodeId,
        news: bool,
        now: u64,
    ) -> bool {
        if rec.node_id == self.me.node_id {
            if rec.version >= self.me.version && *rec != *self.me {
                if !self.admit(&rec, from) {
                    return false;
                }
                // Someone holds a record of mine from an earlier life.
                let mut mine = (*self.me).clone();
                mine.version = rec.version;
                let _ = self.set_own_record(mine);
            }
            return true;
        }
        if rec.validate().is_err() {
            return false;
        }
        let held = self.members.get(&rec.node_id).map(|m| m.record.version);
        if held.is_some_and(|v| rec.version <= v) {
            return true;
        }
        if !self.admit(&rec, from) {
            return false;
        }
        self.joining.learned += 1;
        match self.members.get_mut(&rec.node_id) {
            Some(m) => {
                m.record = rec.clone();
                let st = Self::state_of(m, None);
                if news {
                    self.broadcasts.push_from(st, Some(rec.clone()), Some(from));
                }
                self.emit(Output::Registry(RegistryChange::Upsert(rec.clone())));
                self.event(MembershipEvent::Updated {
                    node_id: rec.node_id.clone(),
                    version: rec.version,
                });
            }
            None => {
                let m = Member::new(rec.clone(), 0, Liveness::Alive, now);
                let st = Self::state_of(&m, None);
                self.members.insert(m, &mut self.rng);
                if news && self.join_news_allowed(now) {
                    self.broadcasts.push_from(st, Some(rec.clone()), Some(from));
                }
                self.emit(Output::Registry(RegistryChange::Upsert(rec.clone())));
                self.emit(Output::Registry(RegistryChange::Liveness {
                    node_id: rec.node_id.clone(),
                    liveness: Liveness::Alive,
                    incarnation: 0,
                }));
                self.event(MembershipEvent::Joined {
                    node_id: rec.node_id.clone(),
                });
            }
        }
        true
    }

    /// Merges a liveness claim. Returns whether the record it refers to is
    /// missing or older here (the caller asks the sender for it).
    pub(super) fn apply_state(
        &mut self,
        s: &MemberState,
        sender: &NodeId,
        source: Source,
        now: u64,
    ) -> bool {
        if s.node_id == self.me.node_id {
            self.refute_if_needed(s, sender);
            return false;
        }
        let Some(m) = self.members.get(&s.node_id) else {
            return s.liveness.is_present();
        };
        let want = s.version > m.record.version;
        let (old, old_inc) = (m.liveness, m.incarnation);
        let mut new = s.liveness;
        if source == Source::Digest && new == Liveness::Dead {
            new = Liveness::Suspect;
        }
        let accuser = s.from.clone().unwrap_or_else(|| sender.clone());
        let takes_over = overrides(new, s.incarnation, old, old_inc);
        if new == Liveness::Dead
            && takes_over
            && old.is_present()
            && *sender != s.node_id
            && m.heard_within(now, self.dead_claim_window())
        {
            // A third party says it is dead, but it spoke to this node
            // moments ago (a real death is silent for at least a probe and
            // a suspicion timeout before anyone declares it): not believed.
            // The accused is told, so that it refutes cluster-wide.
            let claim = StateClaim {
                node_id: s.node_id.clone(),
                incarnation: s.incarnation,
                version: s.version,
                from: Some(accuser),
            };
            self.send(&s.node_id, Message::Dead(claim));
            return want;
        }
        if takes_over {
            self.set_member_state(&s.node_id, new, s.incarnation, accuser, false, now);
        } else if new == Liveness::Suspect && old == Liveness::Suspect && s.incarnation == old_inc {
            let confirmed = self
                .suspicions
                .update(&s.node_id, |susp| susp.confirm(&accuser))
                .unwrap_or(false);
            if confirmed {
                if let Some(m) = self.members.get(&s.node_id) {
                    let st = Self::state_of(m, Some(accuser));
                    self.broadcasts.push(st, None);
                }
            }
        }
        // The sender holds this state: it need not be sent it.
        let others = self.members.present();
        self.broadcasts.heard_again(s, sender, others);
        want
    }

    pub(super) fn set_member_state(
        &mut self,
        id: &NodeId,
        liveness: Liveness,
        incarnation: u64,
        accuser: NodeId,
        local: bool,
        now: u64,
    ) {
        let Some(old) = self.members.get(id).map(|m| m.liveness) else {
            return;
        };
        self.members.set_liveness(id, liveness, incarnation, now);
        if liveness == Liveness::Suspect {
            let n = self.cluster_size();
            let (min, max) = self.config.suspicion_bounds(n);
            let f = self.awareness(self.config.awareness_suspicion_weight);
            let bounds = ((min as f64 * f) as u64, (max as f64 * f) as u64);
            let k = (self.config.suspicion_confirmations as usize).min(n.saturating_sub(2)) as u32;
            let s = Suspicion::new(incarnation, accuser.clone(), local, now, bounds, k);
            self.suspicions.insert(id.clone(), s);
        } else {
            self.suspicions.remove(id);
        }
        if let Some(m) = self.members.get(id) {
            let st = Self::state_of(m, Some(accuser));
            self.broadcasts.push(st, None);
        }
        if liveness == Liveness::Dead && old.is_present() {
            self.gossip_now(now);
        }
        self.emit(Output::Registry(RegistryChange::Liveness {
            node_id: id.clone(),
            liveness,
            incarnation,
        }));
        if old != liveness {
            self.event(MembershipEvent::LivenessChanged {
                node_id: id.clone(),
                from: old,
                to: liveness,
                incarnation,
            });
        }
    }

    pub(super) fn refute_if_needed(&mut self, s: &MemberState, sender: &NodeId) {
        let accused = match s.liveness {
            Liveness::Suspect | Liveness::Dead => true,
            Liveness::Left => !self.leaving,
            Liveness::Alive => false,
        };
        if accused && !self.leaving {
            let fresh = s.incarnation >= self.incarnation;
            if fresh {
                self.incarnation = s.incarnation + 1;
                let st = self.my_state();
                self.broadcasts.push(st, None);
                self.event(MembershipEvent::Refuted {
                    incarnation: self.incarnation,
                });
            }
            // Answer the teller and the accuser directly, also when the
            // accusation is already refuted (they have not heard yet).
            let claim = StateClaim {
                node_id: self.me.node_id.clone(),
                incarnation: self.incarnation,
                version: self.me.version,
                from: None,
            };
            self.send(sender, Message::Alive(claim.clone()));
            if let Some(accuser) = &s.from {
                if accuser != sender && *accuser != self.me.node_id {
                    self.send(accuser, Message::Alive(claim));
                }
            }
        }
        if s.version > self.me.version {
            let mut mine = (*self.me).clone();
            mine.version = s.version;
            let _ = self.set_own_record(mine);
        }
    }

    pub(super) fn on_claim(&mut self, from: &NodeId, c: StateClaim, liveness: Liveness, now: u64) {
        let s = MemberState {
            node_id: c.node_id,
            incarnation: c.incarnation,
            liveness,
            version: c.version,
            from: c.from,
        };
        if self.apply_state(&s, from, Source::Gossip, now) {
            let req = PeerListRequest {
                node_ids: vec![s.node_id],
            };
            self.send(from, Message::PeerListRequest(req));
        }
    }
}
