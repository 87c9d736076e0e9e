//! Digest summaries: a member table folded into a few hundred bucket sums,
//! so that two nodes that hold nearly the same members exchange only the
//! buckets where they differ (PROTOCOL.md "Anti-entropy", "Summaries").
//!
//! A member falls into a bucket by its **id hash** (the first 8 bytes of
//! SHA-256 of `peerdisc-summary-v1\n` and its node id, big-endian); its
//! **entry hash** mixes the id hash with the state the node holds of it
//! (incarnation, liveness, record version, whether its word is signed);
//! a bucket's sum is the wrapping sum of the entry hashes of the members in
//! it (the node itself included). Equal sums mean, short of a 64-bit
//! collision, equal states.

use data_encoding::BASE64;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::{Liveness, NodeId};

/// The fewest buckets of a summary.
pub const MIN_SUMMARY_BUCKETS: u32 = 16;
/// The most buckets of a summary.
pub const MAX_SUMMARY_BUCKETS: u32 = 4096;

const ID_HASH_CONTEXT: &[u8] = b"peerdisc-summary-v1\n";

/// A node id's hash, which places it in a bucket.
pub fn id_hash(id: &NodeId) -> u64 {
    let mut h = Sha256::new();
    h.update(ID_HASH_CONTEXT);
    h.update(id.as_str().as_bytes());
    let out = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&out[..8]);
    u64::from_be_bytes(first)
}

/// SplitMix64's finalizer: a fixed, well-spread 64-bit mix.
fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn liveness_code(l: Liveness) -> u64 {
    match l {
        Liveness::Alive => 0,
        Liveness::Suspect => 1,
        Liveness::Dead => 2,
        Liveness::Left => 3,
    }
}

/// One member's entry hash: its id hash mixed with the state held of it.
pub fn entry_hash(
    id_hash: u64,
    incarnation: u64,
    liveness: Liveness,
    version: u64,
    signed: bool,
) -> u64 {
    let word = (liveness_code(liveness) << 1) | u64::from(signed);
    mix(id_hash ^ mix(incarnation ^ mix(version ^ mix(word))))
}

/// The bucket of an id hash in a summary of `buckets` buckets (a power of
/// two): its top bits.
pub fn bucket_of(id_hash: u64, buckets: u32) -> u32 {
    debug_assert!(buckets.is_power_of_two());
    let bits = buckets.trailing_zeros();
    if bits == 0 {
        0
    } else {
        (id_hash >> (64 - bits)) as u32
    }
}

/// The bucket count for a table of `members` entries: about eight members
/// per bucket, within [`MIN_SUMMARY_BUCKETS`]..=[`MAX_SUMMARY_BUCKETS`].
pub fn buckets_for(members: usize) -> u32 {
    let want = (members / 8).max(1).next_power_of_two();
    u32::try_from(want)
        .unwrap_or(MAX_SUMMARY_BUCKETS)
        .clamp(MIN_SUMMARY_BUCKETS, MAX_SUMMARY_BUCKETS)
}

fn valid_count(buckets: u32) -> Result<(), String> {
    if !buckets.is_power_of_two() || !(MIN_SUMMARY_BUCKETS..=MAX_SUMMARY_BUCKETS).contains(&buckets)
    {
        return Err(format!(
            "summary bucket count {buckets} is not a power of two in {MIN_SUMMARY_BUCKETS}..={MAX_SUMMARY_BUCKETS}"
        ));
    }
    Ok(())
}

/// A digest summary: one sum per bucket.
///
/// JSON: `{"buckets": 128, "sums": "<base64 of 8 * buckets bytes>"}`, each
/// sum big-endian.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawSummary", into = "RawSummary")]
pub struct DigestSummary {
    sums: Vec<u64>,
}

impl DigestSummary {
    /// A summary from its sums; `None` unless their count is a valid bucket
    /// count.
    pub fn from_sums(sums: Vec<u64>) -> Option<Self> {
        let n = u32::try_from(sums.len()).ok()?;
        valid_count(n).ok()?;
        Some(DigestSummary { sums })
    }

    /// The bucket count.
    pub fn buckets(&self) -> u32 {
        self.sums.len() as u32
    }

    /// The sums, one per bucket.
    pub fn sums(&self) -> &[u64] {
        &self.sums
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSummary {
    buckets: u32,
    sums: String,
}

impl TryFrom<RawSummary> for DigestSummary {
    type Error = String;
    fn try_from(r: RawSummary) -> Result<Self, String> {
        valid_count(r.buckets)?;
        let expected = r.buckets as usize * 8;
        // Checked before decoding: nothing larger is allocated.
        if r.sums.len() != BASE64.encode_len(expected) {
            return Err(format!(
                "summary sums: {} characters for {} buckets",
                r.sums.len(),
                r.buckets
            ));
        }
        let bytes = BASE64
            .decode(r.sums.as_bytes())
            .map_err(|e| format!("summary sums: {e}"))?;
        if bytes.len() != expected {
            return Err(format!(
                "summary sums: {} bytes for {} buckets",
                bytes.len(),
                r.buckets
            ));
        }
        let sums = bytes
            .chunks_exact(8)
            .map(|c| u64::from_be_bytes(c.try_into().expect("chunks of 8")))
            .collect();
        Ok(DigestSummary { sums })
    }
}

impl From<DigestSummary> for RawSummary {
    fn from(s: DigestSummary) -> Self {
        let mut bytes = Vec::with_capacity(s.sums.len() * 8);
        for v in &s.sums {
            bytes.extend_from_slice(&v.to_be_bytes());
        }
        RawSummary {
            buckets: s.sums.len() as u32,
            sums: BASE64.encode(&bytes),
        }
    }
}

/// The buckets of a summary over which a digest is complete (the answer
/// to a summary: the states of every member the sender holds in them).
///
/// JSON: `{"of": 128, "buckets": [3, 17, 90]}`, indices strictly
/// ascending and below `of`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawWithin", into = "RawWithin")]
pub struct SummaryBuckets {
    of: u32,
    buckets: Vec<u32>,
}

impl SummaryBuckets {
    /// Buckets `buckets` (strictly ascending, each below `of`) of a summary
    /// of `of` buckets; `None` when that does not hold.
    pub fn new(of: u32, buckets: Vec<u32>) -> Option<Self> {
        Self::try_from(RawWithin { of, buckets }).ok()
    }

    /// The summary's bucket count.
    pub fn of(&self) -> u32 {
        self.of
    }

    /// The buckets, ascending.
    pub fn buckets(&self) -> &[u32] {
        &self.buckets
    }

    /// Whether the member of id hash `id_hash` falls into one of them.
    pub fn contains(&self, id_hash: u64) -> bool {
        self.buckets
            .binary_search(&bucket_of(id_hash, self.of))
            .is_ok()
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWithin {
    of: u32,
    buckets: Vec<u32>,
}

impl TryFrom<RawWithin> for SummaryBuckets {
    type Error = String;
    fn try_from(r: RawWithin) -> Result<Self, String> {
        valid_count(r.of)?;
        if r.buckets.is_empty() {
            return Err("summary buckets: none listed".into());
        }
        if r.buckets.windows(2).any(|w| w[0] >= w[1]) {
            return Err("summary buckets: not strictly ascending".into());
        }
        if r.buckets.last().is_some_and(|&b| b >= r.of) {
            return Err(format!("summary buckets: an index not below {}", r.of));
        }
        Ok(SummaryBuckets {
            of: r.of,
            buckets: r.buckets,
        })
    }
}

impl From<SummaryBuckets> for RawWithin {
    fn from(s: SummaryBuckets) -> Self {
        RawWithin {
            of: s.of,
            buckets: s.buckets,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> NodeId {
        NodeId::new(s).unwrap()
    }

    #[test]
    fn id_hash_is_stable_and_documented() {
        // SHA-256("peerdisc-summary-v1\nnode-a"), first 8 bytes: a fixed
        // value, so that other implementations can check theirs.
        let h = id_hash(&id("node-a"));
        let mut sha = Sha256::new();
        sha.update(b"peerdisc-summary-v1\nnode-a");
        let out = sha.finalize();
        assert_eq!(h.to_be_bytes(), out[..8]);
        assert_ne!(h, id_hash(&id("node-b")));
    }

    #[test]
    fn entry_hash_depends_on_every_field() {
        let h = id_hash(&id("node-a"));
        let base = entry_hash(h, 1, Liveness::Alive, 2, false);
        assert_ne!(base, entry_hash(h, 2, Liveness::Alive, 2, false));
        assert_ne!(base, entry_hash(h, 1, Liveness::Suspect, 2, false));
        assert_ne!(base, entry_hash(h, 1, Liveness::Alive, 3, false));
        assert_ne!(base, entry_hash(h, 1, Liveness::Alive, 2, true));
        assert_ne!(base, entry_hash(h ^ 1, 1, Liveness::Alive, 2, false));
        assert_eq!(base, entry_hash(h, 1, Liveness::Alive, 2, false));
    }

    #[test]
    fn buckets_scale_with_the_table_within_bounds() {
        assert_eq!(buckets_for(0), MIN_SUMMARY_BUCKETS);
        assert_eq!(buckets_for(1_000), 128);
        assert_eq!(buckets_for(10_000), 2048);
        assert_eq!(buckets_for(1_000_000), MAX_SUMMARY_BUCKETS);
        assert_eq!(bucket_of(u64::MAX, 128), 127);
        assert_eq!(bucket_of(0, 128), 0);
    }

    #[test]
    fn a_summary_round_trips_and_bad_ones_are_refused() {
        let s = DigestSummary::from_sums((0..16).collect()).unwrap();
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<DigestSummary>(&json).unwrap(), s);
        assert!(DigestSummary::from_sums(vec![0; 15]).is_none());
        for bad in [
            r#"{"buckets":15,"sums":""}"#,
            r#"{"buckets":8192,"sums":""}"#,
            r#"{"buckets":16,"sums":"AAAA"}"#,
            r#"{"buckets":16,"sums":"!!"}"#,
            r#"{"buckets":16,"sums":"","extra":1}"#,
        ] {
            assert!(serde_json::from_str::<DigestSummary>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bucket_lists_are_strict() {
        let w = SummaryBuckets::new(16, vec![1, 5, 15]).unwrap();
        let json = serde_json::to_string(&w).unwrap();
        assert_eq!(json, r#"{"of":16,"buckets":[1,5,15]}"#);
        assert_eq!(serde_json::from_str::<SummaryBuckets>(&json).unwrap(), w);
        assert!(SummaryBuckets::new(16, vec![5, 1]).is_none());
        assert!(SummaryBuckets::new(16, vec![1, 1]).is_none());
        assert!(SummaryBuckets::new(16, vec![16]).is_none());
        assert!(SummaryBuckets::new(16, vec![]).is_none());
        assert!(SummaryBuckets::new(12, vec![1]).is_none());
        let top = 15u64 << 60;
        assert!(w.contains(top));
        assert!(!w.contains(0));
    }
}
