//! The C ABI (a leaf: nothing else in the crate uses it).
//!
//! Conventions (as in rustls-ffi and libgit2):
//! - every symbol starts with `peerdisc_`; handles are opaque pointers;
//! - `*_new` writes its handle through an out pointer; `*_free` accepts NULL;
//! - fallible calls return a [`peerdisc_status`] (`int32_t`); after a call
//!   that did not return `PEERDISC_OK`, `peerdisc_last_error()` on the same
//!   thread says why;
//! - outputs are written only on success;
//! - strings and JSON handed out are owned `char *`, freed with
//!   [`peerdisc_string_free`]; strings handed in are borrowed for the call;
//! - every export runs under `catch_unwind`: a panic becomes
//!   `PEERDISC_ERR_PANIC`, never an abort or undefined behaviour.
//!
//! The header `include/peerdisc.h` is generated from this module by
//! cbindgen (see `cbindgen.toml`); `tests/ffi_header.rs` checks that the
//! committed header is up to date.

#![allow(non_camel_case_types)]
#![warn(
    clippy::undocumented_unsafe_blocks,
    clippy::multiple_unsafe_ops_per_block
)]

mod args;
mod callback;
mod gossip;
mod node;
mod node_registry;
mod registry;
mod registry_fields;
mod registry_write;
mod status;
mod subscription;

#[cfg(test)]
mod tests;

use std::ffi::{c_char, CString};

pub use args::{PEERDISC_MAX_INPUT_LEN, PEERDISC_MAX_NODE_ID_LEN};
pub use callback::{peerdisc_event_callback, peerdisc_finalizer};
pub use gossip::*;
pub use node::*;
pub use node_registry::*;
pub use registry::*;
pub use registry_fields::*;
pub use registry_write::*;
pub use status::{peerdisc_status, PEERDISC_LAST_ERROR_MAX_LEN};
pub use subscription::*;

/// The ABI version. It changes whenever a function's signature or meaning
/// changes incompatibly; bindings check it when they load the library.
/// 2: JSON arguments must be objects at every depth, and statuses follow
/// the one rule written on `peerdisc_status` (an invalid node id is
/// `PEERDISC_ERR_INVALID_ARGUMENT` everywhere, `contains` included).
pub const PEERDISC_ABI_VERSION: u32 = 2;

/// The crate's major version (equal to the Cargo version; tested).
pub const PEERDISC_VERSION_MAJOR: u32 = 0;
/// The crate's minor version (equal to the Cargo version; tested).
pub const PEERDISC_VERSION_MINOR: u32 = 1;
/// The crate's patch version (equal to the Cargo version; tested).
pub const PEERDISC_VERSION_PATCH: u32 = 0;

static VERSION: &std::ffi::CStr = match std::ffi::CStr::from_bytes_with_nul(
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes(),
) {
    Ok(v) => v,
    Err(_) => panic!("the Cargo version holds a NUL byte"),
};

/// The library's version, e.g. `"0.1.0"`: a static string, never freed.
/// Thread-safe.
#[no_mangle]
pub extern "C" fn peerdisc_version() -> *const c_char {
    status::guard_value("peerdisc_version", VERSION.as_ptr(), || VERSION.as_ptr())
}

/// The library's ABI version (`PEERDISC_ABI_VERSION` of the header it was
/// built with). A program should check that it equals the header's.
/// Ownership: returns a plain integer, nothing to free. Thread-safe.
#[no_mangle]
pub extern "C" fn peerdisc_abi_version() -> u32 {
    status::guard_value("peerdisc_abi_version", PEERDISC_ABI_VERSION, || {
        PEERDISC_ABI_VERSION
    })
}

static STATUS_NAMES: std::sync::OnceLock<Vec<(i32, CString)>> = std::sync::OnceLock::new();

/// The name of a status code (`"PEERDISC_ERR_NOT_FOUND"`), or
/// `"PEERDISC_UNKNOWN_STATUS"`: a static string, never freed. Thread-safe.
#[no_mangle]
pub extern "C" fn peerdisc_status_str(status: i32) -> *const c_char {
    static UNKNOWN: &std::ffi::CStr = c"PEERDISC_UNKNOWN_STATUS";
    status::guard_value("peerdisc_status_str", UNKNOWN.as_ptr(), || {
        let names = STATUS_NAMES.get_or_init(|| {
            peerdisc_status::ALL
                .iter()
                .map(|s| (*s as i32, CString::new(s.name()).expect("no NUL in names")))
                .collect()
        });
        names
            .iter()
            .find(|(c, _)| *c == status)
            .map_or(UNKNOWN.as_ptr(), |(_, n)| n.as_ptr())
    })
}

/// The message of the last call on this thread that did not return
/// `PEERDISC_OK`, or NULL if there was none (or it was cleared). Borrowed:
/// valid until the next failing `peerdisc_*` call or
/// `peerdisc_last_error_clear` on this thread; do not free it.
/// Thread-local: each thread sees its own last error.
#[no_mangle]
pub extern "C" fn peerdisc_last_error() -> *const c_char {
    status::guard_value(
        "peerdisc_last_error",
        std::ptr::null(),
        status::last_error_ptr,
    )
}

/// The status of the last call on this thread that did not return
/// `PEERDISC_OK`, or `PEERDISC_OK` if there was none. Ownership: a plain
/// integer, nothing to free. Thread-local.
#[no_mangle]
pub extern "C" fn peerdisc_last_error_status() -> i32 {
    status::guard_value("peerdisc_last_error_status", 0, || {
        status::last_error_status() as i32
    })
}

/// Forgets this thread's last error (thread-local; other threads keep
/// theirs). Ownership: invalidates the pointer `peerdisc_last_error`
/// returned on this thread; nothing to free.
#[no_mangle]
pub extern "C" fn peerdisc_last_error_clear() {
    status::guard_value("peerdisc_last_error_clear", (), status::clear_last_error)
}

/// Frees a string handed out by this library. NULL is accepted and ignored.
/// Any thread may free a string, once.
///
/// # Safety
/// `s` is NULL or a string returned by a `peerdisc_*` call as owned by the
/// caller, not freed before.
#[no_mangle]
pub unsafe extern "C" fn peerdisc_string_free(s: *mut c_char) {
    if s.is_null() {
        return;
    }
    status::guard_value("peerdisc_string_free", (), || {
        // SAFETY: made by CString::into_raw in this library, freed once
        // (caller's contract).
        drop(unsafe { CString::from_raw(s) });
    })
}
