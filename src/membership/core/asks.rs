//! Records asked for (`peer_list_request`) and not yet come: a record is
//! asked for once per round trip, of whoever named it first, not once per
//! message naming it. In a cold start every message from a node not yet
//! known (its greeting, its requests, its gossip) would otherwise ask it
//! for its record again, and a seed answered each of a few hundred joiners
//! four or five times.

use std::collections::HashMap;

use crate::model::NodeId;

/// Asks remembered at most; past it, those older than their window go.
const MAX_ASKS: usize = 4_096;
/// The version of an ask made of the node itself: its newest, whatever
/// version others name.
pub(super) const NEWEST: u64 = u64::MAX;

#[derive(Debug, Default, Clone)]
pub(super) struct RecordAsks {
    /// id -> (when asked, the version asked for; 0: any).
    at: HashMap<NodeId, (u64, u64)>,
}

impl RecordAsks {
    /// Whether `id`'s record (at `version` or above; 0: any; `NEWEST`: of
    /// the node itself) may be asked
    /// for now: not already asked within the last `window_ms` for this
    /// version or a newer one. A yes is noted as an ask.
    pub fn ask(&mut self, id: &NodeId, version: u64, now: u64, window_ms: u64) -> bool {
        if let Some(&(at, asked)) = self.at.get(id) {
            if now < at.saturating_add(window_ms) && asked >= version {
                return false;
            }
        }
        if self.at.len() >= MAX_ASKS {
            self.at
                .retain(|_, (at, _)| now < at.saturating_add(window_ms));
            if self.at.len() >= MAX_ASKS {
                self.at.clear();
            }
        }
        self.at.insert(id.clone(), (now, version));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_asked_for_once_per_window_unless_a_newer_version_is_named() {
        let id = NodeId::new("node-b").unwrap();
        let mut a = RecordAsks::default();
        assert!(a.ask(&id, 0, 1_000, 200));
        assert!(!a.ask(&id, 0, 1_100, 200));
        // A newer version than the one asked for: asked at once.
        assert!(a.ask(&id, 3, 1_150, 200));
        // Asked of the node itself: its newest covers every version.
        let c = NodeId::new("node-c").unwrap();
        assert!(a.ask(&c, NEWEST, 1_150, 200));
        assert!(!a.ask(&c, 9, 1_160, 200));
        assert!(!a.ask(&id, 2, 1_200, 200));
        // The window passed (the answer was lost): asked again.
        assert!(a.ask(&id, 3, 1_350, 200));
    }

    #[test]
    fn the_table_stays_bounded() {
        let mut a = RecordAsks::default();
        for i in 0..(MAX_ASKS + 10) {
            let id = NodeId::new(format!("n{i}")).unwrap();
            assert!(a.ask(&id, 0, i as u64, 1));
        }
        assert!(a.at.len() <= MAX_ASKS);
    }
}
