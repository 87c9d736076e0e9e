//! The peer registry: every peer this node knows, safe to share between
//! threads, usable on its own without any networking.
//!
//! - Peers live in 64 shards by hash of node id, each behind its own
//!   reader-sharded lock (see `shard.rs`). A read locks one shard for one
//!   hash lookup and an `Arc` clone; a write locks one shard for one update.
//!   So a reader never waits longer than one update.
//! - The capability index and the eviction order sit behind `parking_lot`
//!   locks.
//! - A capability index maps (kind, name) to node ids, so
//!   `find_by_capability` costs in proportion to its results.
//! - At capacity, the lowest-ranked peer is evicted in this order: dead,
//!   then left, then suspect, then alive; within each, the least healthy
//!   first; then the least recently seen. Connected peers are never
//!   evicted. A newcomer that would rank lowest itself is refused with
//!   [`RegistryError::Full`].
//! - Events go to subscribers and callbacks (see [`crate::events`]); no
//!   user code ever runs while a registry lock is held.
//!
//! Lock order (to keep it deadlock-free): shard, then index, then eviction
//! order, then slots; never two shards at once.

mod config;
mod error;
mod eviction;
mod filter;
mod index;
mod listen;
mod mutate;
mod query;
mod shard;
mod slots;
mod stats;
mod update;

use std::hash::BuildHasher;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Weak};

use foldhash::fast::RandomState;
use parking_lot::{Mutex, RwLock};

use crate::clock::{Clock, SystemClock};
use crate::events::{EventHub, PeerEvent};
use crate::model::NodeId;

pub use config::RegistryConfig;
pub use error::RegistryError;
pub use filter::{CapabilityFilter, PeerFilter};
pub use stats::RegistryStats;
pub use update::{PeerUpdate, UpsertOutcome};

use eviction::EvictionOrder;
use index::CapabilityIndex;
use shard::ShardLock;
use slots::SlotTable;
use stats::Counters;

const SHARDS: usize = 64;

/// A thread-safe registry of peers. Cloning gives another handle to the same
/// registry.
#[derive(Clone)]
pub struct PeerRegistry {
    inner: Arc<Inner>,
}

struct Inner {
    config: RegistryConfig,
    clock: Arc<dyn Clock>,
    hasher: RandomState,
    shards: Box<[ShardLock]>,
    index: RwLock<CapabilityIndex>,
    eviction: Mutex<EvictionOrder>,
    slots: Mutex<SlotTable>,
    len: AtomicUsize,
    counters: Counters,
    events: EventHub<PeerRegistry, PeerEvent>,
}

impl std::fmt::Debug for PeerRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerRegistry")
            .field("len", &self.len())
            .field("capacity", &self.inner.config.capacity)
            .finish()
    }
}

impl Default for PeerRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl PeerRegistry {
    /// A registry with the default configuration and the system clock.
    pub fn new() -> Self {
        Self::with_config(RegistryConfig::default()).expect("the default config is valid")
    }

    /// A registry with this configuration and the system clock.
    pub fn with_config(config: RegistryConfig) -> Result<Self, RegistryError> {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    /// A registry with this configuration and clock.
    pub fn with_clock(
        config: RegistryConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, RegistryError> {
        config.validate()?;
        let shards = (0..SHARDS).map(|_| ShardLock::default()).collect();
        Ok(PeerRegistry {
            inner: Arc::new(Inner {
                config,
                clock,
                hasher: RandomState::default(),
                shards,
                index: RwLock::new(CapabilityIndex::default()),
                eviction: Mutex::new(EvictionOrder::default()),
                slots: Mutex::new(SlotTable::default()),
                len: AtomicUsize::new(0),
                counters: Counters::default(),
                events: EventHub::new("registry"),
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &RegistryConfig {
        &self.inner.config
    }

    /// The registry clock's time, in Unix milliseconds.
    pub fn now_ms(&self) -> u64 {
        self.inner.clock.now_ms()
    }

    fn shard_of(&self, id: &str) -> &ShardLock {
        let h = self.inner.hasher.hash_one(id) as usize;
        &self.inner.shards[h % SHARDS]
    }

    fn weak(&self) -> Weak<Inner> {
        Arc::downgrade(&self.inner)
    }

    fn from_weak(weak: &Weak<Inner>) -> Option<PeerRegistry> {
        weak.upgrade().map(|inner| PeerRegistry { inner })
    }

    fn not_found(id: &str) -> RegistryError {
        match NodeId::new(id) {
            Ok(id) => RegistryError::NotFound(id),
            Err(e) => RegistryError::Invalid(e),
        }
    }
}

#[cfg(test)]
mod tests;
