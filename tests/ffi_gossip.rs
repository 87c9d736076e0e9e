//! The gossip handle's C ABI called from Rust, for what the C tests do not
//! reach: the send callback re-entering its own handle (it would deadlock
//! if it ran under the handle's lock), and freeing the handle from inside
//! its own send callback on the timer thread (the finalizer still runs
//! exactly once, after the last call).

#![warn(clippy::undocumented_unsafe_blocks)]

use std::ffi::{c_char, c_void, CStr, CString};
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use peerdisc::ffi::{self, peerdisc_gossip, peerdisc_registry, peerdisc_status::PEERDISC_OK};

#[derive(Default)]
struct Ctx {
    gossip: AtomicPtr<peerdisc_gossip>,
    sends: AtomicUsize,
    reentered: AtomicUsize,
    after_free: AtomicUsize,
    freed: AtomicUsize,
    finalized: AtomicUsize,
    /// `free_inside` frees only once armed.
    armed: AtomicUsize,
}

unsafe extern "C" fn reenter(ud: *mut c_void, to: *const c_char, msg: *const c_char) {
    // SAFETY: user_data is the &Ctx given at creation, alive until the
    // finalizer ran; the strings are valid for the call.
    let (ctx, to, msg) = unsafe {
        (
            &*(ud as *const Ctx),
            CStr::from_ptr(to),
            CStr::from_ptr(msg),
        )
    };
    assert_eq!(to.to_str().unwrap(), "nobody");
    assert!(msg.to_str().unwrap().contains("\"type\""));
    ctx.sends.fetch_add(1, Ordering::SeqCst);
    let g = ctx.gossip.load(Ordering::SeqCst);
    let mut json: *mut c_char = ptr::null_mut();
    // SAFETY: the handle is live while its callback runs.
    let st = unsafe { ffi::peerdisc_gossip_members(g, &mut json) };
    assert_eq!(st, PEERDISC_OK);
    // SAFETY: owned by us now.
    unsafe { ffi::peerdisc_string_free(json) };
    // SAFETY: as above.
    assert_eq!(unsafe { ffi::peerdisc_gossip_tick(g) }, PEERDISC_OK);
    ctx.reentered.fetch_add(1, Ordering::SeqCst);
}

unsafe extern "C" fn free_inside(ud: *mut c_void, _to: *const c_char, _msg: *const c_char) {
    // SAFETY: as in `reenter`.
    let ctx = unsafe { &*(ud as *const Ctx) };
    if ctx.armed.load(Ordering::SeqCst) == 0 {
        return;
    }
    if ctx.freed.load(Ordering::SeqCst) != 0 {
        ctx.after_free.fetch_add(1, Ordering::SeqCst);
        return;
    }
    ctx.sends.fetch_add(1, Ordering::SeqCst);
    ctx.freed.store(1, Ordering::SeqCst);
    let g = ctx.gossip.swap(ptr::null_mut(), Ordering::SeqCst);
    // SAFETY: a live handle, freed once, from inside its own send callback
    // (allowed; the call must not use it afterwards).
    unsafe { ffi::peerdisc_gossip_free(g) };
    assert_eq!(
        ctx.finalized.load(Ordering::SeqCst),
        0,
        "finalizer ran inside the call"
    );
}

unsafe extern "C" fn finalize(ud: *mut c_void) {
    // SAFETY: as in `reenter`.
    let ctx = unsafe { &*(ud as *const Ctx) };
    ctx.finalized.fetch_add(1, Ordering::SeqCst);
}

fn registry() -> *mut peerdisc_registry {
    let mut reg = ptr::null_mut();
    // SAFETY: a valid out pointer.
    let st = unsafe { ffi::peerdisc_registry_new(ptr::null(), &mut reg) };
    assert_eq!(st, PEERDISC_OK);
    reg
}

fn gossip(
    reg: *mut peerdisc_registry,
    ctx: &Ctx,
    send: unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char),
) -> *mut peerdisc_gossip {
    let cfg = CString::new(r#"{"node_id": "me", "rng_seed": 3}"#).unwrap();
    let mut g = ptr::null_mut();
    // SAFETY: live registry, valid strings and out pointer; ctx outlives
    // the handle (the tests wait for the finalizer).
    let st = unsafe {
        ffi::peerdisc_gossip_new(
            reg,
            cfg.as_ptr(),
            Some(send),
            ctx as *const Ctx as *mut c_void,
            Some(finalize),
            &mut g,
        )
    };
    assert_eq!(st, PEERDISC_OK);
    ctx.gossip.store(g, Ordering::SeqCst);
    g
}

fn join_nobody(g: *mut peerdisc_gossip) {
    let ids = CString::new(r#"["nobody"]"#).unwrap();
    // SAFETY: live handle, valid string.
    let st = unsafe { ffi::peerdisc_gossip_join(g, ids.as_ptr()) };
    assert_eq!(st, PEERDISC_OK);
}

#[test]
fn send_runs_outside_the_lock_and_may_reenter() {
    let reg = registry();
    let ctx = Ctx::default();
    let g = gossip(reg, &ctx, reenter);
    join_nobody(g);
    assert!(ctx.sends.load(Ordering::SeqCst) >= 1);
    assert_eq!(
        ctx.reentered.load(Ordering::SeqCst),
        ctx.sends.load(Ordering::SeqCst)
    );
    // SAFETY: live handles, freed once.
    unsafe {
        ffi::peerdisc_gossip_free(g);
        ffi::peerdisc_registry_free(reg);
    }
    assert_eq!(ctx.finalized.load(Ordering::SeqCst), 1);
}

#[test]
fn free_from_inside_send_on_the_calling_and_the_timer_thread() {
    for round in 0..6 {
        let reg = registry();
        let ctx = Ctx::default();
        let g = gossip(reg, &ctx, free_inside);
        if round % 2 == 0 {
            // The join's hello is sent from inside peerdisc_gossip_join,
            // which frees the handle under its own feet.
            ctx.armed.store(1, Ordering::SeqCst);
            join_nobody(g);
        } else {
            // The retried hello comes from the timer thread.
            join_nobody(g);
            ctx.armed.store(1, Ordering::SeqCst);
            // SAFETY: live handle.
            assert_eq!(unsafe { ffi::peerdisc_gossip_start(g) }, PEERDISC_OK);
        }
        let end = Instant::now() + Duration::from_secs(10);
        while ctx.finalized.load(Ordering::SeqCst) == 0 && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(ctx.finalized.load(Ordering::SeqCst), 1);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(ctx.finalized.load(Ordering::SeqCst), 1);
        assert_eq!(ctx.sends.load(Ordering::SeqCst), 1);
        assert_eq!(ctx.after_free.load(Ordering::SeqCst), 0);
        // SAFETY: live handle, freed once.
        unsafe { ffi::peerdisc_registry_free(reg) };
    }
}
