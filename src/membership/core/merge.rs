//! Merging what others say: records (newest version wins) and liveness
//! claims (the SWIM order), refutation of claims about this node.

use super::claims::INCARNATION_TOLERANCE;
use super::*;
use crate::membership::ClaimRefusal;
use crate::wire::MAX_INCARNATION;

/// Most members checked at once after stale death claims.
const MAX_CHECKS: usize = 16;

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
        let verdicts = self.check_new_records(&peers);
        for (r, verdict) in peers.into_iter().zip(verdicts) {
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
            self.apply_checked_record(r, from, news, now, verdict);
        }
        let mut want = Vec::new();
        for s in &states {
            if self.apply_state(s, from, source, now) && want.len() < MAX_REQUESTED_IDS {
                if self.may_ask(&s.node_id, s.version, now) {
                    want.push(s.node_id.clone());
                }
                self.pass_on_newer_version(s, from);
            }
        }
        if !want.is_empty() {
            self.send(
                from,
                Message::PeerListRequest(PeerListRequest { node_ids: want }),
            );
        }
    }

    /// A gossiped state names a record version newer than the one held,
    /// without the record (one too large for any message travels as its
    /// state alone): the news of the version is passed on, so that every
    /// node learns of it and fetches the record (`peer_list_request`).
    fn pass_on_newer_version(&mut self, s: &MemberState, from: &NodeId) {
        if let Some(m) = self.members.get(&s.node_id) {
            let mut st = Self::state_of(m, s.from.clone());
            st.version = st.version.max(s.version);
            self.broadcasts.push_from(st, None, Some(from));
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
        self.apply_checked_record(rec, from, news, now, None)
    }

    /// The checks `apply_record` would make of each of `peers` (a newer
    /// version of another node's record), made together: one batch
    /// verification for the signatures (`identity::check_records`). `None`
    /// where no check is due or where one record alone needs it.
    fn check_new_records(
        &self,
        peers: &[Arc<PeerRecord>],
    ) -> Vec<Option<Result<(), crate::identity::VerifyError>>> {
        let due: Vec<usize> = (0..peers.len())
            .filter(|&i| {
                let r = &peers[i];
                r.node_id != self.me.node_id
                    && r.validate().is_ok()
                    && self
                        .members
                        .get(&r.node_id)
                        .is_none_or(|m| r.version > m.record.version)
            })
            .collect();
        let mut verdicts = vec![None; peers.len()];
        if due.len() < 2 {
            return verdicts;
        }
        let records: Vec<&PeerRecord> = due.iter().map(|&i| &*peers[i]).collect();
        let checked = check_records(&records, self.config.require_signed_records);
        for (i, v) in due.into_iter().zip(checked) {
            verdicts[i] = Some(v);
        }
        verdicts
    }

    /// `apply_record` with the record's check already made (`verdict`) or
    /// still to make (`None`).
    fn apply_checked_record(
        &mut self,
        rec: Arc<PeerRecord>,
        from: &NodeId,
        news: bool,
        now: u64,
        verdict: Option<Result<(), crate::identity::VerifyError>>,
    ) -> bool {
        if rec.node_id == self.me.node_id {
            if rec.version >= self.me.version && *rec != *self.me {
                if !self.admit(&rec, from, None) {
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
        if !self.admit(&rec, from, verdict) {
            return false;
        }
        self.joining.learned_one(now);
        match self.members.get_mut(&rec.node_id) {
            Some(m) => {
                m.record = rec.clone();
                let st = Self::state_of(m, None);
                let st = self.with_sig(st);
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
        let (old, old_inc, attested) = (m.liveness, m.incarnation, m.attested());
        let heard_recently = m.heard_within(now, self.dead_claim_window());
        let mut new = s.liveness;
        if source == Source::Digest && new == Liveness::Dead {
            new = Liveness::Suspect;
        }
        let accuser = s.from.clone().unwrap_or_else(|| sender.clone());
        // An accuser's own failed probe, sent to this node (a witness):
        // evidence about the member now, whatever incarnation the accuser
        // holds. Refutations reach only those who heard the suspicion, so
        // an accuser often names an older incarnation than the witness
        // holds; it counts at the witness's incarnation.
        let mut inc = s.incarnation;
        let first_hand = source == Source::Direct
            && new == Liveness::Suspect
            && accuser == *sender
            && old.is_present();
        if first_hand && inc < old_inc {
            inc = old_inc;
        }
        let held = attested + INCARNATION_TOLERANCE;
        if first_hand && inc > held && self.must_sign(&s.node_id) {
            // Ahead of what the accused signed: refused at that incarnation
            // (only the accused raises its own), counted at the one held
            // here, where this node may lag (refutations are targeted).
            // With hand-picked ids (unsigned) nobody knows the accused's
            // word for sure, and the claim is taken as it is.
            let reason = ClaimRefusal::AheadOfNode {
                liveness: new,
                incarnation: inc,
                held,
            };
            self.refuse_claim(&s.node_id, sender, reason);
            inc = old_inc;
        }
        let s = &MemberState {
            incarnation: inc,
            ..s.clone()
        };
        let takes_over = overrides(new, s.incarnation, old, old_inc);
        // Only a claim that would change something is checked (a replay
        // costs no verification).
        if takes_over {
            if let Err(reason) = self.check_claim(s, new, attested) {
                if matches!(reason, ClaimRefusal::AheadOfNode { .. }) {
                    // Refused, never adopted; but under targeted
                    // refutations an honest accuser or declarer often holds
                    // a newer incarnation than this node: check the member
                    // with this node's own probes (PROTOCOL.md "Suspicion").
                    self.check_member(&s.node_id, old, now);
                }
                self.refuse_claim(&s.node_id, sender, reason);
                return want;
            }
        } else if new == s.liveness
            && s.is_self_claim()
            && s.incarnation > attested
            && s.incarnation <= old_inc
        {
            // The node's own word at an incarnation an accusation already
            // reached: it changes no state, but it is what later
            // accusations are measured against.
            if self.check_claim(s, new, attested).is_ok() {
                self.remember_word(s);
                if let Some(m) = self.members.get_mut(&s.node_id) {
                    m.ahead = (old_inc - s.incarnation) as u8;
                }
            }
        }
        if new == Liveness::Dead
            && takes_over
            && old.is_present()
            && *sender != s.node_id
            && heard_recently
        {
            // A third party says it is dead, but it spoke to this node
            // moments ago (a real death is silent for at least a probe and
            // a suspicion timeout before anyone declares it): not believed.
            // The accused is told, so that it refutes cluster-wide.
            let mut claim = StateClaim::new(s.node_id.clone(), s.incarnation, s.version);
            claim.from = Some(accuser);
            self.send(&s.node_id, Message::Dead(claim));
            return want;
        }
        if takes_over {
            let self_word = new == s.liveness && s.is_self_claim();
            if self_word {
                self.remember_word(s);
            }
            self.set_member_state(&s.node_id, new, s.incarnation, accuser, false, now);
            if let Some(m) = self.members.get_mut(&s.node_id) {
                let ahead = s.incarnation.saturating_sub(attested);
                m.ahead = if self_word { 0 } else { ahead as u8 };
            }
        } else if new == Liveness::Suspect && old == Liveness::Suspect && s.incarnation == old_inc {
            // An independent confirmation: it shortens the timeout here
            // and goes no further (every accuser tells the witnesses).
            self.suspicions
                .update(&s.node_id, |susp| susp.confirm(&accuser));
        } else if new == Liveness::Dead && old.is_present() && s.incarnation < old_inc {
            // A death declared at an older incarnation than this node holds
            // (it heard a refutation the declarer did not): not believed,
            // but checked at once with this node's own last probes, which
            // declare it dead at the incarnation held here if they fail.
            // Its own check, at the next tick (the claim itself changes
            // nothing here: the merge stays commutative).
            self.check_member(&s.node_id, old, now);
        }
        // The sender holds this state: it need not be sent it.
        let others = self.members.present();
        self.broadcasts.heard_again(s, sender, others);
        want
    }

    /// Checks `id` (held `held`) with this node's own probes: a full probe
    /// at the next tick when held alive, the last probes at once when
    /// already suspected.
    fn check_member(&mut self, id: &NodeId, held: Liveness, now: u64) {
        if held == Liveness::Alive {
            if !self.checks.contains(id) && self.checks.len() < MAX_CHECKS {
                self.checks.push(id.clone());
            }
        } else if held == Liveness::Suspect {
            self.suspicions.update(id, |susp| {
                if !susp.verifying {
                    susp.deadline_ms = susp.deadline_ms.min(now);
                }
            });
        }
    }

    /// Changes a member's liveness on this node's own evidence (`local`:
    /// its own probe failed). A death is disseminated; a suspicion is not
    /// (the caller accuses the member to its witnesses).
    pub(super) fn set_member_state(
        &mut self,
        id: &NodeId,
        liveness: Liveness,
        incarnation: u64,
        accuser: NodeId,
        local: bool,
        now: u64,
    ) {
        self.change_liveness(id, liveness, incarnation, accuser, local, now);
    }

    /// Changes a member's liveness. Deaths and leaves are queued for
    /// dissemination, and so is life after a death held here; a suspicion
    /// and the refutation of one are not (PROTOCOL.md "Suspicion": they
    /// travel between the accused, its accusers and its witnesses).
    fn change_liveness(
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
        let relay = match liveness {
            Liveness::Suspect => false,
            Liveness::Alive => !old.is_present(),
            Liveness::Dead | Liveness::Left => true,
        };
        self.members.set_liveness(id, liveness, incarnation, now);
        if liveness == Liveness::Suspect {
            let n = self.cluster_size();
            let (min, max) = self.suspicion_bounds();
            let f = self.awareness(self.config.awareness_suspicion_weight);
            let bounds = ((min as f64 * f) as u64, (max as f64 * f) as u64);
            let k = (self.config.suspicion_confirmations as usize).min(n.saturating_sub(2)) as u32;
            let s = Suspicion::new(incarnation, accuser.clone(), local, now, bounds, k);
            self.suspicions.insert(id.clone(), s);
        } else {
            self.suspicions.remove(id);
        }
        if relay {
            if let Some(m) = self.members.get(id) {
                let st = self.with_sig(Self::state_of(m, Some(accuser)));
                self.broadcasts.push(st, None);
            }
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

    /// A claim about this node. Accusations (suspect, dead, left) at the
    /// held incarnation or above are refuted with a higher one, signed;
    /// with an identity, an accusation above what this node ever said
    /// (plus the tolerance) is refused: only this node raises its
    /// incarnation. A signed word of its own from an earlier life (a
    /// restart: the seed's answer carries it) moves it to that incarnation.
    pub(super) fn refute_if_needed(&mut self, s: &MemberState, sender: &NodeId) {
        if s.incarnation > MAX_INCARNATION {
            let reason = ClaimRefusal::AboveLimit {
                incarnation: s.incarnation,
            };
            self.refuse_claim(&s.node_id, sender, reason);
            return;
        }
        if self.signer.is_some() && s.is_self_claim() && s.incarnation > self.incarnation {
            if self.verify_self_claim(s).is_err() {
                self.refuse_ahead_of_me(s, sender);
                return;
            }
            // My own word from an earlier life: I had reached it.
            self.incarnation = s.incarnation;
            self.resign();
        }
        let accused = match s.liveness {
            Liveness::Suspect | Liveness::Dead => true,
            Liveness::Left => !self.leaving,
            Liveness::Alive => false,
        };
        if accused && !self.leaving {
            let limit = if self.signer.is_some() {
                self.incarnation + INCARNATION_TOLERANCE
            } else {
                MAX_INCARNATION
            };
            if s.incarnation > limit || s.incarnation >= MAX_INCARNATION {
                self.refuse_ahead_of_me(s, sender);
                return;
            }
            let fresh = s.incarnation >= self.incarnation;
            if fresh {
                self.incarnation = s.incarnation + 1;
                self.resign();
                self.event(MembershipEvent::Refuted {
                    incarnation: self.incarnation,
                });
            }
            // Answer the teller and the accuser directly, also when the
            // accusation is already refuted (they have not heard yet).
            let claim = self.own_claim();
            let mut told = vec![sender.clone()];
            if let Some(accuser) = &s.from {
                if accuser != sender && *accuser != self.me.node_id {
                    told.push(accuser.clone());
                }
            }
            if s.liveness == Liveness::Suspect {
                // A suspicion was heard by the accusers and this node's
                // witnesses only: they are the ones to tell.
                if fresh {
                    let me = self.me.node_id.clone();
                    for w in self.witnesses_of(&me) {
                        if !told.contains(&w) {
                            told.push(w);
                        }
                    }
                }
            } else {
                // A death (or leave) is cluster-wide news: so is its
                // refutation, also of a stale one (third parties may still
                // hold the older incarnation it names).
                let st = self.my_state();
                self.broadcasts.push(st, None);
            }
            for to in told {
                self.send(&to, Message::Alive(claim.clone()));
            }
        }
        // Without an identity, the version a claim names is the only news
        // of an earlier life's record; with one, only a record signed by
        // this node's key (which arrives with the seed's answer) moves it.
        if s.version > self.me.version && self.signer.is_none() {
            let mut mine = (*self.me).clone();
            mine.version = s.version;
            let _ = self.set_own_record(mine);
        }
    }

    /// Refuses a claim about this node at an incarnation it never took.
    fn refuse_ahead_of_me(&mut self, s: &MemberState, sender: &NodeId) {
        let reason = ClaimRefusal::AheadOfNode {
            liveness: s.liveness,
            incarnation: s.incarnation,
            held: self.incarnation,
        };
        self.refuse_claim(&s.node_id, sender, reason);
    }

    pub(super) fn on_claim(&mut self, from: &NodeId, c: StateClaim, liveness: Liveness, now: u64) {
        let s = MemberState {
            node_id: c.node_id,
            incarnation: c.incarnation,
            liveness,
            version: c.version,
            from: c.from,
            sig: c.sig,
        };
        // Suspicions and their refutations travel point to point; deaths
        // and leaves are relayed.
        let source = match liveness {
            Liveness::Suspect | Liveness::Alive => Source::Direct,
            _ => Source::Gossip,
        };
        if self.apply_state(&s, from, source, now) && self.may_ask(&s.node_id, s.version, now) {
            let req = PeerListRequest {
                node_ids: vec![s.node_id],
            };
            self.send(from, Message::PeerListRequest(req));
        }
    }
}
