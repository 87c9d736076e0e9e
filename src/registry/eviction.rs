//! The eviction order: which peer goes first when the registry is full.
//!
//! Peers are ranked by (liveness, health score, last seen), lowest first:
//! dead before departed before suspect before alive; within one liveness,
//! the least healthy first; among equally healthy, the least recently seen
//! first. Connected peers are never evicted.

use std::collections::BTreeSet;

use crate::model::{ConnectionState, NodeId, Peer};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct EvictionKey {
    rank: u8,
    health_micros: u32,
    last_seen_ms: u64,
    pub id: NodeId,
}

impl EvictionKey {
    /// The key of a peer, or `None` when it may not be evicted.
    pub fn of(peer: &Peer) -> Option<Self> {
        (peer.connection_state != ConnectionState::Connected).then(|| EvictionKey {
            rank: peer.liveness.eviction_rank(),
            health_micros: (peer.health.score() * 1_000_000.0).round() as u32,
            last_seen_ms: peer.last_seen_ms,
            id: peer.node_id().clone(),
        })
    }
}

#[derive(Default)]
pub(crate) struct EvictionOrder {
    keys: BTreeSet<EvictionKey>,
}

impl EvictionOrder {
    /// Replaces a peer's old key by its new one.
    pub fn update(&mut self, old: Option<&EvictionKey>, new: Option<EvictionKey>) {
        if old == new.as_ref() {
            return;
        }
        if let Some(o) = old {
            self.keys.remove(o);
        }
        if let Some(n) = new {
            self.keys.insert(n);
        }
    }

    /// The lowest-ranked evictable peer.
    pub fn first(&self) -> Option<&EvictionKey> {
        self.keys.first()
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.keys.len()
    }
}
