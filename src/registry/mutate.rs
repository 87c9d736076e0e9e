//! Calls that change the registry. Each takes one shard's write lock for one
//! update; events are handed out (without blocking) before the lock is
//! released, so every subscriber sees a peer's events in the order they
//! happened.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::eviction::EvictionKey;
use super::shard::{Entry, Shard};
use super::stats::Counters;
use super::update::record_changes;
use super::{PeerRegistry, PeerUpdate, RegistryError, UpsertOutcome};
use crate::events::{ChangedField, PeerEvent, RemovalReason, StateChange};
use crate::model::{ConnectionState, Liveness, NodeId, Peer, PeerRecord};

/// An event to emit once the new state of the peer is known.
enum Pending {
    Updated(Vec<ChangedField>),
    State(StateChange),
}

/// How many peers one insert may evict before it gives up (only reached when
/// other threads fill the registry at the same time).
const MAX_EVICTIONS_PER_INSERT: usize = 64;

impl PeerRegistry {
    /// Adds a new peer. Fails with [`RegistryError::AlreadyExists`] if the
    /// node id is listed (use [`upsert`](Self::upsert) or
    /// [`update`](Self::update) then). Times left at 0 (first seen, last
    /// seen, liveness changed) are stamped with the registry's clock, so a
    /// peer added without them counts as just heard of (a cleanup with
    /// `stale_after_ms` does not take it for silent).
    pub fn add(&self, mut peer: Peer) -> Result<(), RegistryError> {
        if let Err(e) = peer.validate() {
            return Err(self.rejected(e.into()));
        }
        if peer.first_seen_ms == 0 || peer.last_seen_ms == 0 || peer.liveness_changed_ms == 0 {
            let now = self.now_ms();
            if peer.first_seen_ms == 0 {
                peer.first_seen_ms = match peer.last_seen_ms {
                    0 => now,
                    last => last.min(now),
                };
            }
            if peer.last_seen_ms == 0 {
                peer.last_seen_ms = now.max(peer.first_seen_ms);
            }
            if peer.liveness_changed_ms == 0 {
                peer.liveness_changed_ms = peer.first_seen_ms;
            }
        }
        let id = peer.node_id().clone();
        let mut roomed = false;
        loop {
            {
                let mut shard = self.shard_of(id.as_str()).write();
                if shard.peers.contains_key(&id) {
                    return Err(self.rejected(RegistryError::AlreadyExists(id)));
                }
                if roomed || self.len() < self.inner.config.capacity {
                    self.insert_locked(&mut shard, peer);
                    return Ok(());
                }
            }
            self.make_room(EvictionKey::of(&peer), &id)?;
            roomed = true;
        }
    }

    /// Adds a peer's record, or replaces the listed one if `record.version`
    /// is higher. A record whose version is not higher is ignored and
    /// [`UpsertOutcome::Ignored`] says so. Replacing keeps what this node
    /// observed (health, connection, first seen); a dead or departed peer
    /// that publishes a newer record is alive again.
    pub fn upsert(&self, record: PeerRecord) -> Result<UpsertOutcome, RegistryError> {
        if let Err(e) = record.validate() {
            return Err(self.rejected(e.into()));
        }
        let now = self.now_ms();
        let id = record.node_id.clone();
        let mut roomed = false;
        loop {
            {
                let mut shard = self.shard_of(id.as_str()).write();
                if let Some(current) = shard.peers.get(&id).map(|e| &e.peer) {
                    if record.version <= current.version() {
                        Counters::bump(&self.inner.counters.stale_upserts);
                        return Ok(UpsertOutcome::Ignored {
                            current_version: current.version(),
                        });
                    }
                    let changes = self.replace_record_locked(&mut shard, record, now);
                    return Ok(UpsertOutcome::Updated { changes });
                }
                if roomed || self.len() < self.inner.config.capacity {
                    self.insert_locked(&mut shard, Peer::from_record(record, now));
                    return Ok(UpsertOutcome::Added);
                }
            }
            let fresh = EvictionKey::of(&Peer::from_record(PeerRecord::new(id.clone()), now));
            self.make_room(fresh, &id)?;
            roomed = true;
        }
    }

    /// Applies a local edit to a listed peer and returns what changed. The
    /// whole edit is validated first; if any part is invalid nothing
    /// changes.
    pub fn update(
        &self,
        node_id: &str,
        update: PeerUpdate,
    ) -> Result<Vec<ChangedField>, RegistryError> {
        let touches_record = update.addresses.is_some()
            || update.public_key.is_some()
            || update.capabilities.is_some()
            || update.metadata.is_some()
            || update.version.is_some();
        let mut changes = Vec::new();
        if touches_record {
            let now = self.now_ms();
            let mut shard = self.shard_of(node_id).write();
            let Some(current) = shard.peers.get(node_id).map(|e| &e.peer) else {
                return Err(self.rejected(Self::not_found(node_id)));
            };
            let mut record = current.record.clone();
            if let Some(a) = update.addresses {
                record.addresses = a;
            }
            if let Some(k) = update.public_key {
                record.public_key = k;
            }
            if let Some(c) = update.capabilities {
                record.capabilities = c;
            }
            if let Some(m) = update.metadata {
                record.metadata = m;
            }
            if let Some(v) = update.version {
                record.version = v;
            } else if update.bump_version {
                record.version = record.version.saturating_add(1);
            }
            if let Err(e) = record.validate() {
                return Err(self.rejected(e.into()));
            }
            changes = self.replace_record_locked(&mut shard, record, now);
        } else if !self.contains(node_id) {
            return Err(self.rejected(Self::not_found(node_id)));
        }
        if let Some(s) = update.connection_state {
            self.set_connection_state(node_id, s)?;
        }
        if let Some(l) = update.liveness {
            self.set_liveness(node_id, l)?;
        }
        Ok(changes)
    }

    /// Removes a peer (reason [`RemovalReason::Removed`]) and returns its
    /// last state.
    pub fn remove(&self, node_id: &str) -> Result<Arc<Peer>, RegistryError> {
        self.remove_if(node_id, RemovalReason::Removed, |_| true)
            .ok_or_else(|| self.rejected(Self::not_found(node_id)))
    }

    /// Removes a peer for `reason` (the membership protocol's reclaiming).
    pub(crate) fn remove_for(&self, node_id: &str, reason: RemovalReason) -> Option<Arc<Peer>> {
        self.remove_if(node_id, reason, |_| true)
    }

    /// Notes that the peer was heard from now (last seen). No event.
    pub fn touch(&self, node_id: &str) -> Result<(), RegistryError> {
        self.modify(node_id, |p, now| {
            p.touch(now);
            ((), Vec::new())
        })
    }

    /// Records a successful connection or probe; returns the new health
    /// score. The peer is also heard from now.
    pub fn record_success(&self, node_id: &str) -> Result<f64, RegistryError> {
        self.modify(node_id, |p, now| {
            p.health.record_success();
            p.touch(now);
            (
                p.health.score(),
                vec![Pending::Updated(vec![ChangedField::Health])],
            )
        })
    }

    /// Records a failed connection or probe (or a malformed message);
    /// returns the new health score.
    pub fn record_failure(&self, node_id: &str) -> Result<f64, RegistryError> {
        self.modify(node_id, |p, _| {
            p.health.record_failure();
            (
                p.health.score(),
                vec![Pending::Updated(vec![ChangedField::Health])],
            )
        })
    }

    /// Sets the connection state; returns the previous one.
    pub fn set_connection_state(
        &self,
        node_id: &str,
        state: ConnectionState,
    ) -> Result<ConnectionState, RegistryError> {
        self.modify(node_id, |p, _| {
            let from = p.connection_state;
            p.connection_state = state;
            let ev = if from != state {
                vec![Pending::State(StateChange::Connection { from, to: state })]
            } else {
                Vec::new()
            };
            (from, ev)
        })
    }

    /// Sets the liveness; returns the previous one.
    pub fn set_liveness(
        &self,
        node_id: &str,
        liveness: Liveness,
    ) -> Result<Liveness, RegistryError> {
        self.modify(node_id, |p, now| {
            let from = p.set_liveness(liveness, now);
            let ev = if from != liveness {
                vec![Pending::State(StateChange::Liveness { from, to: liveness })]
            } else {
                Vec::new()
            };
            (from, ev)
        })
    }

    /// Sets liveness and incarnation together, as the membership protocol
    /// learns them; returns the previous liveness.
    pub fn set_liveness_with_incarnation(
        &self,
        node_id: &str,
        liveness: Liveness,
        incarnation: u64,
    ) -> Result<Liveness, RegistryError> {
        self.modify(node_id, |p, now| {
            let mut ev = Vec::new();
            if p.incarnation != incarnation {
                p.incarnation = incarnation;
                ev.push(Pending::Updated(vec![ChangedField::Incarnation]));
            }
            let from = p.set_liveness(liveness, now);
            if from != liveness {
                ev.push(Pending::State(StateChange::Liveness { from, to: liveness }));
            }
            (from, ev)
        })
    }

    /// Marks a peer alive.
    pub fn mark_alive(&self, node_id: &str) -> Result<Liveness, RegistryError> {
        self.set_liveness(node_id, Liveness::Alive)
    }
    /// Marks a peer suspect.
    pub fn mark_suspect(&self, node_id: &str) -> Result<Liveness, RegistryError> {
        self.set_liveness(node_id, Liveness::Suspect)
    }
    /// Marks a peer dead.
    pub fn mark_dead(&self, node_id: &str) -> Result<Liveness, RegistryError> {
        self.set_liveness(node_id, Liveness::Dead)
    }
    /// Marks a peer as departed.
    pub fn mark_left(&self, node_id: &str) -> Result<Liveness, RegistryError> {
        self.set_liveness(node_id, Liveness::Left)
    }

    /// Housekeeping, to call periodically:
    /// - with `stale_after_ms` set, alive or suspect peers not heard from for
    ///   that long are marked dead;
    /// - dead and departed peers whose liveness has not changed for
    ///   `dead_retention_ms` are removed (reason `Dead` or `Left`).
    ///
    /// Returns the node ids removed.
    pub fn cleanup_dead_peers(&self) -> Vec<NodeId> {
        let now = self.now_ms();
        let cfg = &self.inner.config;
        let expired = |p: &Peer| {
            matches!(p.liveness, Liveness::Dead | Liveness::Left)
                && now.saturating_sub(p.liveness_changed_ms) >= cfg.dead_retention_ms
        };
        let stale = |p: &Peer| {
            cfg.stale_after_ms
                .is_some_and(|s| p.liveness.is_present() && now.saturating_sub(p.last_seen_ms) >= s)
        };
        let mut to_kill = Vec::new();
        let mut to_remove = Vec::new();
        for shard in self.inner.shards.iter() {
            let s = shard.read();
            for p in s.peers.values().map(|e| &e.peer) {
                if expired(p) {
                    to_remove.push(p.node_id().clone());
                } else if stale(p) {
                    to_kill.push(p.node_id().clone());
                }
            }
        }
        for id in to_kill {
            let _ = self.modify(id.as_str(), |p, now| {
                if !stale(p) {
                    return ((), Vec::new());
                }
                let from = p.set_liveness(Liveness::Dead, now);
                (
                    (),
                    vec![Pending::State(StateChange::Liveness {
                        from,
                        to: Liveness::Dead,
                    })],
                )
            });
        }
        let mut removed = Vec::new();
        for id in to_remove {
            let reason = |p: &Peer| {
                if p.liveness == Liveness::Left {
                    RemovalReason::Left
                } else {
                    RemovalReason::Dead
                }
            };
            if let Some(p) = self.remove_if_with(id.as_str(), reason, expired) {
                removed.push(p.node_id().clone());
            }
        }
        removed
    }

    // ---- internals ----

    fn rejected(&self, e: RegistryError) -> RegistryError {
        Counters::bump(&self.inner.counters.rejected);
        e
    }

    fn emit(&self, event: impl FnOnce() -> PeerEvent) {
        if self.inner.events.is_listening() {
            self.inner.events.emit(event());
        }
    }

    fn emit_pending(&self, peer: &Arc<Peer>, pending: Vec<Pending>) {
        for p in pending {
            self.emit(|| match p {
                Pending::Updated(changes) => PeerEvent::Updated {
                    peer: Arc::clone(peer),
                    changes,
                },
                Pending::State(change) => PeerEvent::StateChanged {
                    peer: Arc::clone(peer),
                    change,
                },
            });
        }
    }

    /// Inserts a peer known to be absent, with room made.
    fn insert_locked(&self, shard: &mut Shard, mut peer: Peer) {
        let id = peer.node_id().clone();
        let slot = self.inner.slots.lock().alloc(id.clone());
        if !peer.capabilities().is_empty() {
            self.inner
                .index
                .write()
                .insert_all(slot, &mut peer.record.capabilities);
        }
        let peer = Arc::new(peer);
        shard.counts.add(&peer);
        shard.peers.insert(
            id,
            Entry {
                peer: Arc::clone(&peer),
                slot,
            },
        );
        self.inner
            .eviction
            .lock()
            .update(None, EvictionKey::of(&peer));
        self.inner.len.fetch_add(1, Ordering::Relaxed);
        Counters::bump(&self.inner.counters.adds);
        self.emit(|| PeerEvent::Added { peer });
    }

    /// Replaces the record of a listed peer, keeping the local observations.
    fn replace_record_locked(
        &self,
        shard: &mut Shard,
        mut record: PeerRecord,
        now: u64,
    ) -> Vec<ChangedField> {
        let Shard { peers, counts } = shard;
        let entry = peers
            .get_mut(&record.node_id)
            .expect("caller checked the peer is listed");
        let index_slot = entry.slot;
        let slot = &mut entry.peer;
        let changes = record_changes(&slot.record, &record);
        let old_key = EvictionKey::of(slot);
        counts.sub(slot);
        if slot.record.capabilities != record.capabilities {
            self.inner.index.write().replace(
                index_slot,
                &slot.record.capabilities,
                &mut record.capabilities,
            );
        } else {
            // Unchanged: keep the shared names of the listed record.
            record.capabilities = slot.record.capabilities.clone();
        }
        let mut pending = Vec::new();
        let mut peer = Peer {
            record,
            ..Peer::clone_state(slot)
        };
        peer.touch(now);
        if matches!(peer.liveness, Liveness::Dead | Liveness::Left) {
            let from = peer.set_liveness(Liveness::Alive, now);
            pending.push(Pending::State(StateChange::Liveness {
                from,
                to: Liveness::Alive,
            }));
        }
        *slot = Arc::new(peer);
        counts.add(slot);
        self.inner
            .eviction
            .lock()
            .update(old_key.as_ref(), EvictionKey::of(slot));
        Counters::bump(&self.inner.counters.updates);
        let slot = Arc::clone(slot);
        if !changes.is_empty() {
            pending.insert(0, Pending::Updated(changes.clone()));
        }
        self.emit_pending(&slot, pending);
        changes
    }

    /// Runs `f` on a listed peer (copy-on-write), keeping counts, eviction
    /// order and events right.
    fn modify<R>(
        &self,
        node_id: &str,
        f: impl FnOnce(&mut Peer, u64) -> (R, Vec<Pending>),
    ) -> Result<R, RegistryError> {
        let now = self.now_ms();
        let mut guard = self.shard_of(node_id).write();
        let Shard { peers, counts } = &mut *guard;
        let Some(slot) = peers.get_mut(node_id).map(|e| &mut e.peer) else {
            drop(guard);
            return Err(self.rejected(Self::not_found(node_id)));
        };
        let old_key = EvictionKey::of(slot);
        counts.sub(slot);
        let (r, pending) = f(Arc::make_mut(slot), now);
        counts.add(slot);
        let new_key = EvictionKey::of(slot);
        if old_key != new_key {
            self.inner.eviction.lock().update(old_key.as_ref(), new_key);
        }
        if !pending.is_empty() {
            Counters::bump(&self.inner.counters.updates);
            let slot = Arc::clone(slot);
            self.emit_pending(&slot, pending);
        }
        Ok(r)
    }

    fn remove_if(
        &self,
        node_id: &str,
        reason: RemovalReason,
        pred: impl Fn(&Peer) -> bool,
    ) -> Option<Arc<Peer>> {
        self.remove_if_with(node_id, |_| reason, pred)
    }

    /// Removes a peer if `pred` holds for it, with the reason `reason` gives.
    fn remove_if_with(
        &self,
        node_id: &str,
        reason: impl Fn(&Peer) -> RemovalReason,
        pred: impl Fn(&Peer) -> bool,
    ) -> Option<Arc<Peer>> {
        let mut shard = self.shard_of(node_id).write();
        if !pred(&shard.peers.get(node_id)?.peer) {
            return None;
        }
        let Entry { peer, slot } = shard.peers.remove(node_id)?;
        shard.counts.sub(&peer);
        if !peer.capabilities().is_empty() {
            self.inner
                .index
                .write()
                .remove_all(slot, peer.capabilities());
        }
        self.inner
            .eviction
            .lock()
            .update(EvictionKey::of(&peer).as_ref(), None);
        self.inner.slots.lock().release(slot);
        self.inner.len.fetch_sub(1, Ordering::Relaxed);
        Counters::bump(&self.inner.counters.removes);
        let reason = reason(&peer);
        if reason == RemovalReason::Evicted {
            Counters::bump(&self.inner.counters.evictions);
        }
        let out = Arc::clone(&peer);
        self.emit(|| PeerEvent::Removed { peer, reason });
        Some(out)
    }

    /// Evicts lowest-ranked peers until there is room for a newcomer with key
    /// `candidate` (`None`: never evictable, so it outranks everyone).
    fn make_room(&self, candidate: Option<EvictionKey>, id: &NodeId) -> Result<(), RegistryError> {
        let capacity = self.inner.config.capacity;
        for _ in 0..MAX_EVICTIONS_PER_INSERT {
            if self.len() < capacity {
                return Ok(());
            }
            let victim = self.inner.eviction.lock().first().cloned();
            match victim {
                Some(v) if candidate.as_ref().is_none_or(|c| *c > v) => {
                    self.remove_if(v.id.as_str(), RemovalReason::Evicted, |_| true);
                }
                _ => break,
            }
        }
        if self.len() < capacity {
            return Ok(());
        }
        Err(self.rejected(RegistryError::Full {
            node_id: id.clone(),
            capacity,
        }))
    }
}

impl Peer {
    /// A copy of the local observations (the record is left empty for the
    /// caller to fill).
    fn clone_state(p: &Peer) -> Peer {
        Peer {
            record: PeerRecord::new(p.record.node_id.clone()),
            connection_state: p.connection_state,
            liveness: p.liveness,
            incarnation: p.incarnation,
            health: p.health,
            first_seen_ms: p.first_seen_ms,
            last_seen_ms: p.last_seen_ms,
            liveness_changed_ms: p.liveness_changed_ms,
        }
    }
}
