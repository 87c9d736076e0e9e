//! One shard of the registry: a slice of the peers (by hash of node id) with
//! its own counts, behind its own lock.
//!
//! The lock is crossbeam's `ShardedLock`: each reader thread locks its own
//! cache-line-sized reader slot, so two threads reading at full speed never
//! bounce a lock word between cores (with one `RwLock` per shard, parking_lot
//! or std, two readers on two cores reached only 0.96x the single-thread
//! rate; see BENCHMARKS.md). A writer locks every slot of one shard, which
//! costs some 100 ns more per update.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError};

use crossbeam_utils::sync::{ShardedLock, ShardedLockReadGuard, ShardedLockWriteGuard};

use foldhash::fast::RandomState;

use crate::model::{ConnectionState, Liveness, NodeId, Peer};

/// Health scores are summed in millionths, so the sum never drifts.
const HEALTH_SCALE: f64 = 1_000_000.0;

#[derive(Default)]
pub(crate) struct ShardCounts {
    pub liveness: [usize; 4],
    pub connection: [usize; 4],
    pub health_micros: i64,
}

impl ShardCounts {
    pub fn add(&mut self, p: &Peer) {
        self.liveness[p.liveness.index()] += 1;
        self.connection[p.connection_state.index()] += 1;
        self.health_micros += health_micros(p);
    }

    pub fn sub(&mut self, p: &Peer) {
        self.liveness[p.liveness.index()] -= 1;
        self.connection[p.connection_state.index()] -= 1;
        self.health_micros -= health_micros(p);
    }
}

fn health_micros(p: &Peer) -> i64 {
    (p.health.score() * HEALTH_SCALE).round() as i64
}

pub(crate) fn health_from_micros(sum: i64, n: usize) -> f64 {
    if n == 0 {
        0.0
    } else {
        sum as f64 / HEALTH_SCALE / n as f64
    }
}

/// A listed peer and its slot number (see `slots.rs`).
pub(crate) struct Entry {
    pub peer: Arc<Peer>,
    pub slot: u32,
}

#[derive(Default)]
pub(crate) struct Shard {
    pub peers: HashMap<NodeId, Entry, RandomState>,
    pub counts: ShardCounts,
}

/// Count indexes for the stats.
pub(crate) fn liveness_count(c: &ShardCounts, l: Liveness) -> usize {
    c.liveness[l.index()]
}

pub(crate) fn connection_count(c: &ShardCounts, s: ConnectionState) -> usize {
    c.connection[s.index()]
}

/// A shard behind its lock. Poisoning is ignored: no registry code panics
/// while holding a shard lock.
#[derive(Default)]
pub(crate) struct ShardLock(ShardedLock<Shard>);

impl ShardLock {
    #[inline]
    pub fn read(&self) -> ShardedLockReadGuard<'_, Shard> {
        self.0.read().unwrap_or_else(PoisonError::into_inner)
    }

    #[inline]
    pub fn write(&self) -> ShardedLockWriteGuard<'_, Shard> {
        self.0.write().unwrap_or_else(PoisonError::into_inner)
    }
}
