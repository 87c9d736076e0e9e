//! Read-only calls.

use std::sync::Arc;

use super::shard::{connection_count, health_from_micros, liveness_count};
use super::stats::Counters;
use super::{PeerFilter, PeerRegistry, RegistryStats};
use crate::model::{CapabilityKind, ConnectionState, Liveness, Peer};

impl PeerRegistry {
    /// The peer with this node id.
    #[inline]
    pub fn get(&self, node_id: &str) -> Option<Arc<Peer>> {
        self.shard_of(node_id)
            .read()
            .peers
            .get(node_id)
            .map(|e| Arc::clone(&e.peer))
    }

    /// Reads the peer with this node id in place, without cloning its `Arc`
    /// (`f` runs under the shard's read lock: keep it short, and it must not
    /// call into the registry).
    #[inline]
    pub fn with_peer<R>(&self, node_id: &str, f: impl FnOnce(&Peer) -> R) -> Option<R> {
        self.shard_of(node_id)
            .read()
            .peers
            .get(node_id)
            .map(|e| f(&e.peer))
    }

    /// Whether a peer with this node id is listed.
    pub fn contains(&self, node_id: &str) -> bool {
        self.shard_of(node_id).read().peers.contains_key(node_id)
    }

    /// Number of peers listed (in any state).
    pub fn len(&self) -> usize {
        self.inner.len.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether no peer is listed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every peer, sorted by node id.
    pub fn list(&self) -> Vec<Arc<Peer>> {
        self.list_filtered(&PeerFilter::default())
    }

    /// Alive and suspect peers, sorted by node id.
    pub fn list_alive(&self) -> Vec<Arc<Peer>> {
        self.list_filtered(&PeerFilter::alive())
    }

    /// Connected peers, sorted by node id.
    pub fn list_connected(&self) -> Vec<Arc<Peer>> {
        self.list_filtered(&PeerFilter::connected())
    }

    /// Peers that pass `filter`, sorted by node id. With a capability in
    /// the filter, the candidates come from the index.
    pub fn list_filtered(&self, filter: &PeerFilter) -> Vec<Arc<Peer>> {
        let mut out: Vec<Arc<Peer>> = match &filter.capability {
            Some(cap) => self
                .find_by_capability(cap.kind, &cap.name)
                .into_iter()
                .filter(|p| filter.matches(p))
                .collect(),
            None => {
                let mut v = Vec::with_capacity(self.len());
                for shard in self.inner.shards.iter() {
                    let s = shard.read();
                    v.extend(
                        s.peers
                            .values()
                            .filter(|e| filter.matches(&e.peer))
                            .map(|e| Arc::clone(&e.peer)),
                    );
                }
                v
            }
        };
        out.sort_unstable_by(|a, b| a.node_id().cmp(b.node_id()));
        if let Some(limit) = filter.limit {
            out.truncate(limit);
        }
        out
    }

    /// Peers offering a capability of this kind and name, sorted by node
    /// id. Costs in proportion to the number of results.
    pub fn find_by_capability(&self, kind: CapabilityKind, name: &str) -> Vec<Arc<Peer>> {
        let slots: Vec<u32> = match self.inner.index.read().get(kind, name) {
            Some(set) => set.iter().copied().collect(),
            None => return Vec::new(),
        };
        let ids: Vec<_> = {
            let table = self.inner.slots.lock();
            slots.iter().filter_map(|s| table.id(*s).cloned()).collect()
        };
        // A slot may have been reused since the index was read: re-check.
        let mut out: Vec<Arc<Peer>> = ids
            .iter()
            .filter_map(|id| self.get(id.as_str()))
            .filter(|p| p.capabilities().contains(kind, name))
            .collect();
        out.sort_unstable_by(|a, b| a.node_id().cmp(b.node_id()));
        out
    }

    /// Peers offering this agent.
    pub fn find_by_agent(&self, name: &str) -> Vec<Arc<Peer>> {
        self.find_by_capability(CapabilityKind::Agent, name)
    }
    /// Peers offering this tool.
    pub fn find_by_tool(&self, name: &str) -> Vec<Arc<Peer>> {
        self.find_by_capability(CapabilityKind::Tool, name)
    }
    /// Peers offering this resource.
    pub fn find_by_resource(&self, name: &str) -> Vec<Arc<Peer>> {
        self.find_by_capability(CapabilityKind::Resource, name)
    }
    /// Peers offering this prompt.
    pub fn find_by_prompt(&self, name: &str) -> Vec<Arc<Peer>> {
        self.find_by_capability(CapabilityKind::Prompt, name)
    }

    /// Counts per state, average health, and counters so far.
    pub fn stats(&self) -> RegistryStats {
        let mut live = [0usize; 4];
        let mut conn = [0usize; 4];
        let mut health = 0i64;
        let mut total = 0usize;
        for shard in self.inner.shards.iter() {
            let s = shard.read();
            total += s.peers.len();
            for l in Liveness::ALL {
                live[l.index()] += liveness_count(&s.counts, l);
            }
            for c in ConnectionState::ALL {
                conn[c.index()] += connection_count(&s.counts, c);
            }
            health += s.counts.health_micros;
        }
        let c = &self.inner.counters;
        RegistryStats {
            total,
            alive: live[Liveness::Alive.index()],
            suspect: live[Liveness::Suspect.index()],
            dead: live[Liveness::Dead.index()],
            left: live[Liveness::Left.index()],
            connected: conn[ConnectionState::Connected.index()],
            connecting: conn[ConnectionState::Connecting.index()],
            disconnected: conn[ConnectionState::Disconnected.index()],
            failed: conn[ConnectionState::Failed.index()],
            average_health: health_from_micros(health, total),
            capacity: self.inner.config.capacity,
            adds: Counters::get(&c.adds),
            updates: Counters::get(&c.updates),
            removes: Counters::get(&c.removes),
            evictions: Counters::get(&c.evictions),
            stale_upserts: Counters::get(&c.stale_upserts),
            rejected: Counters::get(&c.rejected),
            events_dropped: self
                .inner
                .events
                .dropped
                .load(std::sync::atomic::Ordering::Relaxed),
            callback_panics: self
                .inner
                .events
                .callback_panics
                .load(std::sync::atomic::Ordering::Relaxed),
        }
    }
}
