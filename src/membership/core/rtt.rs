//! How quickly members answer this node's probes: the median of the last
//! round trips of acks, late ones included. On a quiet network it stays far
//! below the configured probe timeout and changes nothing; when most acks
//! come back slowly (a host whose CPU is saturated, every process waiting
//! its turn), the probe timeout and interval stretch to what the answers
//! take, as TCP's retransmission timeout does, instead of accusing members
//! that are slow but alive. A median, not a mean: under loss some answers
//! are late (a retransmitted stream message, a relayed ack) while most are
//! not, and detection must not slow down for them. Lifeguard's local
//! health reacts to missing nacks; this reacts to the acks that do come,
//! late.

/// Probes whose send time is kept, for acks that arrive after their
/// probe's verdict.
const KEPT: usize = 4;
/// Round trips the median is taken over.
const SAMPLES: usize = 8;
/// Below this many samples the estimate is the slowest of them (a node
/// that has just started, often in a burst of starts, learns at once how
/// slow answers are; the median takes over once it means something).
const MEDIAN_FROM: usize = 4;

#[derive(Debug, Default)]
pub(super) struct RoundTrips {
    /// The last round trips, ms (a ring).
    samples: [u64; SAMPLES],
    taken: usize,
    /// (seq, sent at) of the last probes.
    sent: [(u64, u64); KEPT],
    next: usize,
}

impl RoundTrips {
    /// A probe `seq` went out at `now`.
    pub fn sent(&mut self, seq: u64, now: u64) {
        self.sent[self.next] = (seq, now);
        self.next = (self.next + 1) % KEPT;
    }

    /// Probe `seq` was sent again at `now` (the second direct try): its
    /// ack is timed from the retry, so a lost first ping is no slow answer.
    pub fn resent(&mut self, seq: u64, now: u64) {
        if let Some(slot) = self.sent.iter_mut().find(|(s, _)| *s == seq && seq != 0) {
            slot.1 = now;
        }
    }

    /// An ack of probe `seq` arrived at `now`: one sample, when the probe
    /// is one of the last few (each counted once).
    pub fn acked(&mut self, seq: u64, now: u64) {
        let Some(slot) = self.sent.iter_mut().find(|(s, _)| *s == seq && seq != 0) else {
            return;
        };
        let r = now.saturating_sub(slot.1);
        *slot = (0, 0);
        self.samples[self.taken % SAMPLES] = r;
        self.taken += 1;
    }

    /// How long an answer may take, ms: twice the median of the last round
    /// trips (the slowest while there are fewer than `MEDIAN_FROM`; 0
    /// before any).
    pub fn timeout_ms(&self) -> u64 {
        let n = self.taken.min(SAMPLES);
        if n == 0 {
            return 0;
        }
        let mut v = self.samples[..n].to_vec();
        v.sort_unstable();
        2 * if n < MEDIAN_FROM { v[n - 1] } else { v[n / 2] }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_answers_keep_the_estimate_small() {
        let mut r = RoundTrips::default();
        for seq in 1..50 {
            r.sent(seq, seq * 200);
            r.acked(seq, seq * 200 + 1);
        }
        assert!(r.timeout_ms() <= 5, "{}", r.timeout_ms());
    }

    #[test]
    fn slow_answers_raise_it_and_late_acks_count() {
        let mut r = RoundTrips::default();
        for seq in 1..50 {
            r.sent(seq, seq * 200);
            // Each ack arrives after the next probe went out.
            if seq > 1 {
                r.acked(seq - 1, seq * 200 + 150);
            }
        }
        assert!(r.timeout_ms() >= 300, "{}", r.timeout_ms());
    }

    #[test]
    fn an_ack_of_a_retry_is_timed_from_the_retry() {
        let mut r = RoundTrips::default();
        for seq in 1..=8 {
            r.sent(seq, seq * 1_000);
            r.resent(seq, seq * 1_000 + 80);
            r.acked(seq, seq * 1_000 + 82);
        }
        assert!(r.timeout_ms() <= 6, "{}", r.timeout_ms());
    }

    #[test]
    fn the_first_answers_count_at_once_the_slowest_first() {
        let mut r = RoundTrips::default();
        assert_eq!(r.timeout_ms(), 0);
        r.sent(1, 0);
        r.acked(1, 300);
        assert_eq!(r.timeout_ms(), 600);
        r.sent(2, 1_000);
        r.acked(2, 1_010);
        assert_eq!(r.timeout_ms(), 600, "the slowest while there are few");
    }

    #[test]
    fn a_few_late_answers_among_quick_ones_change_nothing() {
        let mut r = RoundTrips::default();
        for seq in 1..=40 {
            r.sent(seq, seq * 200);
            let late = if seq % 3 == 0 { 400 } else { 2 };
            r.acked(seq, seq * 200 + late);
        }
        assert!(r.timeout_ms() <= 4, "{}", r.timeout_ms());
    }

    #[test]
    fn an_unknown_or_repeated_ack_is_no_sample() {
        let mut r = RoundTrips::default();
        for seq in 1..=4 {
            r.sent(seq, 100 * seq);
            r.acked(seq, 100 * seq + 10);
        }
        let t = r.timeout_ms();
        assert_eq!(t, 20);
        r.sent(7, 1_000);
        r.acked(8, 5_000);
        r.acked(7, 1_010);
        r.acked(7, 9_000);
        assert_eq!(r.timeout_ms(), t);
    }
}
