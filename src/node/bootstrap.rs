//! Tracking of `discover_bootstrap` calls: which bootstrap nodes answered
//! with a peer list, which could not be reached, which stayed silent; and
//! the bootstrap worker's retries of the bootstrap nodes that have not
//! answered yet.

use std::collections::{BTreeMap, BTreeSet};

use crossbeam_channel::Sender;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{BootstrapError, BootstrapReport};
use crate::model::{NodeId, PeerAddress};

enum SeedState {
    Waiting,
    Answered,
    Failed(BootstrapError),
}

pub(crate) struct PendingBootstrap {
    reply: Sender<BootstrapReport>,
    deadline_ms: u64,
    timeout_ms: u64,
    seeds: BTreeMap<PeerAddress, SeedState>,
    learned: BTreeSet<NodeId>,
    /// Why each bootstrap node could not be used before this call (when
    /// it fails the same way again, the transport's backoff may keep this
    /// call from even trying).
    known_errors: BTreeMap<PeerAddress, String>,
}

impl PendingBootstrap {
    pub fn new(
        seeds: &[PeerAddress],
        retries: &SeedRetries,
        reply: Sender<BootstrapReport>,
        now_ms: u64,
        timeout_ms: u64,
    ) -> Self {
        let known_errors = seeds
            .iter()
            .filter_map(|s| Some((s.clone(), retries.last_error(s)?.to_string())))
            .collect();
        PendingBootstrap {
            known_errors,
            reply,
            deadline_ms: now_ms + timeout_ms,
            timeout_ms,
            seeds: seeds
                .iter()
                .map(|s| (s.clone(), SeedState::Waiting))
                .collect(),
            learned: BTreeSet::new(),
        }
    }

    pub fn deadline_ms(&self) -> u64 {
        self.deadline_ms
    }

    /// A peer list came over a connection dialled to `addr`.
    pub fn answered(&mut self, addr: &PeerAddress, peers: impl Iterator<Item = NodeId>) {
        if let Some(s) = self.seeds.get_mut(addr) {
            *s = SeedState::Answered;
            self.learned.extend(peers);
        }
    }

    /// The connection to `addr` could not be opened.
    pub fn failed(&mut self, addr: &PeerAddress, reason: String) {
        if let Some(s @ SeedState::Waiting) = self.seeds.get_mut(addr) {
            *s = SeedState::Failed(BootstrapError::Unreachable {
                address: addr.clone(),
                reason: explain(&reason),
            });
        }
    }

    /// The bootstrap node at `addr` refused this node (cluster key).
    pub fn refused(&mut self, addr: &PeerAddress, reason: String) {
        if let Some(s @ SeedState::Waiting) = self.seeds.get_mut(addr) {
            *s = SeedState::Failed(BootstrapError::BadAnswer {
                address: addr.clone(),
                reason,
            });
        }
    }

    /// Whether every seed answered or failed, or time is up.
    pub fn is_done(&self, now_ms: u64) -> bool {
        now_ms >= self.deadline_ms
            || self
                .seeds
                .values()
                .all(|s| !matches!(s, SeedState::Waiting))
    }

    /// Sends the report to the caller.
    pub fn finish(self, me: &NodeId) {
        let timeout_ms = self.timeout_ms;
        let errors = self
            .seeds
            .into_iter()
            .filter_map(|(address, s)| match s {
                SeedState::Answered => None,
                SeedState::Failed(e) => Some(e),
                SeedState::Waiting => Some(match self.known_errors.get(&address) {
                    Some(reason) => BootstrapError::Unreachable {
                        address,
                        reason: reason.clone(),
                    },
                    None => BootstrapError::NoAnswer {
                        address,
                        timeout_ms,
                    },
                }),
            })
            .collect();
        let peers = self.learned.into_iter().filter(|id| id != me).collect();
        let _ = self.reply.send(BootstrapReport { peers, errors });
    }
}

/// A transport or protocol error, said the way a person deploying
/// bootstrap nodes looks for it: refused, 404, timeout, TLS, cluster key.
pub(crate) fn explain(error: &str) -> String {
    let e = error.to_ascii_lowercase();
    let hint = if e.contains("refused") {
        "connection refused (nothing listens there)"
    } else if e.contains("404") {
        "404 Not Found (nothing serves that path; the default is /peerdisc)"
    } else if e.contains("timed out") || e.contains("timeout") {
        "timeout"
    } else if e.contains("wss") || e.contains("tls") || e.contains("ssl") {
        "TLS: this transport speaks plain ws:// only (put a TLS proxy in front)"
    } else if e.contains("cluster key") || e.contains("sealed") {
        "wrong cluster key"
    } else {
        return error.to_string();
    };
    format!("{hint} ({error})")
}

/// Retry state of one bootstrap node.
struct Retry {
    answered: bool,
    /// Why it could not be used, last time it failed.
    last_error: Option<String>,
    /// Whether its being unusable was logged (once, until it answers).
    warned: bool,
    /// When the first `hello` went out (the join).
    since_ms: u64,
    /// Hellos sent by the retry schedule so far.
    attempts: u32,
    next_ms: u64,
}

/// The bootstrap worker's schedule: every bootstrap node that has not
/// answered a `hello` with a `peer_list` yet is said `hello` again, after
/// an exponential backoff with jitter (`base * 2^attempts`, capped, less a
/// random part of up to half), until it answers once. The membership core
/// stops retrying its seeds at the first answer from any of them; this
/// keeps a node in touch with a bootstrap node that was down while another
/// answered.
pub(crate) struct SeedRetries {
    seeds: BTreeMap<PeerAddress, Retry>,
    base_ms: u64,
    cap_ms: u64,
    rng: ChaCha8Rng,
}

impl SeedRetries {
    /// Every seed waits one backoff (from `now_ms`) before its first retry:
    /// the join itself says the first `hello`.
    pub fn new(
        seeds: &[PeerAddress],
        base_ms: u64,
        cap_ms: u64,
        rng_seed: u64,
        now_ms: u64,
    ) -> Self {
        let mut r = SeedRetries {
            seeds: BTreeMap::new(),
            base_ms: base_ms.max(1),
            cap_ms: cap_ms.max(base_ms).max(1),
            rng: ChaCha8Rng::seed_from_u64(rng_seed),
        };
        for s in seeds {
            let next_ms = now_ms + r.delay(0);
            r.seeds.insert(
                s.clone(),
                Retry {
                    answered: false,
                    last_error: None,
                    warned: false,
                    since_ms: now_ms,
                    attempts: 0,
                    next_ms,
                },
            );
        }
        r
    }

    fn delay(&mut self, attempts: u32) -> u64 {
        let d = self
            .base_ms
            .saturating_mul(1 << attempts.min(20))
            .min(self.cap_ms);
        d - self.rng.random_range(0..=d / 2)
    }

    /// The bootstrap node at `addr` answered: no more retries for it.
    pub fn answered(&mut self, addr: &PeerAddress) {
        if let Some(r) = self.seeds.get_mut(addr) {
            r.answered = true;
            r.last_error = None;
            r.warned = false;
        }
    }

    /// The bootstrap node at `addr` cannot be used (connection refused, an
    /// HTTP error, a timeout, TLS, the cluster key). Returns the warning to
    /// log the first time (one per node until it answers), naming the URL
    /// and the reason.
    pub fn failed(&mut self, addr: &PeerAddress, reason: &str) -> Option<String> {
        let r = self.seeds.get_mut(addr)?;
        if r.answered {
            return None;
        }
        let reason = explain(reason);
        r.last_error = Some(reason.clone());
        if std::mem::replace(&mut r.warned, true) {
            return None;
        }
        Some(format!("bootstrap node {addr} cannot be used: {reason}"))
    }

    /// Bootstrap nodes silent for `timeout_ms` since the join, without
    /// another reason known: their warnings (each once).
    pub fn silent(&mut self, now_ms: u64, timeout_ms: u64) -> Vec<String> {
        let mut out = Vec::new();
        for (addr, r) in &mut self.seeds {
            if !r.answered && !r.warned && now_ms >= r.since_ms.saturating_add(timeout_ms) {
                r.warned = true;
                let reason = format!("timeout: no answer within {timeout_ms} ms");
                out.push(format!("bootstrap node {addr} cannot be used: {reason}"));
                r.last_error = Some(reason);
            }
        }
        out
    }

    /// Why `addr` could not be used last time, if it has not answered
    /// since.
    pub fn last_error(&self, addr: &PeerAddress) -> Option<&str> {
        self.seeds.get(addr)?.last_error.as_deref()
    }

    /// Whether `addr` is a bootstrap node (answered or not).
    pub fn is_seed(&self, addr: &PeerAddress) -> bool {
        self.seeds.contains_key(addr)
    }

    /// Whether `addr` is a bootstrap node that has not answered yet.
    pub fn is_waiting(&self, addr: &PeerAddress) -> bool {
        self.seeds.get(addr).is_some_and(|r| !r.answered)
    }

    /// The transport refuses to dial `addr` until `at_ms` (its own
    /// reconnection backoff): retry then, without counting an attempt.
    pub fn defer(&mut self, addr: &PeerAddress, at_ms: u64) {
        if let Some(r) = self.seeds.get_mut(addr) {
            if !r.answered {
                r.next_ms = r.next_ms.max(at_ms);
            }
        }
    }

    /// When the next retry is due, if any seed still waits.
    pub fn next_deadline(&self) -> Option<u64> {
        self.seeds
            .values()
            .filter(|r| !r.answered)
            .map(|r| r.next_ms)
            .min()
    }

    /// The seeds to say `hello` to now; each is scheduled again.
    pub fn due(&mut self, now_ms: u64) -> Vec<PeerAddress> {
        let due: Vec<PeerAddress> = self
            .seeds
            .iter()
            .filter(|(_, r)| !r.answered && r.next_ms <= now_ms)
            .map(|(a, _)| a.clone())
            .collect();
        for a in &due {
            let attempts = self.seeds[a].attempts + 1;
            let next_ms = now_ms + self.delay(attempts);
            let r = self.seeds.get_mut(a).expect("listed above");
            r.attempts = attempts;
            r.next_ms = next_ms;
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unusable_seed_is_warned_once_with_its_reason_until_it_answers() {
        let (a, b) = (addr(1), addr(2));
        let mut r = SeedRetries::new(&[a.clone(), b.clone()], 100, 800, 7, 0);
        let w = r
            .failed(&a, "TCP connect failed: Connection refused (os error 111)")
            .unwrap();
        assert!(
            w.contains(a.as_str()) && w.contains("connection refused"),
            "{w}"
        );
        assert_eq!(r.failed(&a, "TCP connect failed: Connection refused"), None);
        assert!(r.last_error(&a).unwrap().contains("refused"));
        // b is silent: one timeout warning once the bootstrap timeout ran.
        assert!(r.silent(999, 1_000).is_empty());
        let silent = r.silent(1_000, 1_000);
        assert_eq!(silent.len(), 1);
        assert!(silent[0].contains(b.as_str()) && silent[0].contains("timeout"));
        assert!(r.silent(5_000, 1_000).is_empty());
        // Once it answered, a later failure is not the bootstrap's business.
        r.answered(&a);
        assert_eq!(r.last_error(&a), None);
        assert_eq!(r.failed(&a, "refused"), None);
        assert!(!r.is_seed(&addr(3)) && r.is_seed(&a));
    }

    #[test]
    fn reasons_are_said_the_way_people_look_for_them() {
        let cases = [
            (
                "WebSocket handshake failed: HTTP error: 404 Not Found",
                "404",
            ),
            ("WebSocket handshake timed out", "timeout"),
            ("TCP connect timed out", "timeout"),
            (
                "unsupported scheme in wss://x/peerdisc (only ws:// is supported)",
                "TLS",
            ),
            (
                "the peer holds a different cluster key",
                "wrong cluster key",
            ),
        ];
        for (error, word) in cases {
            let e = explain(error);
            assert!(e.contains(word) && e.contains(error), "{error} -> {e}");
        }
        assert_eq!(explain("something else"), "something else");
    }

    fn addr(port: u16) -> PeerAddress {
        PeerAddress::new(format!("ws://127.0.0.1:{port}/peerdisc")).unwrap()
    }

    #[test]
    fn unanswered_seeds_are_retried_with_capped_jittered_backoff() {
        let (a, b) = (addr(1), addr(2));
        let mut r = SeedRetries::new(&[a.clone(), b.clone()], 100, 800, 7, 0);
        let first = r.next_deadline().unwrap();
        assert!((50..=100).contains(&first), "{first}");
        assert!(r.due(49).is_empty());
        assert_eq!(r.due(100), vec![a.clone(), b.clone()]);
        r.answered(&a);
        assert!(!r.is_waiting(&a) && r.is_waiting(&b));
        // b alone goes on, the gaps doubling up to the cap (less jitter).
        let mut now = 100;
        let mut gaps = Vec::new();
        for _ in 0..6 {
            let next = r.next_deadline().unwrap();
            gaps.push(next - now);
            now = next;
            assert_eq!(r.due(now), vec![b.clone()]);
        }
        let bounds = [
            (100, 200),
            (200, 400),
            (400, 800),
            (400, 800),
            (400, 800),
            (400, 800),
        ];
        for (gap, (lo, hi)) in gaps.iter().zip(bounds) {
            assert!((lo..=hi).contains(gap), "gaps {gaps:?}");
        }
        // The transport's own backoff defers a retry without counting it.
        r.defer(&b, now + 5_000);
        assert_eq!(r.next_deadline(), Some(now + 5_000));
        r.answered(&b);
        assert_eq!(r.next_deadline(), None);
        assert!(r.due(u64::MAX).is_empty());
    }
}
