//! The `signed_liveness` fuzz body, shared by `fuzz/fuzz_targets/` and the
//! stable property test in `tests/bad_input.rs`: a signed membership core
//! fed liveness claims about three key-holding members and itself, each
//! signed by its subject's key, by another key or not at all, as single
//! claims or compact states, at any incarnation. It must never panic, and
//! what it believes must follow only from what the keys signed:
//!
//! - no incarnation above `MAX_INCARNATION`, its own included;
//! - a member's incarnation at most the highest one its key signed (or 0)
//!   plus the tolerance;
//! - a member `left` only at an incarnation its key signed `left` at.
//!
//! Input: 11-byte operations. Byte 0: bits 0-1 the liveness, 2-3 the
//! subject (3 = the node itself), 4-5 the signer (0 none, 1 the subject,
//! 2 another key), 6 the form (single claim or compact state). Byte 1: the
//! sender. Bytes 2-9: the incarnation (little-endian; below 8 when byte 10
//! is odd). Byte 10: the time step (x 10 ms).
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use peerdisc::identity::{sign_claim, sign_record, Identity};
use peerdisc::membership::{Membership, MembershipConfig};
use peerdisc::wire::{
    GossipAnnouncement, Hello, MemberState, Message, StateClaim, MAX_INCARNATION,
};
use peerdisc::{Liveness, NodeId, PeerAddress, PeerRecord};

const TOLERANCE: u64 = 1;

fn record_of(key: &Identity, port: u16) -> PeerRecord {
    let mut r = key.new_record();
    r.addresses
        .push(PeerAddress::new(format!("ws://127.0.0.1:{port}/p")).unwrap());
    r.version = 1;
    sign_record(key, r)
}

pub fn run(data: &[u8]) {
    let me = Identity::from_secret_bytes(&[9; 32]);
    let keys: Vec<Identity> = (1..=3u8)
        .map(|i| Identity::from_secret_bytes(&[i; 32]))
        .collect();
    let stranger = Identity::from_secret_bytes(&[42; 32]);
    let mut core = Membership::new(record_of(&me, 9000), MembershipConfig::default(), 7).unwrap();
    core.set_identity(me.clone()).unwrap();
    let mut now = 1_000;
    for (i, k) in keys.iter().enumerate() {
        let hello = Hello {
            record: Arc::new(record_of(k, 9001 + i as u16)),
            incarnation: 0,
            sig: None,
        };
        core.handle_message(&k.node_id(), Message::Hello(hello), now);
    }
    while core.poll_output().is_some() {}
    let ids: Vec<NodeId> = keys.iter().map(|k| k.node_id()).collect();
    let mut signed_max: HashMap<NodeId, u64> = HashMap::new();
    let mut signed_left: HashSet<(NodeId, u64)> = HashSet::new();
    for op in data.chunks(11) {
        let get = |i: usize| op.get(i).copied().unwrap_or(0);
        let liveness = [
            Liveness::Alive,
            Liveness::Suspect,
            Liveness::Dead,
            Liveness::Left,
        ][usize::from(get(0) & 3)];
        let subject = usize::from((get(0) >> 2) & 3);
        let (subject_id, subject_key) = match subject {
            3 => (me.node_id(), &me),
            i => (ids[i].clone(), &keys[i]),
        };
        let mut inc = u64::from_le_bytes(std::array::from_fn(|i| get(2 + i)));
        if get(10) & 1 == 1 {
            inc %= 8;
        }
        let sig = match (get(0) >> 4) & 3 {
            1 => {
                if subject != 3 && matches!(liveness, Liveness::Alive | Liveness::Left) {
                    let m = signed_max.entry(subject_id.clone()).or_default();
                    *m = (*m).max(inc);
                    if liveness == Liveness::Left {
                        signed_left.insert((subject_id.clone(), inc));
                    }
                }
                Some(sign_claim(subject_key, liveness, inc))
            }
            2 => Some(sign_claim(&stranger, liveness, inc)),
            _ => None,
        };
        let sender = ids[usize::from(get(1)) % ids.len()].clone();
        let accuser =
            matches!(liveness, Liveness::Suspect | Liveness::Dead).then(|| sender.clone());
        let msg = if get(0) & 64 == 0 {
            let mut c = StateClaim::new(subject_id.clone(), inc, 1);
            c.from = accuser;
            c.sig = sig;
            match liveness {
                Liveness::Alive => Message::Alive(c),
                Liveness::Suspect => Message::Suspect(c),
                Liveness::Dead => Message::Dead(c),
                _ => Message::Leave(c),
            }
        } else {
            let mut s = MemberState::new(subject_id.clone(), inc, liveness, 1);
            s.from = accuser;
            s.sig = sig;
            Message::GossipAnnouncement(GossipAnnouncement {
                timestamp: 0.0,
                peers: Vec::new(),
                states: vec![s],
            })
        };
        now += u64::from(get(10)) * 10;
        core.handle_message(&sender, msg, now);
        core.handle_tick(now);
        while core.poll_output().is_some() {}
        assert!(
            core.incarnation() <= MAX_INCARNATION,
            "own incarnation {}",
            core.incarnation()
        );
        for id in &ids {
            let Some(m) = core.member(id) else { continue };
            let signed = signed_max.get(id).copied().unwrap_or(0);
            assert!(
                m.incarnation <= signed + TOLERANCE,
                "{id} at incarnation {} but its key signed at most {signed}",
                m.incarnation
            );
            if m.liveness == Liveness::Left {
                assert!(
                    signed_left.contains(&(id.clone(), m.incarnation)),
                    "{id} left at {} without signing it",
                    m.incarnation
                );
            }
        }
    }
}
