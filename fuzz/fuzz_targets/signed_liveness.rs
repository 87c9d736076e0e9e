//! A signed membership core fed liveness claims signed by the right key,
//! another key or none, at any incarnation: never panics, and believes
//! only what the keys signed. The body and its input layout:
//! `tests/support/signed_liveness_ops.rs` (shared with the stable property
//! test in `tests/bad_input.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/support/signed_liveness_ops.rs"]
mod ops;

fuzz_target!(|data: &[u8]| ops::run(data));
