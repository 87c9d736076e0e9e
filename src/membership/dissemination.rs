use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;
use std::sync::Arc;

use foldhash::fast::FixedState;

use crate::model::{NodeId, PeerRecord};
use crate::wire::MemberState;

/// One queued update about a node: its latest state, and its record when
/// the record changed.
#[derive(Debug, Clone)]
struct Item {
    state: MemberState,
    record: Option<Arc<PeerRecord>>,
    transmits: u32,
    bytes: usize,
    /// Hashes of the nodes known to hold this update: the one it came
    /// from, those it was sent to, those that told it again. They are not
    /// sent it (again): every transmission reaches a node that may lack it.
    informed: Vec<u64>,
    /// Hashes of the known holders among them (the source, those that
    /// told it again), not those only sent it: a copy may have been lost.
    holders: Vec<u64>,
}

impl Item {
    fn useless_to(&self, to: &NodeId, to_hash: u64) -> bool {
        if self.informed.contains(&to_hash) {
            return true;
        }
        // News of a node's own life or record teaches it nothing; claims
        // that it is suspect or dead do go to it, so that it refutes them.
        self.state.node_id == *to
            && matches!(
                self.state.liveness,
                crate::model::Liveness::Alive | crate::model::Liveness::Left
            )
    }
}

/// How many times the retransmit limit a death (or a leave) is sent. It is
/// rare, final and, since suspicions are no longer broadcast, the only news
/// of a crash most members get: a member that misses every copy learns it
/// only from its own probe or from anti-entropy, tens of seconds later at
/// N = 1,000 (BENCHMARKS.md, "10 % loss"). The extra copies cost bytes
/// once per crash, not per second.
const DEATH_RETRANSMIT_FACTOR: u32 = 2;

/// Whether `state` is a death or a leave (see [`DEATH_RETRANSMIT_FACTOR`]).
fn is_final(state: &MemberState) -> bool {
    matches!(
        state.liveness,
        crate::model::Liveness::Dead | crate::model::Liveness::Left
    )
}

/// Sort key: (class, transmissions, newest first).
type Key = (u8, u32, u64);

/// The dissemination queue: at most one update per node (a newer one
/// replaces the older), sent fewest-transmissions first, newest first among
/// equals, and dropped after the retransmit limit. Records and deaths come
/// first, other news of life next, suspicions (which the core no longer
/// broadcasts, PROTOCOL.md "Suspicion") last: when the queue holds more
/// than a message can carry, joins are never starved. An update is never sent
/// to a node known to hold it already, so that its few transmissions each
/// reach someone new: in a small cluster, the origin alone tells everyone.
#[derive(Debug, Clone)]
pub(crate) struct BroadcastQueue {
    order: BTreeMap<Key, Item>,
    keys: HashMap<NodeId, Key, FixedState>,
    next: u64,
    /// Records larger than this (bytes) are queued as their state alone:
    /// no message could carry them, and a receiver that sees the newer
    /// version in the state asks for the record (`peer_list_request`).
    record_limit: usize,
}

/// Records (joins, updates) and deaths first, then other news of life
/// (refutations of deaths), suspicions last: a join keeps its place in
/// every message whatever else is queued.
fn class(state: &MemberState, has_record: bool) -> u8 {
    use crate::model::Liveness;
    match state.liveness {
        _ if has_record => 0,
        Liveness::Dead | Liveness::Left => 0,
        Liveness::Alive => 1,
        Liveness::Suspect => 2,
    }
}

/// Updates taken from the queue for one message.
#[derive(Debug, Default)]
pub(crate) struct Piggyback {
    pub peers: Vec<Arc<PeerRecord>>,
    pub states: Vec<MemberState>,
}

impl BroadcastQueue {
    pub fn new(hash_seed: u64) -> Self {
        BroadcastQueue {
            order: BTreeMap::new(),
            keys: HashMap::with_hasher(FixedState::with_seed(hash_seed)),
            next: 0,
            record_limit: usize::MAX,
        }
    }

    /// Sets the largest record queued with its state (see `record_limit`).
    pub fn set_record_limit(&mut self, bytes: usize) {
        self.record_limit = bytes;
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Queues an update; a record already queued for the node is kept when
    /// the new update has none.
    pub fn push(&mut self, state: MemberState, record: Option<Arc<PeerRecord>>) {
        self.push_from(state, record, None);
    }

    /// Queues an update heard from `heard_from`, which is then not sent a
    /// copy of it.
    pub fn push_from(
        &mut self,
        state: MemberState,
        record: Option<Arc<PeerRecord>>,
        heard_from: Option<&NodeId>,
    ) {
        let mut record = record;
        if let Some(key) = self.keys.remove(&state.node_id) {
            if let Some(old) = self.order.remove(&key) {
                if record.is_none() {
                    record = old.record;
                }
            }
        }
        let record_bytes = record
            .as_ref()
            .map_or(0, |r| crate::wire::json_len(&**r) + 1);
        if record_bytes > self.record_limit {
            record = None;
        }
        let bytes =
            crate::wire::json_len(&state) + if record.is_some() { record_bytes } else { 0 } + 1;
        let informed: Vec<u64> = heard_from.map(|id| self.hash(id)).into_iter().collect();
        let holders = informed.clone();
        self.next += 1;
        let key = (class(&state, record.is_some()), 0, u64::MAX - self.next);
        self.keys.insert(state.node_id.clone(), key);
        self.order.insert(
            key,
            Item {
                state,
                record,
                transmits: 0,
                bytes,
                informed,
                holders,
            },
        );
    }

    /// Notes that `holder` told this node `state` again (it holds it): it
    /// is not sent the queued update when that says no more. An update
    /// every other member is known to hold (`others` of them told this
    /// node; one only sent it may have lost it) leaves the queue.
    pub fn heard_again(&mut self, state: &MemberState, holder: &NodeId, others: usize) {
        let Some(key) = self.keys.get(&state.node_id).copied() else {
            return;
        };
        let h = self.hash(holder);
        let Some(item) = self.order.get_mut(&key) else {
            return;
        };
        let q = &item.state;
        if q.incarnation != state.incarnation
            || q.liveness != state.liveness
            || q.version > state.version
        {
            return;
        }
        if !item.informed.contains(&h) {
            item.informed.push(h);
        }
        if !item.holders.contains(&h) {
            item.holders.push(h);
        }
        if item.holders.len() >= others {
            self.order.remove(&key);
            self.keys.remove(&state.node_id);
        }
    }

    fn hash(&self, id: &NodeId) -> u64 {
        self.keys.hasher().hash_one(id)
    }

    /// Takes updates for one message to `to` within `budget` bytes; each
    /// taken update counts one transmission and is dropped at `limit`
    /// (deaths and leaves at [`DEATH_RETRANSMIT_FACTOR`] times `limit`).
    /// Updates that would teach `to` nothing are left for other messages
    /// (they cost no transmission): those it is known to hold, and news of
    /// its own life or record. `to` then counts as holding what it took.
    pub fn take(&mut self, budget: usize, limit: u32, to: &NodeId) -> Piggyback {
        let mut out = Piggyback::default();
        let h = self.hash(to);
        let mut used = 0;
        let mut taken = Vec::new();
        for (key, item) in self.order.iter() {
            if item.useless_to(to, h) {
                continue;
            }
            if used + item.bytes > budget {
                if used == 0 {
                    continue; // too big alone: a later, smaller one may fit
                }
                break;
            }
            used += item.bytes;
            taken.push(*key);
        }
        for key in taken {
            let Some(mut item) = self.order.remove(&key) else {
                continue;
            };
            out.states.push(item.state.clone());
            if let Some(r) = &item.record {
                out.peers.push(r.clone());
            }
            item.transmits += 1;
            let limit = if is_final(&item.state) {
                limit.saturating_mul(DEATH_RETRANSMIT_FACTOR)
            } else {
                limit
            };
            if item.transmits >= limit {
                self.keys.remove(&item.state.node_id);
            } else {
                item.informed.push(h);
                let new_key = (key.0, item.transmits, key.2);
                self.keys.insert(item.state.node_id.clone(), new_key);
                self.order.insert(new_key, item);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Liveness;

    fn id(s: &str) -> NodeId {
        NodeId::new(s).unwrap()
    }

    fn state(of: &str, liveness: Liveness) -> MemberState {
        MemberState::new(id(of), 0, liveness, 2)
    }

    fn takers(q: &mut BroadcastQueue, to: &[&str], limit: u32) -> Vec<String> {
        to.iter()
            .filter(|t| !q.take(4096, limit, &id(t)).states.is_empty())
            .map(|t| t.to_string())
            .collect()
    }

    #[test]
    fn a_record_over_the_limit_travels_as_its_state_alone() {
        let mut q = BroadcastQueue::new(7);
        q.set_record_limit(100);
        let mut rec = PeerRecord::new(id("x"));
        rec.metadata.insert("k".into(), "v".repeat(200));
        q.push(state("x", Liveness::Alive), Some(Arc::new(rec)));
        let p = q.take(1000, 10, &id("a"));
        assert_eq!(p.states.len(), 1);
        assert!(p.peers.is_empty());
    }

    #[test]
    fn an_update_is_not_sent_back_to_its_source_nor_twice_to_a_node() {
        let mut q = BroadcastQueue::new(7);
        q.push_from(state("x", Liveness::Alive), None, Some(&id("a")));
        // "a" told us; "x" is the subject of alive news: neither takes it.
        // "b" takes it once, then "c".
        assert_eq!(takers(&mut q, &["a", "x", "b", "b", "c"], 10), ["b", "c"]);
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn a_suspicion_goes_to_its_subject_so_that_it_refutes() {
        let mut q = BroadcastQueue::new(7);
        q.push(state("x", Liveness::Suspect), None);
        assert_eq!(takers(&mut q, &["x"], 10), ["x"]);
    }

    #[test]
    fn a_join_goes_first_whatever_else_is_queued() {
        let mut q = BroadcastQueue::new(7);
        for i in 0..200 {
            q.push(state(&format!("s{i}"), Liveness::Suspect), None);
            let mut alive = state(&format!("r{i}"), Liveness::Alive);
            alive.incarnation = 3;
            q.push(alive, None);
        }
        let joiner = Arc::new(PeerRecord::new(id("new")));
        q.push(state("new", Liveness::Alive), Some(joiner));
        // A small budget: the join is in it, first, for every taker.
        for to in ["a", "b", "c"] {
            let p = q.take(400, 10, &id(to));
            assert_eq!(p.states[0].node_id, id("new"), "{to}");
            assert_eq!(p.peers.len(), 1);
        }
    }

    #[test]
    fn skipped_nodes_cost_no_transmission_and_the_limit_still_holds() {
        let mut q = BroadcastQueue::new(7);
        q.push_from(state("x", Liveness::Alive), None, Some(&id("a")));
        assert_eq!(takers(&mut q, &["a", "a", "b", "c"], 2), ["b", "c"]);
        assert!(q.is_empty());
    }

    #[test]
    fn a_death_is_sent_more_times_than_other_news() {
        let mut q = BroadcastQueue::new(7);
        q.push(state("x", Liveness::Alive), None);
        q.push(state("y", Liveness::Dead), None);
        let to: Vec<String> = (0..10).map(|i| format!("n{i}")).collect();
        let mut alive = 0;
        let mut dead = 0;
        for t in &to {
            for st in q.take(4096, 2, &id(t)).states {
                match st.liveness {
                    Liveness::Alive => alive += 1,
                    _ => dead += 1,
                }
            }
        }
        assert_eq!(alive, 2);
        assert_eq!(dead, 2 * DEATH_RETRANSMIT_FACTOR);
        assert!(q.is_empty());
    }

    #[test]
    fn an_update_every_member_holds_leaves_the_queue() {
        let mut q = BroadcastQueue::new(7);
        let st = state("x", Liveness::Alive);
        q.push(st.clone(), None);
        // An older or different state says nothing about this one.
        let older = MemberState::new(id("x"), 0, Liveness::Alive, 1);
        q.heard_again(&older, &id("a"), 2);
        q.heard_again(&state("x", Liveness::Suspect), &id("a"), 2);
        assert_eq!(q.len(), 1);
        q.heard_again(&st, &id("a"), 2);
        assert_eq!(q.len(), 1);
        assert_eq!(takers(&mut q, &["a", "b"], 10), ["b"]);
        // "b" was sent it, which does not say it holds it (lost copies).
        q.heard_again(&st, &id("c"), 3);
        assert_eq!(q.len(), 1);
        q.heard_again(&st, &id("b"), 3);
        assert!(q.is_empty());
    }
}
