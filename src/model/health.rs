use serde::{Deserialize, Serialize};

use super::ModelError;

/// Connection and probe outcomes of one peer, and the health score drawn
/// from them.
///
/// The **score** is an exponentially weighted success rate:
/// `score <- (1 - ALPHA) * score + ALPHA * outcome`, where `outcome` is 1 for
/// a success and 0 for a failure, and `ALPHA` is 0.2. A new peer starts at
/// 0.5 (unknown). Each success closes a fifth of the gap to 1.0, so a
/// recovered peer climbs back: from 0.0, five successes bring it to 0.67 and
/// ten to 0.89. Each failure removes a fifth of the score: from 1.0, three
/// consecutive failures bring it to 0.51.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Health {
    successes: u64,
    failures: u64,
    consecutive_failures: u32,
    score: f64,
}

impl Health {
    /// Weight of the newest outcome in the score.
    pub const ALPHA: f64 = 0.2;
    /// Score of a peer with no outcomes yet.
    pub const INITIAL_SCORE: f64 = 0.5;

    /// A fresh record: no outcomes, score 0.5.
    pub fn new() -> Self {
        Health {
            successes: 0,
            failures: 0,
            consecutive_failures: 0,
            score: Self::INITIAL_SCORE,
        }
    }

    /// A health record carried over from elsewhere (the seed system's
    /// counts and score); refused unless the score is within `0.0..=1.0`.
    pub fn restored(successes: u64, failures: u64, score: f64) -> Result<Self, ModelError> {
        let h = Health {
            successes,
            failures,
            consecutive_failures: 0,
            score,
        };
        h.validate()?;
        Ok(h)
    }

    /// Records a successful connection or probe.
    pub fn record_success(&mut self) {
        self.successes = self.successes.saturating_add(1);
        self.consecutive_failures = 0;
        self.score = (1.0 - Self::ALPHA) * self.score + Self::ALPHA;
    }

    /// Records a failed connection or probe (or a malformed message).
    pub fn record_failure(&mut self) {
        self.failures = self.failures.saturating_add(1);
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        self.score *= 1.0 - Self::ALPHA;
    }

    /// The health score in `0.0..=1.0`.
    pub fn score(&self) -> f64 {
        self.score
    }
    /// Successes so far.
    pub fn successes(&self) -> u64 {
        self.successes
    }
    /// Failures so far.
    pub fn failures(&self) -> u64 {
        self.failures
    }
    /// Failures since the last success.
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    /// Successes over all outcomes, or `None` before the first outcome.
    pub fn success_rate(&self) -> Option<f64> {
        let total = self.successes + self.failures;
        (total > 0).then(|| self.successes as f64 / total as f64)
    }

    pub(crate) fn validate(&self) -> Result<(), ModelError> {
        if !self.score.is_finite() || !(0.0..=1.0).contains(&self.score) {
            return Err(ModelError::InvalidHealth("score must be within 0.0..=1.0"));
        }
        if u64::from(self.consecutive_failures) > self.failures {
            return Err(ModelError::InvalidHealth(
                "consecutive_failures exceeds failures",
            ));
        }
        Ok(())
    }
}

impl Default for Health {
    fn default() -> Self {
        Self::new()
    }
}
