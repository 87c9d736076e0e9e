//! Calling C back, safely, for any handle type (the registry now, the node
//! later).
//!
//! A registered C callback is a [`CallbackCore`]: the function, its
//! `user_data`, its finalizer and a [`Gate`]. The gate counts calls in
//! progress and, once closed, lets no new call start. Closing waits until
//! the calls in progress on *other* threads have returned; a call in
//! progress on the closing thread itself (the callback closing its own
//! handle) cannot be waited for, so the finalizer then runs when that call
//! returns. Either way the finalizer runs exactly once, after the last call.
//!
//! A [`CallbackSet`] is the list of callbacks of one handle; freeing the
//! handle closes the set: every gate is closed, then the handle's owner
//! unregisters the callbacks from the Rust side.

use std::cell::RefCell;
use std::ffi::{c_char, c_void, CString};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use super::status::{peerdisc_status::*, FfiError, FfiResult};

/// An event callback: `user_data` as given at registration, and the event
/// as a NUL-terminated JSON object, borrowed for the duration of the call
/// only (copy it to keep it).
///
/// Event JSON (the same for callbacks and `peerdisc_subscription_next_event`):
/// an object with `"type"` and `"peer"` (the peer JSON of
/// `peerdisc_registry_add`, as it is after the event; for `removed`, its
/// last state), and one more field for some types:
/// - `{"type": "added", "peer": {...}}`: a new peer;
/// - `{"type": "updated", "peer": {...}, "changes": [...]}`: its record or
///   health changed; `changes` lists one or more of `"addresses"`,
///   `"public_key"`, `"capabilities"`, `"metadata"`, `"version"`,
///   `"health"`, `"incarnation"`;
/// - `{"type": "removed", "peer": {...}, "reason": R}`: it left the
///   registry; `R` is `"dead"` or `"left"` (past the retention time),
///   `"evicted"` (the registry was full) or `"removed"` (by the user);
/// - `{"type": "state_changed", "peer": {...}, "change": {"kind": K,
///   "from": F, "to": T}}`: `K` is `"liveness"` (`F`, `T`: `"alive"`,
///   `"suspect"`, `"dead"`, `"left"`) or `"connection"` (`F`, `T`:
///   `"disconnected"`, `"connecting"`, `"connected"`, `"failed"`).
///
/// Later versions may add event types and fields; ignore what you do not
/// know.
pub type peerdisc_event_callback =
    Option<unsafe extern "C" fn(user_data: *mut c_void, event_json: *const c_char)>;

/// A finalizer: called exactly once with `user_data`, after the last call
/// of its callback, when the callback is removed or its handle is freed.
pub type peerdisc_finalizer = Option<unsafe extern "C" fn(user_data: *mut c_void)>;

/// `user_data`, sent across threads as the C contract allows.
#[derive(Clone, Copy)]
pub(crate) struct UserData(pub(crate) *mut c_void);
// SAFETY: the header documents that callbacks run on a library thread and
// that `user_data` must be usable from any thread; the library never
// dereferences it.
unsafe impl Send for UserData {}
// SAFETY: as above; the library only passes the pointer back to C.
unsafe impl Sync for UserData {}

struct GateState {
    closed: bool,
    running: usize,
    /// Threads inside `close` waiting for calls to return: the finalizer is
    /// theirs to run, so that it has run when `close` returns.
    waiting: usize,
    finalizer: Option<(unsafe extern "C" fn(*mut c_void), UserData)>,
}

/// Admits calls until closed; runs the finalizer once after the last one.
pub(crate) struct Gate {
    state: Mutex<GateState>,
    idle: Condvar,
}

thread_local! {
    /// The gates whose callbacks this thread is running, innermost last.
    static ACTIVE: RefCell<Vec<*const Gate>> = const { RefCell::new(Vec::new()) };
}

impl Gate {
    pub(crate) fn new(finalizer: peerdisc_finalizer, user_data: UserData) -> Self {
        Gate {
            state: Mutex::new(GateState {
                closed: false,
                running: 0,
                waiting: 0,
                finalizer: finalizer.map(|f| (f, user_data)),
            }),
            idle: Condvar::new(),
        }
    }

    fn run_finalizer(fin: Option<(unsafe extern "C" fn(*mut c_void), UserData)>) {
        if let Some((f, ud)) = fin {
            // SAFETY: the finalizer was given by the caller for this
            // user_data and runs once (it was taken out of the state).
            unsafe { f(ud.0) }
        }
    }

    /// Starts a call; false when the gate is closed.
    pub(crate) fn enter(&self) -> bool {
        let mut s = self.state.lock();
        if s.closed {
            return false;
        }
        s.running += 1;
        drop(s);
        ACTIVE.with(|a| a.borrow_mut().push(self as *const Gate));
        true
    }

    pub(crate) fn leave(&self) {
        ACTIVE.with(|a| {
            let mut a = a.borrow_mut();
            if let Some(pos) = a.iter().rposition(|&g| std::ptr::eq(g, self)) {
                a.remove(pos);
            }
        });
        let mut s = self.state.lock();
        s.running -= 1;
        let fin = if s.running == 0 {
            self.idle.notify_all();
            if s.closed && s.waiting == 0 {
                s.finalizer.take()
            } else {
                None
            }
        } else {
            None
        };
        drop(s);
        Self::run_finalizer(fin);
    }

    /// Lets no new call start, waits for the calls running on other
    /// threads, and runs the finalizer now if no call of this thread is in
    /// progress (else when the last one returns). Idempotent.
    pub(crate) fn close(&self) {
        let own = ACTIVE.with(|a| {
            a.borrow()
                .iter()
                .filter(|&&g| std::ptr::eq(g, self))
                .count()
        });
        let mut s = self.state.lock();
        s.closed = true;
        s.waiting += 1;
        while s.running > own {
            self.idle.wait(&mut s);
        }
        s.waiting -= 1;
        let fin = if s.running == 0 {
            s.finalizer.take()
        } else {
            None
        };
        drop(s);
        Self::run_finalizer(fin);
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        // Never closed (cannot happen through the C API, which always
        // closes): the finalizer still runs exactly once.
        let fin = self.state.get_mut().finalizer.take();
        Self::run_finalizer(fin);
    }
}

/// A C callback with its user data and gate.
pub(crate) struct CallbackCore {
    func: unsafe extern "C" fn(*mut c_void, *const c_char),
    user_data: UserData,
    pub(crate) gate: Gate,
}

impl CallbackCore {
    /// Checks the function pointer and wraps it.
    pub(crate) fn new(
        func: peerdisc_event_callback,
        user_data: *mut c_void,
        finalizer: peerdisc_finalizer,
    ) -> FfiResult<Arc<Self>> {
        let func = func.ok_or_else(|| {
            FfiError::new(PEERDISC_ERR_NULL_ARGUMENT, "callback is NULL".to_string())
        })?;
        let ud = UserData(user_data);
        Ok(Arc::new(CallbackCore {
            func,
            user_data: ud,
            gate: Gate::new(finalizer, ud),
        }))
    }

    /// Calls the C function with the JSON made by `json`, unless the gate is
    /// closed (then `json` is not even built).
    pub(crate) fn invoke(&self, json: impl FnOnce() -> String) {
        if !self.gate.enter() {
            return;
        }
        struct Leave<'a>(&'a Gate);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                self.0.leave();
            }
        }
        let _leave = Leave(&self.gate);
        // serde_json escapes NUL, so this never fails; if it ever did, the
        // event is skipped rather than cut.
        if let Ok(c) = CString::new(json()) {
            // SAFETY: the function and user_data were given together by the
            // caller, who promised the function may be called from a
            // library thread while registered; the string outlives the call.
            unsafe { (self.func)(self.user_data.0, c.as_ptr()) }
        }
    }
}

struct Entry {
    id: u64,
    core: Arc<CallbackCore>,
}

/// The callbacks registered through one handle.
#[derive(Default)]
pub(crate) struct CallbackSet {
    state: Mutex<SetState>,
}

#[derive(Default)]
struct SetState {
    closed: bool,
    entries: Vec<Entry>,
}

impl CallbackSet {
    /// Registers a callback: `install` hooks `core` into the Rust side and
    /// returns the id the Rust side gave it. Fails with
    /// `PEERDISC_ERR_INVALID_STATE` once the set is closed. On failure the
    /// finalizer does not run (the caller keeps `user_data`).
    pub(crate) fn register(
        &self,
        core: Arc<CallbackCore>,
        install: impl FnOnce(Arc<CallbackCore>) -> FfiResult<u64>,
    ) -> FfiResult<u64> {
        let mut s = self.state.lock();
        if s.closed {
            return Err(Self::closed_error(&core));
        }
        match install(Arc::clone(&core)) {
            Ok(id) => {
                s.entries.push(Entry { id, core });
                Ok(id)
            }
            Err(e) => Err(Self::forget_finalizer(&core, e)),
        }
    }

    fn closed_error(core: &Arc<CallbackCore>) -> FfiError {
        Self::forget_finalizer(
            core,
            FfiError::new(
                PEERDISC_ERR_INVALID_STATE,
                "the handle is being freed or stopped; no callback can be added".to_string(),
            ),
        )
    }

    fn forget_finalizer(core: &Arc<CallbackCore>, e: FfiError) -> FfiError {
        core.gate.state.lock().finalizer = None;
        e
    }

    /// Closes one callback's gate (waiting as [`Gate::close`] does) and
    /// returns it so that the caller unregisters it from the Rust side.
    pub(crate) fn remove(&self, id: u64) -> FfiResult<Arc<CallbackCore>> {
        let core = {
            let mut s = self.state.lock();
            let pos = s.entries.iter().position(|e| e.id == id).ok_or_else(|| {
                FfiError::new(
                    PEERDISC_ERR_NOT_FOUND,
                    format!("no callback with id {id} is registered"),
                )
            })?;
            s.entries.swap_remove(pos).core
        };
        // Wait outside the set's lock: the callback may call into the
        // handle (even register another callback).
        core.gate.close();
        Ok(core)
    }

    /// Closes the set and every gate; returns the ids to unregister.
    pub(crate) fn close_all(&self) -> Vec<u64> {
        let entries = {
            let mut s = self.state.lock();
            s.closed = true;
            std::mem::take(&mut s.entries)
        };
        for e in &entries {
            e.core.gate.close();
        }
        entries.into_iter().map(|e| e.id).collect()
    }
}
