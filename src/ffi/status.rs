//! Status codes, the error type of the C ABI, the thread-local last error,
//! and the guard that every export runs its body in.

use std::cell::RefCell;
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::model::ModelError;
use crate::registry::RegistryError;

/// The result of every fallible `peerdisc_*` call: a fixed-width `int32_t`.
/// `PEERDISC_OK` (0) is success; negative values are errors; positive
/// values are outcomes that are neither success nor error (`TIMEOUT`,
/// `CLOSED`). After any call that does not return `PEERDISC_OK`,
/// `peerdisc_last_error()` on the same thread describes what happened.
/// New codes may be added in later versions; treat an unknown negative
/// code as an error.
///
/// One rule per kind of error, for every call that takes the argument:
/// - `PEERDISC_ERR_NULL_ARGUMENT`: a required pointer is NULL.
/// - `PEERDISC_ERR_INVALID_UTF8`: a string is not UTF-8.
/// - `PEERDISC_ERR_TOO_LARGE`: a string is longer than
///   `PEERDISC_MAX_INPUT_LEN` bytes (checked before anything else is read).
/// - `PEERDISC_ERR_INVALID_JSON`: a JSON argument is not JSON, or not of its
///   documented shape: not an object where an object is required (an
///   array, a scalar, `null`), a field of the wrong JSON type, an unknown
///   field, a missing required field. This is about form only.
/// - `PEERDISC_ERR_INVALID_ARGUMENT`: an argument of the right form whose
///   value breaks its rule, whether it is a plain argument or a field of a
///   JSON argument: an invalid node id (see `PEERDISC_MAX_NODE_ID_LEN`) at
///   every call that takes one, `node_id` of a peer JSON included; an
///   address or URL that does not parse (`listen`, `advertise`,
///   `bootstrap`, `addresses`); a number outside its range (`capacity: 0`,
///   a negative count); an unknown enum value or name; a list or string
///   beyond a model limit (more than 16 addresses, ...); an index past the
///   end; a configuration whose fields conflict.
/// - `PEERDISC_ERR_NOT_FOUND`: the argument is valid but names no listed
///   peer (or no registered callback).
///
/// So `peerdisc_registry_get(reg, "a b", ...)` is `INVALID_ARGUMENT` while
/// `peerdisc_registry_get(reg, "nobody", ...)` is `NOT_FOUND`, and
/// `peerdisc_registry_contains` reports an invalid id as
/// `INVALID_ARGUMENT` rather than `false`.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
pub enum peerdisc_status {
    /// Success. Every output was written.
    PEERDISC_OK = 0,
    /// A required pointer argument was NULL.
    PEERDISC_ERR_NULL_ARGUMENT = -1,
    /// A string argument is not valid UTF-8.
    PEERDISC_ERR_INVALID_UTF8 = -2,
    /// A JSON argument is malformed or not of its documented shape (not an
    /// object, wrong types, unknown or missing fields). Form only; values
    /// breaking their rules are `PEERDISC_ERR_INVALID_ARGUMENT`.
    PEERDISC_ERR_INVALID_JSON = -3,
    /// An argument, plain or a field of a JSON argument, whose value breaks
    /// its rule (an invalid node id, an address that does not parse, a
    /// number out of range, an unknown enum value, an index past the end).
    PEERDISC_ERR_INVALID_ARGUMENT = -4,
    /// A string argument is longer than `PEERDISC_MAX_INPUT_LEN` bytes.
    PEERDISC_ERR_TOO_LARGE = -5,
    /// No peer (or callback) with this id.
    PEERDISC_ERR_NOT_FOUND = -6,
    /// A peer with this id is already registered.
    PEERDISC_ERR_ALREADY_EXISTS = -7,
    /// The registry is full and the newcomer ranks below every evictable
    /// peer.
    PEERDISC_ERR_FULL = -8,
    /// The handle is in a state that does not allow this call (being
    /// freed, stopped).
    PEERDISC_ERR_INVALID_STATE = -9,
    /// A panic inside the library was caught; the handle is still usable
    /// but the call had no effect that can be relied on.
    PEERDISC_ERR_PANIC = -10,
    /// An internal failure (a thread could not be started, ...).
    PEERDISC_ERR_INTERNAL = -11,
    /// A network operation failed: the listen address could not be bound,
    /// no bootstrap node answered.
    PEERDISC_ERR_NETWORK = -12,
    /// Nothing arrived before the timeout (not an error).
    PEERDISC_TIMEOUT = 1,
    /// The event source is gone and every queued event was read (not an
    /// error: the end of the stream).
    PEERDISC_CLOSED = 2,
}

use peerdisc_status::*;

impl peerdisc_status {
    /// The code's name, e.g. `"PEERDISC_ERR_NOT_FOUND"`.
    pub fn name(self) -> &'static str {
        match self {
            PEERDISC_OK => "PEERDISC_OK",
            PEERDISC_ERR_NULL_ARGUMENT => "PEERDISC_ERR_NULL_ARGUMENT",
            PEERDISC_ERR_INVALID_UTF8 => "PEERDISC_ERR_INVALID_UTF8",
            PEERDISC_ERR_INVALID_JSON => "PEERDISC_ERR_INVALID_JSON",
            PEERDISC_ERR_INVALID_ARGUMENT => "PEERDISC_ERR_INVALID_ARGUMENT",
            PEERDISC_ERR_TOO_LARGE => "PEERDISC_ERR_TOO_LARGE",
            PEERDISC_ERR_NOT_FOUND => "PEERDISC_ERR_NOT_FOUND",
            PEERDISC_ERR_ALREADY_EXISTS => "PEERDISC_ERR_ALREADY_EXISTS",
            PEERDISC_ERR_FULL => "PEERDISC_ERR_FULL",
            PEERDISC_ERR_INVALID_STATE => "PEERDISC_ERR_INVALID_STATE",
            PEERDISC_ERR_PANIC => "PEERDISC_ERR_PANIC",
            PEERDISC_ERR_INTERNAL => "PEERDISC_ERR_INTERNAL",
            PEERDISC_ERR_NETWORK => "PEERDISC_ERR_NETWORK",
            PEERDISC_TIMEOUT => "PEERDISC_TIMEOUT",
            PEERDISC_CLOSED => "PEERDISC_CLOSED",
        }
    }

    /// Every code, for `peerdisc_status_str` and tests.
    pub(crate) const ALL: [peerdisc_status; 15] = [
        PEERDISC_OK,
        PEERDISC_ERR_NULL_ARGUMENT,
        PEERDISC_ERR_INVALID_UTF8,
        PEERDISC_ERR_INVALID_JSON,
        PEERDISC_ERR_INVALID_ARGUMENT,
        PEERDISC_ERR_TOO_LARGE,
        PEERDISC_ERR_NOT_FOUND,
        PEERDISC_ERR_ALREADY_EXISTS,
        PEERDISC_ERR_FULL,
        PEERDISC_ERR_INVALID_STATE,
        PEERDISC_ERR_PANIC,
        PEERDISC_ERR_INTERNAL,
        PEERDISC_ERR_NETWORK,
        PEERDISC_TIMEOUT,
        PEERDISC_CLOSED,
    ];
}

/// A failed call: its status and a message for `peerdisc_last_error`.
#[derive(Debug)]
pub(crate) struct FfiError {
    pub status: peerdisc_status,
    pub message: String,
}

impl FfiError {
    pub fn new(status: peerdisc_status, message: impl Into<String>) -> Self {
        FfiError {
            status,
            message: message.into(),
        }
    }
}

impl From<ModelError> for FfiError {
    fn from(e: ModelError) -> Self {
        // A model limit (`TooLong`, `TooMany`) is a value breaking its rule,
        // not an argument beyond PEERDISC_MAX_INPUT_LEN.
        let status = match &e {
            ModelError::Json(_) => PEERDISC_ERR_INVALID_JSON,
            _ => PEERDISC_ERR_INVALID_ARGUMENT,
        };
        FfiError::new(status, e.to_string())
    }
}

impl From<RegistryError> for FfiError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::Invalid(m) => m.into(),
            RegistryError::NotFound(_) => FfiError::new(PEERDISC_ERR_NOT_FOUND, e.to_string()),
            RegistryError::AlreadyExists(_) => {
                FfiError::new(PEERDISC_ERR_ALREADY_EXISTS, e.to_string())
            }
            RegistryError::Full { .. } => FfiError::new(PEERDISC_ERR_FULL, e.to_string()),
            RegistryError::InvalidConfig(_) => {
                FfiError::new(PEERDISC_ERR_INVALID_ARGUMENT, e.to_string())
            }
            _ => FfiError::new(PEERDISC_ERR_INTERNAL, e.to_string()),
        }
    }
}

impl From<serde_json::Error> for FfiError {
    /// Malformed text and a wrong shape are `INVALID_JSON`; a value that
    /// breaks its rule is `INVALID_ARGUMENT` (see [`peerdisc_status`]).
    fn from(e: serde_json::Error) -> Self {
        match crate::strict_json::problem(&e) {
            crate::strict_json::Problem::Value => {
                FfiError::new(PEERDISC_ERR_INVALID_ARGUMENT, format!("invalid value: {e}"))
            }
            _ => FfiError::new(PEERDISC_ERR_INVALID_JSON, format!("invalid JSON: {e}")),
        }
    }
}

pub(crate) type FfiResult<T = ()> = Result<T, FfiError>;

thread_local! {
    static LAST_ERROR: RefCell<Option<(peerdisc_status, CString)>> = const { RefCell::new(None) };
}

/// The longest message `peerdisc_last_error()` returns, in bytes (without
/// the terminating NUL). A longer one is cut at a character boundary and
/// ends with `...`; messages quote at most the start of an offending input.
pub const PEERDISC_LAST_ERROR_MAX_LEN: usize = 512;

/// `message` cut to at most `max` bytes at a character boundary, ending
/// with `...` when cut, and cut at its first NUL byte (user input is quoted
/// in some messages).
pub(crate) fn capped_message(message: &str, max: usize) -> &str {
    let message = message.split('\0').next().unwrap_or_default();
    if message.len() <= max {
        return message;
    }
    let mut end = max.saturating_sub(3);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    &message[..end]
}

pub(crate) fn set_last_error(status: peerdisc_status, message: &str) {
    let capped = capped_message(message, PEERDISC_LAST_ERROR_MAX_LEN);
    let mut bytes = Vec::with_capacity(capped.len() + 3);
    bytes.extend_from_slice(capped.as_bytes());
    if capped.len() < message.len() && !message[capped.len()..].starts_with('\0') {
        bytes.extend_from_slice(b"...");
    }
    let msg = CString::new(bytes).unwrap_or_default();
    LAST_ERROR.with(|l| *l.borrow_mut() = Some((status, msg)));
}

/// The thread's last error message, or NULL.
pub(crate) fn last_error_ptr() -> *const c_char {
    LAST_ERROR.with(|l| match &*l.borrow() {
        Some((_, m)) => m.as_ptr(),
        None => std::ptr::null(),
    })
}

/// The thread's last error status, or `PEERDISC_OK`.
pub(crate) fn last_error_status() -> peerdisc_status {
    LAST_ERROR.with(|l| l.borrow().as_ref().map_or(PEERDISC_OK, |(s, _)| *s))
}

pub(crate) fn clear_last_error() {
    LAST_ERROR.with(|l| *l.borrow_mut() = None);
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_string()
    }
}

/// Runs the body of an export: a panic becomes `PEERDISC_ERR_PANIC`, an
/// error becomes its status, and both set the thread's last error. Cheap on
/// the success path (no allocation, no thread-local access).
#[inline]
pub(crate) fn guard(name: &'static str, f: impl FnOnce() -> FfiResult) -> peerdisc_status {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => PEERDISC_OK,
        Ok(Err(e)) => {
            set_last_error(e.status, &format!("{name}: {}", e.message));
            e.status
        }
        Err(payload) => {
            let msg = format!(
                "{name}: internal panic caught: {}",
                panic_message(&*payload)
            );
            // Dropping the payload could itself panic; keep it out of the
            // way.
            std::mem::forget(payload);
            set_last_error(PEERDISC_ERR_PANIC, &msg);
            PEERDISC_ERR_PANIC
        }
    }
}

/// Like [`guard`] for exports that return a value instead of a status
/// (`fallback` on panic).
#[inline]
pub(crate) fn guard_value<T>(name: &'static str, fallback: T, f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(payload) => {
            let msg = format!(
                "{name}: internal panic caught: {}",
                panic_message(&*payload)
            );
            std::mem::forget(payload);
            set_last_error(PEERDISC_ERR_PANIC, &msg);
            fallback
        }
    }
}
