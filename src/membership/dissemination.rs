use std::collections::{BTreeMap, HashMap};
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
}

/// Sort key: (class, transmissions, newest first).
type Key = (u8, u32, u64);

/// The dissemination queue: at most one update per node (a newer one
/// replaces the older), sent fewest-transmissions first, newest first among
/// equals, and dropped after the retransmit limit. Suspicions come after
/// everything else (refutations, deaths, records): when the queue holds more
/// than a message can carry (mass suspicion under heavy loss), refutations
/// are not starved by the suspicions they answer.
#[derive(Debug, Clone)]
pub(crate) struct BroadcastQueue {
    order: BTreeMap<Key, Item>,
    keys: HashMap<NodeId, Key, FixedState>,
    next: u64,
}

fn class(state: &MemberState) -> u8 {
    u8::from(state.liveness == crate::model::Liveness::Suspect)
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
        }
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
        let mut record = record;
        if let Some(key) = self.keys.remove(&state.node_id) {
            if let Some(old) = self.order.remove(&key) {
                if record.is_none() {
                    record = old.record;
                }
            }
        }
        let bytes = crate::wire::json_len(&state)
            + record
                .as_ref()
                .map_or(0, |r| crate::wire::json_len(&**r) + 1)
            + 1;
        self.next += 1;
        let key = (class(&state), 0, u64::MAX - self.next);
        self.keys.insert(state.node_id.clone(), key);
        self.order.insert(
            key,
            Item {
                state,
                record,
                transmits: 0,
                bytes,
            },
        );
    }

    /// Takes updates for one message within `budget` bytes; each taken
    /// update counts one transmission and is dropped at `limit`.
    pub fn take(&mut self, budget: usize, limit: u32) -> Piggyback {
        let mut out = Piggyback::default();
        let mut used = 0;
        let mut taken = Vec::new();
        for (key, item) in self.order.iter() {
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
            if item.transmits >= limit {
                self.keys.remove(&item.state.node_id);
            } else {
                let new_key = (key.0, item.transmits, key.2);
                self.keys.insert(item.state.node_id.clone(), new_key);
                self.order.insert(new_key, item);
            }
        }
        out
    }
}
