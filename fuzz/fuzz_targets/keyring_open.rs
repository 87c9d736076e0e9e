//! Opening a frame with a keyring must never panic, and only a genuine
//! sealed frame opens.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peerdisc::keyring::{is_sealed, Keyring};

fuzz_target!(|data: &[u8]| {
    let Ok(frame) = std::str::from_utf8(data) else {
        return;
    };
    let ring = Keyring::new(vec![[1u8; 32], [2u8; 32]]).unwrap();
    let _ = is_sealed(frame);
    let _ = peerdisc::keyring::check_plaintext(frame);
    if let Ok(plain) = ring.open(frame) {
        // Only frames sealed with these keys open; the fuzzer cannot forge one.
        assert!(plain.len() <= frame.len());
    }
});
