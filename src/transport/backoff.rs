//! Reconnection backoff: exponential delays with jitter and a cap, kept per
//! remote address.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rand::Rng;

use crate::model::PeerAddress;

/// Most addresses remembered; beyond it, addresses whose delay has run out
/// are forgotten first.
const MAX_TRACKED: usize = 4096;

/// How long to wait after the n-th consecutive failure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackoffPolicy {
    /// Delay after the first failure.
    pub base: Duration,
    /// Longest delay.
    pub cap: Duration,
    /// Fraction of the delay drawn at random and taken off, `0.0..=1.0`.
    pub jitter: f64,
}

impl BackoffPolicy {
    /// The delay after `failures` consecutive failures (at least 1):
    /// `min(cap, base * 2^(failures-1))`, less a random part of up to
    /// `jitter` of it.
    pub fn delay(&self, failures: u32, rng: &mut impl Rng) -> Duration {
        let exp = failures.saturating_sub(1).min(31);
        let full = self.base.saturating_mul(1u32 << exp).min(self.cap);
        let jitter = self.jitter.clamp(0.0, 1.0);
        let cut: f64 = if jitter > 0.0 {
            rng.random_range(0.0..=jitter)
        } else {
            0.0
        };
        full.mul_f64(1.0 - cut)
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    retry_at: Instant,
}

/// Backoff state of every address that failed since its last success.
#[derive(Debug)]
pub(crate) struct BackoffTable {
    policy: BackoffPolicy,
    entries: HashMap<PeerAddress, Entry>,
}

impl BackoffTable {
    pub fn new(policy: BackoffPolicy) -> Self {
        BackoffTable {
            policy,
            entries: HashMap::new(),
        }
    }

    /// `Err(time left)` while `peer` must not be dialled.
    pub fn check(&self, peer: &PeerAddress, now: Instant) -> Result<(), Duration> {
        match self.entries.get(peer) {
            Some(e) if e.retry_at > now => Err(e.retry_at - now),
            _ => Ok(()),
        }
    }

    /// Records a failed connect; returns the delay imposed.
    pub fn failure(&mut self, peer: &PeerAddress, now: Instant) -> Duration {
        if self.entries.len() >= MAX_TRACKED && !self.entries.contains_key(peer) {
            self.entries.retain(|_, e| e.retry_at > now);
            if self.entries.len() >= MAX_TRACKED {
                // Everyone is still waiting: forget the one due soonest.
                if let Some(k) = self
                    .entries
                    .iter()
                    .min_by_key(|(_, e)| e.retry_at)
                    .map(|(k, _)| k.clone())
                {
                    self.entries.remove(&k);
                }
            }
        }
        let failures = self
            .entries
            .get(peer)
            .map_or(1, |e| e.failures.saturating_add(1));
        let delay = self.policy.delay(failures, &mut rand::rng());
        self.entries.insert(
            peer.clone(),
            Entry {
                failures,
                retry_at: now + delay,
            },
        );
        delay
    }

    /// Records a successful connect: the address starts afresh.
    pub fn success(&mut self, peer: &PeerAddress) {
        self.entries.remove(peer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn policy(jitter: f64) -> BackoffPolicy {
        BackoffPolicy {
            base: Duration::from_millis(100),
            cap: Duration::from_secs(2),
            jitter,
        }
    }

    #[test]
    fn doubles_up_to_the_cap_without_jitter() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let p = policy(0.0);
        let ms: Vec<u128> = (1..=7).map(|n| p.delay(n, &mut rng).as_millis()).collect();
        assert_eq!(ms, [100, 200, 400, 800, 1600, 2000, 2000]);
        assert_eq!(p.delay(u32::MAX, &mut rng), Duration::from_secs(2));
    }

    #[test]
    fn jitter_stays_within_its_band() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let p = policy(0.5);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let d = p.delay(3, &mut rng);
            assert!(d >= Duration::from_millis(200) && d <= Duration::from_millis(400));
            seen.insert(d);
        }
        assert!(seen.len() > 10, "jitter must vary the delay");
    }

    #[test]
    fn table_blocks_until_due_and_resets_on_success() {
        let mut t = BackoffTable::new(policy(0.0));
        let a = PeerAddress::new("ws://127.0.0.1:9/").unwrap();
        let now = Instant::now();
        assert!(t.check(&a, now).is_ok());
        assert_eq!(t.failure(&a, now), Duration::from_millis(100));
        assert!(t.check(&a, now).is_err());
        assert!(t.check(&a, now + Duration::from_millis(100)).is_ok());
        assert_eq!(t.failure(&a, now), Duration::from_millis(200));
        t.success(&a);
        assert!(t.check(&a, now).is_ok());
        assert_eq!(t.failure(&a, now), Duration::from_millis(100));
    }
}
