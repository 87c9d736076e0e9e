//! The witnesses of a suspicion: the few members that every accuser of a
//! node tells, so that independent accusations meet (Lifeguard's
//! confirmations) without the suspicion being broadcast to the cluster.
//!
//! Every node computes the same witnesses from its own member table
//! (rendezvous hashing, PROTOCOL.md "Suspicion"): the `k` present members
//! with the lowest score `mix(fnv1a(accused) ^ fnv1a(member))`. The hash
//! is specified (FNV-1a 64 over the id's UTF-8 bytes, then the SplitMix64
//! finaliser) so that nodes of different builds agree; tables that differ
//! a little (a join not heard yet) only make a few accusations miss a
//! witness, never a wrong decision.

use super::member::MemberTable;
use crate::model::NodeId;

/// FNV-1a, 64 bits.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// SplitMix64's finaliser: spreads the XOR of two FNV hashes.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn id_hash(id: &NodeId) -> u64 {
    fnv1a(id.as_str().as_bytes())
}

/// Keeps the `k` lowest-scored candidates.
struct Lowest<'a> {
    k: usize,
    best: Vec<(u64, &'a NodeId)>,
}

impl<'a> Lowest<'a> {
    fn offer(&mut self, score: u64, id: &'a NodeId) {
        if self.best.len() == self.k && self.best.last().is_some_and(|(s, _)| score >= *s) {
            return;
        }
        let at = self.best.partition_point(|(s, _)| *s < score);
        self.best.insert(at, (score, id));
        self.best.truncate(self.k);
    }
}

/// The `k` witnesses of `accused` among the present members of `table`
/// and `me` (this node, which is not in its own table), `accused`
/// excluded. May include `me`.
pub(crate) fn witnesses(
    table: &MemberTable,
    me: &NodeId,
    accused: &NodeId,
    k: usize,
) -> Vec<NodeId> {
    if k == 0 {
        return Vec::new();
    }
    let a = id_hash(accused);
    let mut low = Lowest {
        k,
        best: Vec::with_capacity(k + 1),
    };
    if me != accused {
        low.offer(mix(a ^ id_hash(me)), me);
    }
    for m in table.iter() {
        let id = m.node_id();
        if m.liveness.is_present() && id != accused {
            low.offer(mix(a ^ id_hash(id)), id);
        }
    }
    low.best.into_iter().map(|(_, id)| id.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::membership::member::Member;
    use crate::model::{Liveness, PeerRecord};
    use rand::SeedableRng;

    fn table(names: &[String], seed: u64) -> MemberTable {
        let mut t = MemberTable::new(seed);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        for n in names {
            let rec = std::sync::Arc::new(PeerRecord::new(NodeId::new(n.clone()).unwrap()));
            t.insert(Member::new(rec, 0, Liveness::Alive, 0), &mut rng);
        }
        t
    }

    #[test]
    fn every_node_finds_the_same_witnesses() {
        let names: Vec<String> = (0..50).map(|i| format!("n{i}")).collect();
        let accused = NodeId::new("n7").unwrap();
        let mut seen = Vec::new();
        for me in [3usize, 9, 20, 41] {
            let others: Vec<String> = names
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != me)
                .map(|(_, n)| n.clone())
                .collect();
            let t = table(&others, me as u64);
            let mut w = witnesses(&t, &NodeId::new(names[me].clone()).unwrap(), &accused, 4);
            w.sort();
            assert_eq!(w.len(), 4);
            assert!(!w.contains(&accused));
            seen.push(w);
        }
        assert!(seen.windows(2).all(|p| p[0] == p[1]), "{seen:?}");
    }

    #[test]
    fn witnesses_are_present_members_only() {
        let names: Vec<String> = (0..6).map(|i| format!("n{i}")).collect();
        let mut t = table(&names[1..], 1);
        let me = NodeId::new("n0").unwrap();
        let accused = NodeId::new("n1").unwrap();
        for n in &names[2..] {
            t.set_liveness(&NodeId::new(n.clone()).unwrap(), Liveness::Dead, 0, 0);
        }
        assert_eq!(witnesses(&t, &me, &accused, 3), vec![me.clone()]);
        assert!(witnesses(&t, &me, &accused, 0).is_empty());
    }
}
