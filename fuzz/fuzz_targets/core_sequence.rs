//! The membership core fed an arbitrary sequence of (sender, message bytes,
//! time advance) and ticks must never panic.
//!
//! Input layout, repeated until the data runs out:
//! `op` byte; `op % 4 == 0`: a tick after `u16` ms; otherwise a message from
//! sender `op % 5` (0..=4, where 4 is the node's own id) of `u16` length
//! bytes. Each `u16` is little-endian.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peerdisc::membership::{Command, Membership, MembershipConfig, Target};
use peerdisc::{NodeId, PeerAddress, PeerRecord};

fn u16_at(data: &[u8], i: &mut usize) -> u16 {
    let lo = data.get(*i).copied().unwrap_or(0);
    let hi = data.get(*i + 1).copied().unwrap_or(0);
    *i += 2;
    u16::from_le_bytes([lo, hi])
}

fuzz_target!(|data: &[u8]| {
    let me = NodeId::new("fuzz-me").unwrap();
    let mut record = PeerRecord::new(me.clone());
    record
        .addresses
        .push(PeerAddress::new("ws://127.0.0.1:9000").unwrap());
    let mut core = Membership::new(record, MembershipConfig::default(), 7).unwrap();
    let senders: Vec<NodeId> = ["node-a", "node-b", "node-c", "node-d"]
        .iter()
        .map(|s| NodeId::new(*s).unwrap())
        .chain(std::iter::once(me))
        .collect();
    let mut now: u64 = 1_000;
    let _ = core.handle_command(
        Command::Join {
            seeds: vec![Target::Node(senders[0].clone())],
        },
        now,
    );
    let mut i = 0;
    while i < data.len() {
        let op = data[i];
        i += 1;
        if op.is_multiple_of(4) {
            now += u64::from(u16_at(data, &mut i));
            core.handle_tick(now);
        } else {
            let from = &senders[usize::from(op % 5)];
            let len = usize::from(u16_at(data, &mut i)).min(data.len().saturating_sub(i));
            let bytes = &data[i.min(data.len())..i.min(data.len()) + len];
            i += len;
            now += 1;
            let _ = core.handle_bytes(from, bytes, now);
        }
        while core.poll_output().is_some() {}
        let _ = core.next_deadline();
    }
});
