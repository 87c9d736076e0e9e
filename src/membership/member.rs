use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use foldhash::fast::FixedState;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::model::{Liveness, NodeId, PeerRecord};

/// What this node knows about one other member. Kept small (56 bytes): a
/// simulator holds 10^8 of them.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    /// The member's newest record known here (shared, never copied).
    pub record: Arc<PeerRecord>,
    /// Incarnation of the current liveness.
    pub incarnation: u64,
    /// Alive, suspect, dead or left.
    pub liveness: Liveness,
    /// Health score (EWMA of probe and connection outcomes), 0..=1.
    pub health: f32,
    /// Failed reconnect attempts since the member went down.
    pub attempts: u8,
    /// How far `incarnation` is above the highest one the member itself
    /// announced (a third party's accusation within the tolerance).
    pub ahead: u8,
    /// When the liveness last changed.
    pub since_ms: u64,
    /// Earliest time of the next reconnect attempt (down members).
    pub next_attempt_ms: u64,
    /// When this node last heard from the member itself (a message it
    /// sent, or an ack of one of this node's probes), plus one; 0: never.
    pub heard_ms: u64,
    /// The member's id hash (`wire::id_hash`): its bucket in digest
    /// summaries, computed once.
    pub id_hash: u64,
}

impl Member {
    pub fn new(record: Arc<PeerRecord>, incarnation: u64, liveness: Liveness, now: u64) -> Self {
        let id_hash = crate::wire::id_hash(&record.node_id);
        Member {
            record,
            incarnation,
            liveness,
            health: 0.5,
            attempts: 0,
            ahead: 0,
            since_ms: now,
            next_attempt_ms: now,
            heard_ms: 0,
            id_hash,
        }
    }

    /// Notes first-hand evidence that the member is alive at `now`.
    pub fn heard(&mut self, now: u64) {
        self.heard_ms = now + 1;
    }

    /// Whether this node heard from the member itself within `window_ms`
    /// before `now`.
    pub fn heard_within(&self, now: u64, window_ms: u64) -> bool {
        self.heard_ms != 0 && now < self.heard_ms.saturating_add(window_ms)
    }

    /// The highest incarnation the member itself announced.
    pub fn attested(&self) -> u64 {
        self.incarnation - u64::from(self.ahead)
    }

    pub fn node_id(&self) -> &NodeId {
        &self.record.node_id
    }

    pub fn record_outcome(&mut self, success: bool) {
        const ALPHA: f32 = 0.2;
        self.health = (1.0 - ALPHA) * self.health + if success { ALPHA } else { 0.0 };
    }
}

/// The member table: a vector (random access for target choice and a
/// shuffled round-robin probe order, as SWIM prescribes) with an id index,
/// plus the set of members that are down (dead or left).
#[derive(Debug, Clone)]
pub(crate) struct MemberTable {
    members: Vec<Member>,
    index: HashMap<NodeId, u32, FixedState>,
    down: BTreeSet<NodeId>,
    probe_cursor: usize,
}

impl MemberTable {
    pub fn new(hash_seed: u64) -> Self {
        MemberTable {
            members: Vec::new(),
            index: HashMap::with_hasher(FixedState::with_seed(hash_seed)),
            down: BTreeSet::new(),
            probe_cursor: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Starts the probe round-robin on an order of this node's own (tables
    /// cloned from one template must not probe in lockstep, nor walk one
    /// shared order from different places: that leaves a member
    /// unprobed by anyone for seconds far more often than independent
    /// orders do).
    pub fn randomize_probe_start(&mut self, rng: &mut ChaCha8Rng) {
        self.shuffle(rng);
        self.probe_cursor = 0;
    }

    /// Members alive or suspect.
    pub fn present(&self) -> usize {
        self.members.len() - self.down.len()
    }

    pub fn get(&self, id: &NodeId) -> Option<&Member> {
        self.index.get(id).map(|&i| &self.members[i as usize])
    }

    pub fn get_mut(&mut self, id: &NodeId) -> Option<&mut Member> {
        match self.index.get(id) {
            Some(&i) => Some(&mut self.members[i as usize]),
            None => None,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Member> {
        self.members.iter()
    }

    pub fn at(&self, i: usize) -> &Member {
        &self.members[i]
    }

    pub fn down(&self) -> &BTreeSet<NodeId> {
        &self.down
    }

    /// Inserts a new member at a random position (so the probe order stays
    /// random).
    pub fn insert(&mut self, member: Member, rng: &mut ChaCha8Rng) {
        let id = member.node_id().clone();
        if self.index.contains_key(&id) {
            return;
        }
        if !member.liveness.is_present() {
            self.down.insert(id.clone());
        }
        let last = self.members.len();
        self.members.push(member);
        self.index.insert(id, last as u32);
        let j = rng.random_range(0..=last);
        if j != last {
            self.swap(j, last);
        }
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.members.swap(a, b);
        for i in [a, b] {
            let id = self.members[i].node_id().clone();
            if let Some(slot) = self.index.get_mut(&id) {
                *slot = i as u32;
            }
        }
    }

    pub fn remove(&mut self, id: &NodeId) -> Option<Member> {
        let i = self.index.remove(id)? as usize;
        self.down.remove(id);
        let m = self.members.swap_remove(i);
        if i < self.members.len() {
            let moved = self.members[i].node_id().clone();
            if let Some(slot) = self.index.get_mut(&moved) {
                *slot = i as u32;
            }
        }
        Some(m)
    }

    /// Sets a member's liveness, keeping the down set in step.
    pub fn set_liveness(&mut self, id: &NodeId, liveness: Liveness, incarnation: u64, now: u64) {
        let Some(&i) = self.index.get(id) else { return };
        let m = &mut self.members[i as usize];
        if m.liveness != liveness {
            m.since_ms = now;
        }
        m.liveness = liveness;
        m.incarnation = incarnation;
        if liveness.is_present() {
            m.attempts = 0;
            self.down.remove(id);
        } else if self.down.insert(id.clone()) {
            m.attempts = 0;
            m.next_attempt_ms = now;
        }
    }

    /// The next member to probe: round-robin over a shuffled order,
    /// reshuffled at each wrap; skips members that are down.
    pub fn next_probe_target(&mut self, rng: &mut ChaCha8Rng) -> Option<NodeId> {
        if self.present() == 0 {
            return None;
        }
        for _ in 0..=self.members.len() {
            if self.probe_cursor >= self.members.len() {
                self.shuffle(rng);
                self.probe_cursor = 0;
            }
            let m = &self.members[self.probe_cursor];
            self.probe_cursor += 1;
            if m.liveness.is_present() {
                return Some(m.node_id().clone());
            }
        }
        None
    }

    /// The member [`next_probe_target`](Self::next_probe_target) will
    /// return, when it is known without drawing (not at the end of a pass,
    /// where the order is reshuffled).
    pub fn peek_probe_target(&self) -> Option<&NodeId> {
        self.members[self.probe_cursor.min(self.members.len())..]
            .iter()
            .find(|m| m.liveness.is_present())
            .map(Member::node_id)
    }

    fn shuffle(&mut self, rng: &mut ChaCha8Rng) {
        let n = self.members.len();
        for i in (1..n).rev() {
            let j = rng.random_range(0..=i);
            self.members.swap(i, j);
        }
        for (i, m) in self.members.iter().enumerate() {
            if let Some(slot) = self.index.get_mut(m.node_id()) {
                *slot = i as u32;
            }
        }
    }

    /// A random present member, not in `exclude`; of two random candidates
    /// the healthier one (health-weighted choice without starving anyone).
    pub fn random_present(&self, rng: &mut ChaCha8Rng, exclude: &[&NodeId]) -> Option<usize> {
        let a = self.random_present_one(rng, exclude)?;
        let Some(b) = self.random_present_one(rng, exclude) else {
            return Some(a);
        };
        Some(if self.members[b].health > self.members[a].health {
            b
        } else {
            a
        })
    }

    fn random_present_one(&self, rng: &mut ChaCha8Rng, exclude: &[&NodeId]) -> Option<usize> {
        let n = self.members.len();
        if n == 0 || self.present() <= exclude.len() {
            // Maybe none left; the scan below settles it.
            if self.present() == 0 {
                return None;
            }
        }
        let ok = |m: &Member| m.liveness.is_present() && !exclude.contains(&m.node_id());
        for _ in 0..16 {
            let i = rng.random_range(0..n);
            if ok(&self.members[i]) {
                return Some(i);
            }
        }
        let start = rng.random_range(0..n);
        (0..n)
            .map(|k| (start + k) % n)
            .find(|&i| ok(&self.members[i]))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_member_stays_56_bytes() {
        // The simulator holds 10^8 of them; `ahead` (signed liveness) fits
        // in the padding, the id hash (digest summaries) costs 8 bytes.
        assert!(std::mem::size_of::<super::Member>() <= 56);
    }
}
