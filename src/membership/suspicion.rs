use std::collections::{BTreeMap, BTreeSet};

use crate::model::NodeId;

/// A running suspicion of one member (Lifeguard): the timeout starts at
/// `max` and shrinks towards `min` as independent confirmations arrive:
/// `max - (max - min) * ln(C + 1) / ln(K + 1)`.
#[derive(Debug, Clone)]
pub(crate) struct Suspicion {
    pub incarnation: u64,
    pub start_ms: u64,
    min_ms: u64,
    max_ms: u64,
    expected: u32,
    accusers: Vec<NodeId>,
    /// Whether this node started it (its own probe failed).
    pub local: bool,
    /// Whether the last probe before death is under way.
    pub verifying: bool,
    /// Failed last probes in a row since this node holds first-hand
    /// evidence (under loss, death takes `1 + local_health / 2`).
    pub failed_checks: u32,
    pub deadline_ms: u64,
}

impl Suspicion {
    pub fn new(
        incarnation: u64,
        accuser: NodeId,
        local: bool,
        now: u64,
        (min_ms, max_ms): (u64, u64),
        expected: u32,
    ) -> Self {
        let mut s = Suspicion {
            incarnation,
            start_ms: now,
            min_ms,
            max_ms: max_ms.max(min_ms),
            expected,
            accusers: vec![accuser],
            local,
            verifying: false,
            failed_checks: 0,
            deadline_ms: now,
        };
        s.recompute();
        s
    }

    /// Counts an accuser; `true` if it is a new, independent one.
    pub fn confirm(&mut self, accuser: &NodeId) -> bool {
        if self.accusers.len() > self.expected as usize || self.accusers.contains(accuser) {
            return false;
        }
        self.accusers.push(accuser.clone());
        self.recompute();
        true
    }

    pub fn confirmations(&self) -> u32 {
        self.accusers.len().saturating_sub(1) as u32
    }

    /// Whether enough independent accusers were heard for the timeout to
    /// reach its floor.
    pub fn fully_confirmed(&self) -> bool {
        self.confirmations() >= self.expected
    }

    fn recompute(&mut self) {
        // Nobody else can confirm (K = 0): the floor, as memberlist does;
        // otherwise a two-node cluster always waited for the ceiling.
        if self.expected == 0 {
            self.deadline_ms = self.start_ms + self.min_ms;
            return;
        }
        let c = f64::from(self.confirmations());
        let k = f64::from(self.expected.max(1));
        let frac = ((c + 1.0).ln() / (k + 1.0).ln()).min(1.0);
        let span = (self.max_ms - self.min_ms) as f64;
        let timeout = (self.max_ms as f64 - span * frac).max(self.min_ms as f64);
        self.deadline_ms = self.start_ms + timeout as u64;
    }
}

/// All running suspicions, indexed by deadline (so a node that suspects
/// thousands of members still finds the next expiry in O(log n)) and by
/// whether this node has first-hand evidence.
#[derive(Debug, Clone, Default)]
pub(crate) struct Suspicions {
    map: BTreeMap<NodeId, Suspicion>,
    deadlines: BTreeSet<(u64, NodeId)>,
    local: BTreeSet<NodeId>,
}

impl Suspicions {
    fn unindex(&mut self, id: &NodeId, s: &Suspicion) {
        self.deadlines.remove(&(s.deadline_ms, id.clone()));
        self.local.remove(id);
    }

    fn index(&mut self, id: &NodeId) {
        if let Some(s) = self.map.get(id) {
            if !s.verifying {
                self.deadlines.insert((s.deadline_ms, id.clone()));
            }
            if s.local {
                self.local.insert(id.clone());
            }
        }
    }

    pub fn get(&self, id: &NodeId) -> Option<&Suspicion> {
        self.map.get(id)
    }

    pub fn insert(&mut self, id: NodeId, s: Suspicion) {
        self.remove(&id);
        self.map.insert(id.clone(), s);
        self.index(&id);
    }

    pub fn remove(&mut self, id: &NodeId) -> Option<Suspicion> {
        let s = self.map.remove(id)?;
        self.unindex(id, &s);
        Some(s)
    }

    pub fn clear(&mut self) {
        self.map.clear();
        self.deadlines.clear();
        self.local.clear();
    }

    /// Changes one suspicion and re-indexes it.
    pub fn update<R>(&mut self, id: &NodeId, f: impl FnOnce(&mut Suspicion) -> R) -> Option<R> {
        let mut s = self.map.remove(id)?;
        self.unindex(id, &s);
        let r = f(&mut s);
        self.map.insert(id.clone(), s);
        self.index(id);
        Some(r)
    }

    /// The earliest deadline of a suspicion not being verified.
    pub fn next_deadline(&self) -> Option<u64> {
        self.deadlines.first().map(|(d, _)| *d)
    }

    /// Suspicions due at `now` (not being verified).
    pub fn due(&self, now: u64) -> Vec<NodeId> {
        self.deadlines
            .iter()
            .take_while(|(d, _)| *d <= now)
            .map(|(_, id)| id.clone())
            .collect()
    }

    /// Members this node suspects first-hand.
    pub fn locals(&self) -> impl Iterator<Item = &NodeId> {
        self.local.iter()
    }

    /// Members this node suspects on others' word only (as a witness, or
    /// from a digest).
    pub fn others(&self) -> impl Iterator<Item = &NodeId> {
        self.map.keys().filter(|id| !self.local.contains(*id))
    }
}
