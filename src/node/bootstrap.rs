//! Tracking of `discover_bootstrap` calls: which bootstrap nodes answered
//! with a peer list, which could not be reached, which stayed silent.

use std::collections::{BTreeMap, BTreeSet};

use crossbeam_channel::Sender;

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
}

impl PendingBootstrap {
    pub fn new(
        seeds: &[PeerAddress],
        reply: Sender<BootstrapReport>,
        now_ms: u64,
        timeout_ms: u64,
    ) -> Self {
        PendingBootstrap {
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
                reason,
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
                SeedState::Waiting => Some(BootstrapError::NoAnswer {
                    address,
                    timeout_ms,
                }),
            })
            .collect();
        let peers = self.learned.into_iter().filter(|id| id != me).collect();
        let _ = self.reply.send(BootstrapReport { peers, errors });
    }
}
