//! Seed-compatible mode: Unix timestamps and the periodic seed-shaped
//! announcements that nodes of the earlier Python (seed) system listen for.

use super::*;
use crate::wire::SeedPeer;

impl Membership {
    /// Tells the core the Unix time (ms) at time 0 of the clock it is
    /// given, so that announcements carry Unix timestamps (the seed
    /// system's `time.time()`). The caller reads the clock; the core stays
    /// sans-IO.
    pub fn set_unix_epoch_ms(&mut self, unix_ms_at_zero: u64) {
        self.unix_epoch_ms = unix_ms_at_zero;
    }

    /// `now` as Unix seconds (the `timestamp` of announcements).
    pub(super) fn unix_seconds(&self, now: u64) -> f64 {
        self.unix_epoch_ms.saturating_add(now) as f64 / 1000.0
    }

    /// A seed-shaped `gossip_announcement`: this node first, then its live
    /// members, within the gossip byte budget; no `states`.
    pub fn seed_announcement(&self, now: u64) -> GossipAnnouncement {
        let mut budget = self.config.max_gossip_bytes;
        let mut peers = vec![AnnouncedPeer::Seed(Box::new(SeedPeer::from_record(
            &self.me,
        )))];
        for m in self.members.iter() {
            if peers.len() >= MAX_PEERS_PER_MESSAGE {
                break;
            }
            if !m.liveness.is_present() {
                continue;
            }
            let p = SeedPeer::from_record(&m.record);
            let len = wire::json_len(&p) + 1;
            if len > budget {
                break;
            }
            budget -= len;
            peers.push(AnnouncedPeer::Seed(Box::new(p)));
        }
        GossipAnnouncement {
            timestamp: self.unix_seconds(now),
            peers,
            states: Vec::new(),
        }
    }

    /// Every `announce_interval_ms` in seed-compatible mode: the seed-shaped
    /// announcement to every member that has not left (an earlier-system
    /// peer does not answer probes, so it is soon listed dead; it still
    /// hears the announcements).
    pub(super) fn seed_announce(&mut self, now: u64) {
        if !self.config.seed_compatible || self.leaving || now < self.next_announce_ms {
            return;
        }
        self.next_announce_ms = now + self.config.announce_interval_ms;
        let to: Vec<NodeId> = self
            .members
            .iter()
            .filter(|m| m.liveness != Liveness::Left)
            .map(|m| m.node_id().clone())
            .collect();
        if to.is_empty() {
            return;
        }
        let g = self.seed_announcement(now);
        for id in to {
            self.send(&id, Message::GossipAnnouncement(g.clone()));
        }
    }
}

impl Membership {
    /// The configuration.
    pub fn config(&self) -> &MembershipConfig {
        &self.config
    }
}
