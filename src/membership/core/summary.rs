//! Digest summaries (PROTOCOL.md "Anti-entropy"): a node whose last
//! exchange taught it little sends its table as bucket sums instead of a
//! full digest; the partner answers with its states in the buckets that
//! differ, as a digest complete over those buckets, and the exchange goes
//! on from there as a full one would (`anti_entropy.rs`).

use super::*;
use crate::wire::{bucket_of, buckets_for, entry_hash, id_hash, DigestSummary, SummaryBuckets};

/// Below this many members a full digest is sent (a summary saves little).
const SUMMARY_MIN_MEMBERS: usize = 64;
/// A summary is sent when the last exchange taught at most one member in
/// this many: the tables then differ in few buckets.
const SUMMARY_DIFF_RATIO: usize = 8;

impl Membership {
    /// Whether this node's next exchange starts with a summary.
    pub(super) fn wants_summary(&self) -> bool {
        let n = self.members.len();
        n >= SUMMARY_MIN_MEMBERS
            && self
                .joining
                .last_taught
                .is_some_and(|t| t.saturating_mul(SUMMARY_DIFF_RATIO) <= n)
    }

    /// This node's own id hash and entry hash.
    fn my_entry(&self) -> (u64, u64) {
        let h = id_hash(&self.me.node_id);
        let signed = self.my_sig.is_some();
        let e = entry_hash(
            h,
            self.incarnation,
            self.my_liveness(),
            self.me.version,
            signed,
        );
        (h, e)
    }

    fn member_entry(&self, m: &Member) -> u64 {
        let signed = self.holds_word(m.node_id(), m.incarnation, m.liveness);
        entry_hash(
            m.id_hash,
            m.incarnation,
            m.liveness,
            m.record.version,
            signed,
        )
    }

    /// The bucket sums of this node's table (itself included).
    fn summary_sums(&self, buckets: u32) -> Vec<u64> {
        let mut sums = vec![0u64; buckets as usize];
        let (h, e) = self.my_entry();
        let b = bucket_of(h, buckets) as usize;
        sums[b] = sums[b].wrapping_add(e);
        for m in self.members.iter() {
            let b = bucket_of(m.id_hash, buckets) as usize;
            sums[b] = sums[b].wrapping_add(self.member_entry(m));
        }
        sums
    }

    /// A request carrying this node's summary and its own state.
    pub(super) fn summary_request(&self) -> PushPull {
        let buckets = buckets_for(self.members.len() + 1);
        PushPull {
            states: vec![self.my_state()],
            summary: DigestSummary::from_sums(self.summary_sums(buckets)),
            ..Default::default()
        }
    }

    /// The answer to a summary: nothing differs (an empty answer, so that
    /// the asker slows down), or this node's states in the buckets that
    /// differ, as a request complete over them (as many buckets as fit in
    /// one message).
    pub(super) fn on_summary(
        &mut self,
        from: &NodeId,
        pp: PushPull,
        summary: DigestSummary,
        now: u64,
    ) {
        self.apply_updates(from, Vec::new(), pp.states, Source::Digest, now);
        let buckets = summary.buckets();
        let mine = self.summary_sums(buckets);
        let differs: Vec<bool> = mine
            .iter()
            .zip(summary.sums())
            .map(|(a, b)| a != b)
            .collect();
        let mut counts = vec![0usize; buckets as usize];
        for m in self.members.iter() {
            counts[bucket_of(m.id_hash, buckets) as usize] += 1;
        }
        let mut kept = Vec::new();
        let mut total = 1; // this node's own state
        for (b, &d) in differs.iter().enumerate() {
            if d && total + counts[b] <= MAX_STATES_PER_MESSAGE {
                total += counts[b];
                kept.push(b as u32);
            }
        }
        let Some(within) = SummaryBuckets::new(buckets, kept) else {
            let reply = PushPull {
                reply: true,
                states: vec![self.my_state()],
                ..Default::default()
            };
            self.send(from, Message::PushPull(reply));
            return;
        };
        let mut states = Vec::with_capacity(total);
        states.push(self.my_state());
        for m in self.members.iter() {
            if within.contains(m.id_hash) {
                states.push(self.with_sig(Self::state_of(m, None)));
            }
        }
        let request = PushPull {
            states,
            within: Some(within),
            ..Default::default()
        };
        self.send(from, Message::PushPull(request));
    }
}
