//! Decoding a registry snapshot must never panic on any bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = peerdisc::persist::decode_snapshot(data);
});
