//! Keeping a burst of joins from being amplified: token buckets that bound
//! how many records a node hands out in answers to `hello`, and how many
//! new members' join news it passes on by gossip. What a bucket refuses
//! still arrives, by anti-entropy (`push_pull`), paced by what each node
//! is missing.

/// A token bucket: `rate` tokens per second, at most `cap` held.
#[derive(Debug, Clone)]
pub(super) struct Bucket {
    tokens: f64,
    cap: f64,
    rate: f64,
    at_ms: u64,
}

impl Bucket {
    /// A full bucket.
    pub fn new(cap: f64, rate_per_s: f64) -> Self {
        Bucket {
            tokens: cap,
            cap,
            rate: rate_per_s,
            at_ms: 0,
        }
    }

    /// Changes the cap (tokens above it are dropped at the next take).
    pub fn set_cap(&mut self, cap: f64) {
        self.cap = cap;
    }

    fn refill(&mut self, now: u64) {
        let dt = now.saturating_sub(self.at_ms) as f64 / 1000.0;
        self.tokens = (self.tokens + dt * self.rate).min(self.cap);
        self.at_ms = self.at_ms.max(now);
    }

    /// Takes one token if there is one.
    pub fn take(&mut self, now: u64) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Takes up to `want` tokens, at least `floor` (a debt the refill
    /// pays back); returns how many were taken.
    pub fn take_up_to(&mut self, now: u64, want: usize, floor: usize) -> usize {
        self.refill(now);
        let avail = self.tokens.max(0.0).floor() as usize;
        let n = want.min(avail.max(floor));
        self.tokens -= n as f64;
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_refills_at_its_rate_up_to_its_cap() {
        let mut b = Bucket::new(2.0, 1.0);
        assert!(b.take(0) && b.take(0));
        assert!(!b.take(0));
        assert!(!b.take(500));
        assert!(b.take(1_000));
        assert!(!b.take(1_000));
        assert_eq!(b.take_up_to(10_000, 10, 0), 2, "capped at 2");
    }

    #[test]
    fn the_floor_is_always_granted_and_paid_back() {
        let mut b = Bucket::new(4.0, 4.0);
        assert_eq!(b.take_up_to(0, 100, 1), 4);
        assert_eq!(b.take_up_to(0, 100, 1), 1, "the floor, on credit");
        assert_eq!(b.take_up_to(0, 100, 0), 0, "in debt");
        assert_eq!(b.take_up_to(1_000, 100, 0), 3, "the debt was paid first");
    }

    #[test]
    fn a_lower_cap_drops_the_tokens_above_it() {
        let mut b = Bucket::new(100.0, 1.0);
        b.set_cap(10.0);
        assert_eq!(b.take_up_to(0, 100, 0), 10);
        b.set_cap(100.0);
        assert_eq!(b.take_up_to(5_000, 100, 0), 5, "refilled at the rate only");
    }
}
