//! Checking arguments that come from C: pointers, strings, outputs.

use std::ffi::{c_char, CStr, CString};

use super::status::{peerdisc_status::*, FfiError, FfiResult};

/// The longest string or JSON argument accepted, in bytes (1 MiB). A longer
/// one is refused with `PEERDISC_ERR_TOO_LARGE`.
pub const PEERDISC_MAX_INPUT_LEN: usize = 1 << 20;

pub(crate) fn null(what: &str) -> FfiError {
    FfiError::new(PEERDISC_ERR_NULL_ARGUMENT, format!("{what} is NULL"))
}

/// The longest node id, in bytes. A node id is 1 to 128 bytes of ASCII
/// letters, digits and `.` `_` `:` `-` (e.g. `"node_abc123"`,
/// `"10.0.0.5:7400"`); nothing else is one. Every call that takes a node id
/// (a `node_id` argument, or the `node_id` field of a peer or record JSON)
/// refuses any other string with `PEERDISC_ERR_INVALID_ARGUMENT` before
/// looking it up, so `NOT_FOUND` always means a valid id that is not
/// listed.
pub const PEERDISC_MAX_NODE_ID_LEN: usize = 128;

/// A borrowed node id argument, checked against the node id rules
/// (`PEERDISC_ERR_INVALID_ARGUMENT` otherwise).
///
/// # Safety
/// As [`str_arg`].
pub(crate) unsafe fn node_id_arg<'a>(p: *const c_char, what: &str) -> FfiResult<&'a str> {
    use crate::model::NodeId;
    if !p.is_null() {
        // The hot path: one pass over at most 129 bytes (no strlen of a long
        // string, no separate UTF-8 pass). Anything unusual takes the checks
        // below, which name the exact error.
        let mut len = 0usize;
        let ok = loop {
            // SAFETY: a NUL-terminated string (caller's contract); reading
            // stops at its NUL, so `p + len` is inside it.
            let at = unsafe { p.add(len) };
            // SAFETY: as above.
            let b = unsafe { *at } as u8;
            if b == 0 {
                break len > 0;
            }
            if len == PEERDISC_MAX_NODE_ID_LEN || !NodeId::is_id_byte(b) {
                break false;
            }
            len += 1;
        };
        if ok {
            // SAFETY: `len` bytes before the NUL, all ASCII, valid for 'a.
            let bytes = unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len) };
            // SAFETY: ASCII is UTF-8.
            return Ok(unsafe { std::str::from_utf8_unchecked(bytes) });
        }
    }
    // SAFETY: forwarded contract.
    let id = unsafe { str_arg(p, what) }?;
    crate::model::NodeId::check(id)
        .map_err(|e| FfiError::new(PEERDISC_ERR_INVALID_ARGUMENT, format!("{what}: {e}")))?;
    Ok(id)
}

/// A JSON argument decoded strictly (structs only from JSON objects, see
/// [`crate::strict_json`]); the status follows the rule of
/// [`super::peerdisc_status`]: malformed or misshapen JSON is
/// `PEERDISC_ERR_INVALID_JSON`, a value breaking its rule
/// `PEERDISC_ERR_INVALID_ARGUMENT`.
///
/// # Safety
/// As [`str_arg`].
pub(crate) unsafe fn json_arg<T: serde::de::DeserializeOwned>(
    p: *const c_char,
    what: &str,
) -> FfiResult<T> {
    // SAFETY: forwarded contract.
    let text = unsafe { str_arg(p, what) }?;
    crate::strict_json::from_str(text).map_err(|e| json_error(e, what))
}

/// A decoding error of the JSON argument `what`, with its status.
fn json_error(e: serde_json::Error, what: &str) -> FfiError {
    let e = FfiError::from(e);
    FfiError::new(e.status, format!("{what}: {}", e.message))
}

/// Like [`json_arg`] for a model type whose `from_json` also reads another
/// documented shape (a seed-system peer dict for `Peer` and `PeerRecord`):
/// the strict reading of peerdisc's own shape first; if it fails, the
/// model's `from_json`; if that fails too, the error (and status) of the
/// strict reading.
///
/// # Safety
/// As [`str_arg`].
pub(crate) unsafe fn model_json_arg<T: serde::de::DeserializeOwned>(
    p: *const c_char,
    what: &str,
    from_json: impl FnOnce(&str) -> Result<T, crate::model::ModelError>,
) -> FfiResult<T> {
    // SAFETY: forwarded contract.
    let text = unsafe { str_arg(p, what) }?;
    crate::strict_json::from_str(text).or_else(|e| from_json(text).map_err(|_| json_error(e, what)))
}

/// Like [`json_arg`], but NULL is `T::default()`.
///
/// # Safety
/// As [`str_arg`].
pub(crate) unsafe fn opt_json_arg<T: serde::de::DeserializeOwned + Default>(
    p: *const c_char,
    what: &str,
) -> FfiResult<T> {
    if p.is_null() {
        Ok(T::default())
    } else {
        // SAFETY: forwarded contract.
        unsafe { json_arg(p, what) }
    }
}

/// A borrowed, checked UTF-8 string argument.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that stays valid and
/// unchanged for `'a`.
pub(crate) unsafe fn str_arg<'a>(p: *const c_char, what: &str) -> FfiResult<&'a str> {
    if p.is_null() {
        return Err(null(what));
    }
    // SAFETY: not NULL, and the caller promises a NUL-terminated string
    // valid for 'a.
    let bytes = unsafe { CStr::from_ptr(p) }.to_bytes();
    if bytes.len() > PEERDISC_MAX_INPUT_LEN {
        return Err(FfiError::new(
            PEERDISC_ERR_TOO_LARGE,
            format!(
                "{what} is {} bytes long, the limit is {PEERDISC_MAX_INPUT_LEN}",
                bytes.len()
            ),
        ));
    }
    std::str::from_utf8(bytes).map_err(|e| {
        FfiError::new(
            PEERDISC_ERR_INVALID_UTF8,
            format!("{what} is not valid UTF-8: {e}"),
        )
    })
}

/// Like [`str_arg`], but NULL is `None` (for optional plain strings; JSON
/// arguments use [`opt_json_arg`]).
///
/// # Safety
/// As [`str_arg`].
#[allow(dead_code)]
pub(crate) unsafe fn opt_str_arg<'a>(p: *const c_char, what: &str) -> FfiResult<Option<&'a str>> {
    if p.is_null() {
        Ok(None)
    } else {
        // SAFETY: forwarded contract.
        unsafe { str_arg(p, what) }.map(Some)
    }
}

/// A shared reference to a handle.
///
/// # Safety
/// `p` is NULL or a live handle of type `T` made by this library and not
/// freed.
#[inline]
pub(crate) unsafe fn handle<'a, T>(p: *const T, what: &str) -> FfiResult<&'a T> {
    // SAFETY: the caller promises a live handle or NULL.
    unsafe { p.as_ref() }.ok_or_else(|| null(what))
}

/// Checks that an output pointer is not NULL.
#[inline]
pub(crate) fn out_ptr<T>(p: *mut T, what: &str) -> FfiResult<*mut T> {
    if p.is_null() {
        Err(null(what))
    } else {
        Ok(p)
    }
}

/// Writes `v` through an output pointer already checked by [`out_ptr`].
///
/// # Safety
/// `p` is not NULL, aligned and valid for a write of `T`.
#[inline]
pub(crate) unsafe fn write_out<T>(p: *mut T, v: T) {
    // SAFETY: forwarded contract.
    unsafe { p.write(v) }
}

/// Writes `v` through an optional output pointer (skipped when NULL).
///
/// # Safety
/// `p` is NULL or aligned and valid for a write of `T`.
#[inline]
pub(crate) unsafe fn write_opt<T>(p: *mut T, v: T) {
    if !p.is_null() {
        // SAFETY: not NULL; the rest is the caller's contract.
        unsafe { p.write(v) }
    }
}

/// An owned C string for the caller, to be freed with
/// `peerdisc_string_free`.
pub(crate) fn owned_c_string(s: String) -> FfiResult<*mut c_char> {
    CString::new(s).map(CString::into_raw).map_err(|_| {
        FfiError::new(
            PEERDISC_ERR_INTERNAL,
            "an output string held a NUL byte".to_string(),
        )
    })
}
