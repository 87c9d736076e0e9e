use serde::{Deserialize, Serialize};

use super::RegistryError;

/// Settings of a [`PeerRegistry`](super::PeerRegistry). Reads from JSON with
/// every field optional: `{"capacity": 50000, "dead_retention_ms": 60000}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistryConfig {
    /// Most peers kept. When full, a new peer is admitted only if it ranks
    /// above the lowest-ranked evictable peer, which is then evicted (see
    /// [`PeerRegistry`](super::PeerRegistry) for the order); otherwise the
    /// insert fails with [`RegistryError::Full`]. Default 100,000.
    pub capacity: usize,
    /// How long a dead or departed peer stays listed (as dead or left)
    /// before [`cleanup_dead_peers`](super::PeerRegistry::cleanup_dead_peers)
    /// removes it, in milliseconds. Default 300,000 (5 minutes).
    pub dead_retention_ms: u64,
    /// If set, `cleanup_dead_peers` also marks dead every alive or suspect
    /// peer not heard from for this long (the seed system's rule, for a
    /// registry used without the membership protocol). Default: unset.
    pub stale_after_ms: Option<u64>,
    /// Queue length of each subscriber made by
    /// [`subscribe`](super::PeerRegistry::subscribe). Default 4,096.
    pub subscriber_capacity: usize,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            capacity: 100_000,
            dead_retention_ms: 300_000,
            stale_after_ms: None,
            subscriber_capacity: 4096,
        }
    }
}

impl RegistryConfig {
    /// Checks the values.
    pub fn validate(&self) -> Result<(), RegistryError> {
        if self.capacity == 0 {
            return Err(RegistryError::InvalidConfig("capacity must be at least 1"));
        }
        if self.subscriber_capacity == 0 {
            return Err(RegistryError::InvalidConfig(
                "subscriber_capacity must be at least 1",
            ));
        }
        Ok(())
    }
}
