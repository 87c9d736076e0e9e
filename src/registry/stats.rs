use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// A snapshot of the registry's counts and counters.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct RegistryStats {
    /// Peers listed.
    pub total: usize,
    pub alive: usize,
    pub suspect: usize,
    pub dead: usize,
    pub left: usize,
    pub connected: usize,
    pub connecting: usize,
    pub disconnected: usize,
    pub failed: usize,
    /// Mean health score of the listed peers (0 when empty).
    pub average_health: f64,
    /// The capacity limit.
    pub capacity: usize,
    /// Peers added so far (by `add`, or `upsert` of an unknown id).
    pub adds: u64,
    /// Updates applied so far (records, state, health).
    pub updates: u64,
    /// Peers removed so far, for any reason (evictions included).
    pub removes: u64,
    /// Peers evicted to make room.
    pub evictions: u64,
    /// Upserts ignored because their version was not newer.
    pub stale_upserts: u64,
    /// Calls refused (invalid input, full).
    pub rejected: u64,
    /// Events dropped because a subscriber's queue was full.
    pub events_dropped: u64,
    /// Callback panics caught.
    pub callback_panics: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub adds: AtomicU64,
    pub updates: AtomicU64,
    pub removes: AtomicU64,
    pub evictions: AtomicU64,
    pub stale_upserts: AtomicU64,
    pub rejected: AtomicU64,
}

impl Counters {
    #[inline]
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}
