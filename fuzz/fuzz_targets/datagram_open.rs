//! Opening a datagram must never panic, with or without a cluster key: the
//! framing, the seal and the message inside are checked strictly; what
//! opens re-encodes to a datagram that opens to the same sender and
//! message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peerdisc::datagram::{open, seal};
use peerdisc::keyring::Keyring;
use peerdisc::wire;

const MAX: usize = 1_400;

fuzz_target!(|data: &[u8]| {
    if let Ok((from, msg)) = open(None, data, MAX) {
        let again = seal(None, &from, &wire::encode(&msg), usize::MAX >> 1)
            .expect("a message that opened fits again");
        assert_eq!(open(None, &again, usize::MAX >> 1).unwrap(), (from, msg));
    }
    let ring = Keyring::new(vec![[1u8; 32], [2u8; 32]]).unwrap();
    // Only datagrams sealed with these keys open; the fuzzer cannot forge
    // one, so this mostly exercises the refusals.
    let _ = open(Some(&ring), data, MAX);
});
