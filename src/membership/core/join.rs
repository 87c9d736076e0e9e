//! Joining, bootstrap answers (`hello`, `peer_list_request`) and
//! announcements (the seed system's message).

use super::*;

impl Membership {
    pub(super) fn join_attempt(&mut self, now: u64) {
        let Some(mut j) = self.join.take() else {
            return;
        };
        j.attempts += 1;
        let hello = self.hello();
        for seed in &j.seeds {
            self.emit(Output::Send {
                to: seed.clone(),
                message: Message::Hello(hello.clone()),
            });
        }
        j.next_ms = now + self.backoff(j.attempts);
        self.join = Some(j);
    }

    /// This node's `hello`: its record and incarnation, signed.
    pub fn hello(&self) -> Hello {
        Hello {
            record: self.me.clone(),
            incarnation: self.incarnation,
            sig: self.my_sig.clone(),
        }
    }

    pub(super) fn on_hello(&mut self, from: &NodeId, h: Hello, now: u64) {
        if h.record.node_id != *from {
            self.outcome(from, false);
            return;
        }
        let version = h.record.version;
        // A restarted node may come back with a record at a version this
        // node already holds from its earlier life, with other content (a
        // new port): it must see that record to publish above it.
        let held_differs = self
            .members
            .get(from)
            .is_some_and(|m| m.record.version >= version && *m.record != *h.record);
        if !self.apply_record(h.record, from, true, now) {
            // A forged or unsigned record of a node that must sign: no
            // answer, nothing learned.
            return;
        }
        let mut s = MemberState::new(from.clone(), h.incarnation, Liveness::Alive, version);
        s.sig = h.sig;
        self.apply_state(&s, from, Source::Gossip, now);
        // Answer with a random sample and the joiner's own state as known
        // here (so a restarted node refutes its old death at once), and its
        // old record when it differs.
        let mut list = self.sample_peer_list(self.config.peer_list_size);
        if let Some(m) = self.members.get(from) {
            // Its last signed word first: a restarted node learns from it
            // which incarnation it had reached (and may then refute).
            let word = self.word_state(from, m.record.version);
            let st = self.with_sig(Self::state_of(m, None));
            list.states.extend(word.filter(|w| *w != st));
            list.states.push(st);
            if held_differs {
                list.peers.push(m.record.clone());
            }
        }
        self.send(from, Message::PeerList(list));
    }

    pub(super) fn sample_peer_list(&mut self, max: usize) -> PeerList {
        let mut list = PeerList::default();
        list.peers.push(self.me.clone());
        list.states.push(self.my_state());
        let n = self.members.len();
        if n == 0 {
            return list;
        }
        let want = max.saturating_sub(1).min(n);
        let start = self.rng.random_range(0..n);
        for k in 0..n {
            if list.peers.len() > want {
                break;
            }
            let m = self.members.at((start + k) % n);
            if m.liveness.is_present() {
                list.peers.push(m.record.clone());
                list.states.push(self.with_sig(Self::state_of(m, None)));
            }
        }
        list
    }

    pub(super) fn on_peer_list_request(&mut self, from: &NodeId, r: PeerListRequest) {
        let list = if r.node_ids.is_empty() {
            self.sample_peer_list(self.config.peer_list_size)
        } else {
            let mut list = PeerList::default();
            for id in r.node_ids.iter().take(MAX_PEERS_PER_MESSAGE) {
                if *id == self.me.node_id {
                    list.peers.push(self.me.clone());
                    list.states.push(self.my_state());
                } else if let Some(m) = self.members.get(id) {
                    list.peers.push(m.record.clone());
                    list.states.push(self.with_sig(Self::state_of(m, None)));
                }
            }
            list
        };
        self.send(from, Message::PeerList(list));
    }

    pub(super) fn on_announcement(&mut self, from: &NodeId, g: GossipAnnouncement, now: u64) {
        let mut records = Vec::with_capacity(g.peers.len());
        let mut bad = false;
        for p in &g.peers {
            match p.to_record() {
                Ok(r) => records.push(r),
                Err(_) => bad = true,
            }
        }
        if bad {
            self.outcome(from, false);
        }
        self.apply_updates(from, records, g.states, Source::Gossip, now);
    }
}
