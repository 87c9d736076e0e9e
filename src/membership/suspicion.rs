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
