//! Helpers shared by the Rust tests of the C ABI (`ffi_node.rs`,
//! `ffi_contract.rs`). Include with `#[path = "support/ffi.rs"] mod ffi_support;`.
#![allow(dead_code)]

use std::ffi::{c_char, CStr, CString};

use peerdisc::ffi::{peerdisc_last_error, peerdisc_string_free};

/// A C string for an argument.
pub fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

/// Copies a string the library handed out, and frees it.
///
/// # Safety
/// `p` is an owned string from a `peerdisc_*` call, not freed before.
pub unsafe fn take(p: *mut c_char) -> String {
    // SAFETY: the caller's contract.
    let s = unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_string();
    // SAFETY: owned by us, freed once.
    unsafe { peerdisc_string_free(p) };
    s
}

/// This thread's last error message, or "".
pub fn last_error() -> String {
    let p = peerdisc_last_error();
    if p.is_null() {
        String::new()
    } else {
        // SAFETY: valid until the next failing call on this thread.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
}
