//! The registry's C ABI called from Rust, for the races the C tests check
//! once: many rounds of freeing a registry while its callback runs (from
//! another thread and from inside the callback), each time checking that
//! the finalizer ran exactly once and no call came after free.

#![warn(clippy::undocumented_unsafe_blocks)]

use std::ffi::{c_char, c_void, CString};
use std::ptr;
use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use peerdisc::ffi::{self, peerdisc_registry, peerdisc_status::PEERDISC_OK};

#[derive(Default)]
struct Ctx {
    reg: AtomicPtr<peerdisc_registry>,
    calls: AtomicUsize,
    after_free: AtomicUsize,
    freed: AtomicUsize,
    finalized: AtomicUsize,
    free_inside: bool,
}

unsafe extern "C" fn on_event(ud: *mut c_void, _json: *const c_char) {
    // SAFETY: user_data is the &Ctx given at registration, alive until the
    // finalizer has run.
    let ctx = unsafe { &*(ud as *const Ctx) };
    if ctx.freed.load(Ordering::SeqCst) != 0 {
        ctx.after_free.fetch_add(1, Ordering::SeqCst);
        return;
    }
    ctx.calls.fetch_add(1, Ordering::SeqCst);
    let reg = ctx.reg.load(Ordering::SeqCst);
    let mut n = 0usize;
    // SAFETY: the handle stays valid while this callback runs (free waits).
    let st = unsafe { ffi::peerdisc_registry_len(reg, &mut n) };
    assert_eq!(st, PEERDISC_OK);
    if ctx.free_inside {
        ctx.freed.store(1, Ordering::SeqCst);
        // SAFETY: freeing our own registry from inside its callback is
        // allowed; the handle is not used afterwards.
        unsafe { ffi::peerdisc_registry_free(reg) };
    } else {
        std::thread::sleep(Duration::from_micros(200));
    }
}

unsafe extern "C" fn finalize(ud: *mut c_void) {
    // SAFETY: as in on_event.
    let ctx = unsafe { &*(ud as *const Ctx) };
    ctx.finalized.fetch_add(1, Ordering::SeqCst);
}

fn round(free_inside: bool, peers: usize) {
    let ctx = Box::new(Ctx {
        free_inside,
        ..Default::default()
    });
    let mut reg = ptr::null_mut();
    // SAFETY: valid out pointer.
    let st = unsafe { ffi::peerdisc_registry_new(ptr::null(), &mut reg) };
    assert_eq!(st, PEERDISC_OK);
    ctx.reg.store(reg, Ordering::SeqCst);
    let ud = &*ctx as *const Ctx as *mut c_void;
    // SAFETY: live handle; ctx outlives the registration (checked below).
    let st = unsafe {
        ffi::peerdisc_registry_on_event(reg, Some(on_event), ud, Some(finalize), ptr::null_mut())
    };
    assert_eq!(st, PEERDISC_OK);
    for i in 0..peers {
        let json = CString::new(format!("{{\"node_id\":\"p{i}\"}}")).unwrap();
        // SAFETY: live handle: in free_inside rounds the callback frees it
        // only after the first event, and only one peer is added.
        let st = unsafe { ffi::peerdisc_registry_add(reg, json.as_ptr()) };
        assert_eq!(st, PEERDISC_OK);
        if free_inside {
            // One event is enough; more would race the free with add.
            break;
        }
    }
    if free_inside {
        let end = Instant::now() + Duration::from_secs(5);
        while ctx.finalized.load(Ordering::SeqCst) == 0 && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(1));
        }
    } else {
        // Free while the callback is (probably) running.
        while ctx.calls.load(Ordering::SeqCst) == 0 {
            std::thread::yield_now();
        }
        // SAFETY: live handle, no other call in progress on this thread.
        unsafe { ffi::peerdisc_registry_free(reg) };
        ctx.freed.store(1, Ordering::SeqCst);
        // free returned: the finalizer has run.
        assert_eq!(ctx.finalized.load(Ordering::SeqCst), 1);
    }
    std::thread::sleep(Duration::from_millis(2));
    assert_eq!(ctx.finalized.load(Ordering::SeqCst), 1);
    assert_eq!(ctx.after_free.load(Ordering::SeqCst), 0);
    if free_inside {
        assert_eq!(ctx.calls.load(Ordering::SeqCst), 1);
    }
}

#[test]
fn free_from_another_thread_while_the_callback_runs() {
    for _ in 0..100 {
        round(false, 20);
    }
}

#[test]
fn free_from_inside_the_callback() {
    for _ in 0..100 {
        round(true, 1);
    }
}

#[test]
fn registering_a_null_callback_is_refused_without_finalizing() {
    // A NULL callback on an open handle: refused, finalizer not run.
    let ctx = Ctx::default();
    let mut reg = ptr::null_mut();
    // SAFETY: valid out pointer.
    let st = unsafe { ffi::peerdisc_registry_new(ptr::null(), &mut reg) };
    assert_eq!(st, PEERDISC_OK);
    let ud = &ctx as *const Ctx as *mut c_void;
    // SAFETY: live handle.
    let st =
        unsafe { ffi::peerdisc_registry_on_event(reg, None, ud, Some(finalize), ptr::null_mut()) };
    assert_eq!(st, ffi::peerdisc_status::PEERDISC_ERR_NULL_ARGUMENT);
    // SAFETY: live handle, freed once.
    unsafe { ffi::peerdisc_registry_free(reg) };
    assert_eq!(ctx.finalized.load(Ordering::SeqCst), 0);
}

/// State of the closed-handle test: a callback that runs while another
/// thread frees the registry, and tries to register more callbacks then.
#[derive(Default)]
struct Closing {
    reg: AtomicPtr<peerdisc_registry>,
    running: AtomicUsize,
    freeing: AtomicUsize,
    /// Registrations that got in before the handle was closed.
    accepted: AtomicUsize,
    /// The status of the first registration that did not.
    refused: AtomicI32,
    /// Finalizer runs of the callbacks registered from inside.
    late_finalized: AtomicUsize,
    finalized: AtomicUsize,
}

unsafe extern "C" fn ignore_event(_ud: *mut c_void, _json: *const c_char) {}

unsafe extern "C" fn finalize_late(ud: *mut c_void) {
    // SAFETY: user_data is the &Closing given at registration, alive until
    // every finalizer has run.
    let c = unsafe { &*(ud as *const Closing) };
    c.late_finalized.fetch_add(1, Ordering::SeqCst);
}

unsafe extern "C" fn finalize_closing(ud: *mut c_void) {
    // SAFETY: as in finalize_late.
    let c = unsafe { &*(ud as *const Closing) };
    c.finalized.fetch_add(1, Ordering::SeqCst);
}

unsafe extern "C" fn register_while_freed(ud: *mut c_void, _json: *const c_char) {
    // SAFETY: as in finalize_late.
    let c = unsafe { &*(ud as *const Closing) };
    if c.running.fetch_add(1, Ordering::SeqCst) != 0 {
        return;
    }
    let end = Instant::now() + Duration::from_secs(5);
    while c.freeing.load(Ordering::SeqCst) == 0 && Instant::now() < end {
        std::thread::yield_now();
    }
    // The other thread is in (or about to enter) peerdisc_registry_free,
    // which waits for this call to return: the handle stays valid. Register
    // until the handle is closed.
    let reg = c.reg.load(Ordering::SeqCst);
    while Instant::now() < end {
        // SAFETY: the handle is valid while this callback runs (free
        // waits); ignore_event and finalize_late are valid functions.
        let st = unsafe {
            ffi::peerdisc_registry_on_event(
                reg,
                Some(ignore_event),
                ud,
                Some(finalize_late),
                ptr::null_mut(),
            )
        };
        if st == PEERDISC_OK {
            c.accepted.fetch_add(1, Ordering::SeqCst);
            std::thread::yield_now();
        } else {
            c.refused.store(st as i32, Ordering::SeqCst);
            return;
        }
    }
}

#[test]
fn registering_on_a_closed_handle_is_refused_without_finalizing() {
    let c = Closing::default();
    let ud = &c as *const Closing as *mut c_void;
    let mut reg = ptr::null_mut();
    // SAFETY: valid out pointer.
    let st = unsafe { ffi::peerdisc_registry_new(ptr::null(), &mut reg) };
    assert_eq!(st, PEERDISC_OK);
    c.reg.store(reg, Ordering::SeqCst);
    // SAFETY: live handle; `c` outlives the registry.
    let st = unsafe {
        ffi::peerdisc_registry_on_event(
            reg,
            Some(register_while_freed),
            ud,
            Some(finalize_closing),
            ptr::null_mut(),
        )
    };
    assert_eq!(st, PEERDISC_OK);
    let json = CString::new("{\"node_id\":\"a\"}").unwrap();
    // SAFETY: live handle; a NUL-terminated string.
    let st = unsafe { ffi::peerdisc_registry_add(reg, json.as_ptr()) };
    assert_eq!(st, PEERDISC_OK);
    let end = Instant::now() + Duration::from_secs(5);
    while c.running.load(Ordering::SeqCst) == 0 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(
        c.running.load(Ordering::SeqCst),
        1,
        "the callback never ran"
    );
    c.freeing.store(1, Ordering::SeqCst);
    // SAFETY: live handle, freed once, not used afterwards.
    unsafe { ffi::peerdisc_registry_free(reg) };
    // free returned: the callback returned, every finalizer has run.
    assert_eq!(
        c.refused.load(Ordering::SeqCst),
        ffi::peerdisc_status::PEERDISC_ERR_INVALID_STATE as i32
    );
    assert_eq!(c.finalized.load(Ordering::SeqCst), 1);
    // Those that got in before the close were finalized by free; the
    // refused one never is.
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(
        c.late_finalized.load(Ordering::SeqCst),
        c.accepted.load(Ordering::SeqCst)
    );
}
