//! Decoding and verifying a signed record must never panic; a forged record
//! never verifies.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peerdisc::identity::{verify, RecordGate, SignedRecord};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(signed) = SignedRecord::from_json(text) {
        let _ = verify(&signed);
        let mut gate = RecordGate::new();
        let _ = gate.offer(signed);
    }
});
