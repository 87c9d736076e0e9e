//! The node half of the C ABI, driven from Rust: lifecycle, queries, and the
//! hard cases (NULLs, bad JSON, stop twice, use after stop, freeing a node
//! from inside its own callback, a callback that calls back in, a callback
//! running while another thread frees the node, no events after free).

use std::ffi::{c_char, c_void, CString};
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use peerdisc::ffi::peerdisc_status::*;
use peerdisc::ffi::*;

#[path = "support/ffi.rs"]
mod ffi_support;
use ffi_support::{c, last_error, take};

unsafe fn new_node(config: &str) -> *mut peerdisc_node {
    let mut n = ptr::null_mut();
    let cfg = c(config);
    assert_eq!(
        peerdisc_node_new(cfg.as_ptr(), &mut n),
        PEERDISC_OK,
        "{}",
        last_error()
    );
    assert_eq!(peerdisc_node_start(n), PEERDISC_OK, "{}", last_error());
    n
}

unsafe fn address(n: *const peerdisc_node) -> String {
    let mut a = ptr::null_mut();
    assert_eq!(peerdisc_node_address(n, &mut a), PEERDISC_OK);
    take(a)
}

unsafe fn pair() -> (*mut peerdisc_node, *mut peerdisc_node) {
    let seed = new_node(r#"{"node_id": "seed", "capabilities": {"tools": ["search"]}}"#);
    let cfg = format!(
        r#"{{"node_id": "joiner", "bootstrap": ["{}"], "capabilities": {{"agents": ["planner"]}}}}"#,
        address(seed)
    );
    let joiner = new_node(&cfg);
    let mut count = 0u32;
    assert_eq!(
        peerdisc_node_wait_for_peers(joiner, 1, 10_000, &mut count),
        PEERDISC_OK
    );
    assert_eq!(
        peerdisc_node_wait_for_peers(seed, 1, 10_000, &mut count),
        PEERDISC_OK
    );
    assert_eq!(count, 1);
    (seed, joiner)
}

#[test]
fn null_and_bad_input_give_statuses_and_messages() {
    unsafe {
        assert_eq!(
            peerdisc_node_new(ptr::null(), ptr::null_mut()),
            PEERDISC_ERR_NULL_ARGUMENT
        );
        assert!(last_error().contains("node_out"), "{}", last_error());
        assert_eq!(peerdisc_node_start(ptr::null()), PEERDISC_ERR_NULL_ARGUMENT);
        peerdisc_node_free(ptr::null_mut());
        let mut n = ptr::null_mut();
        let bad = c(r#"{"listen": 5}"#);
        assert_eq!(
            peerdisc_node_new(bad.as_ptr(), &mut n),
            PEERDISC_ERR_INVALID_JSON
        );
        assert!(n.is_null(), "no output on failure");
        let unknown = c(r#"{"bogus": true}"#);
        assert_eq!(
            peerdisc_node_new(unknown.as_ptr(), &mut n),
            PEERDISC_ERR_INVALID_JSON
        );
        let bad_boot = c(r#"{"bootstrap": ["http://x:1"]}"#);
        assert_eq!(
            peerdisc_node_new(bad_boot.as_ptr(), &mut n),
            PEERDISC_ERR_INVALID_ARGUMENT
        );
        assert!(last_error().contains("bootstrap"), "{}", last_error());
        // The datagram section passes through the JSON config unchanged.
        let bad_udp = c(r#"{"datagram": {"max_bytes": 10}}"#);
        assert_eq!(
            peerdisc_node_new(bad_udp.as_ptr(), &mut n),
            PEERDISC_ERR_INVALID_ARGUMENT
        );
        assert!(last_error().contains("datagram"), "{}", last_error());
        let no_udp = c(r#"{"datagram": {"enabled": false, "max_bytes": 1200}}"#);
        assert_eq!(peerdisc_node_new(no_udp.as_ptr(), &mut n), PEERDISC_OK);
        peerdisc_node_free(n);
        let invalid_utf8 = [0x7bu8, 0xff, 0x7d, 0];
        assert_eq!(
            peerdisc_node_new(invalid_utf8.as_ptr() as *const c_char, &mut n),
            PEERDISC_ERR_INVALID_UTF8
        );
        // A taken port: a network error naming the address.
        let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let cfg = c(&format!(
            r#"{{"listen": "{}"}}"#,
            holder.local_addr().unwrap()
        ));
        assert_eq!(peerdisc_node_new(cfg.as_ptr(), &mut n), PEERDISC_OK);
        assert_eq!(peerdisc_node_start(n), PEERDISC_ERR_NETWORK);
        assert!(last_error().contains(&holder.local_addr().unwrap().to_string()));
        peerdisc_node_free(n);
    }
}

#[test]
fn two_nodes_discover_query_update_and_stop_twice() {
    unsafe {
        let (seed, joiner) = pair();
        let mut json = ptr::null_mut();
        assert_eq!(
            peerdisc_node_discover_bootstrap(joiner, &mut json),
            PEERDISC_OK
        );
        let report: serde_json::Value = serde_json::from_str(&take(json)).unwrap();
        assert_eq!(report["peers"][0], "seed");
        let tool = c("search");
        assert_eq!(
            peerdisc_node_find_by_capability(joiner, 1, tool.as_ptr(), &mut json),
            PEERDISC_OK
        );
        let found: serde_json::Value = serde_json::from_str(&take(json)).unwrap();
        assert_eq!(found[0]["node_id"], "seed");
        assert_eq!(
            peerdisc_node_find_by_capability(joiner, 9, tool.as_ptr(), &mut json),
            PEERDISC_ERR_INVALID_ARGUMENT
        );
        assert_eq!(peerdisc_node_peers(seed, &mut json), PEERDISC_OK);
        assert!(take(json).contains("planner"));
        let caps = c(r#"{"tools": ["fresh"]}"#);
        assert_eq!(
            peerdisc_node_update_capabilities(joiner, caps.as_ptr()),
            PEERDISC_OK
        );
        let fresh = c("fresh");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            assert_eq!(
                peerdisc_node_find_by_capability(seed, 1, fresh.as_ptr(), &mut json),
                PEERDISC_OK
            );
            if take(json).contains("joiner") {
                break;
            }
            assert!(Instant::now() < deadline, "the update never arrived");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(peerdisc_node_stats(seed, &mut json), PEERDISC_OK);
        let stats: serde_json::Value = serde_json::from_str(&take(json)).unwrap();
        assert_eq!(stats["node_id"], "seed");
        // Stop twice; use after stop is an error, queries still answer.
        assert_eq!(peerdisc_node_stop(joiner), PEERDISC_OK);
        assert_eq!(peerdisc_node_stop(joiner), PEERDISC_OK);
        assert_eq!(
            peerdisc_node_update_capabilities(joiner, caps.as_ptr()),
            PEERDISC_ERR_INVALID_STATE
        );
        assert_eq!(
            peerdisc_node_address(joiner, &mut json),
            PEERDISC_ERR_INVALID_STATE
        );
        assert_eq!(
            peerdisc_node_discover_bootstrap(joiner, &mut json),
            PEERDISC_ERR_INVALID_STATE
        );
        assert_eq!(peerdisc_node_peers(joiner, &mut json), PEERDISC_OK);
        peerdisc_string_free(json);
        peerdisc_node_free(joiner);
        peerdisc_node_free(seed);
    }
}

struct Probe {
    node: Mutex<*mut peerdisc_node>,
    calls: AtomicUsize,
    finalized: AtomicUsize,
    calls_after_free: AtomicUsize,
    freed: std::sync::atomic::AtomicBool,
    reentered: AtomicUsize,
}
// SAFETY: the raw node pointer is only used through the thread-safe C ABI.
unsafe impl Send for Probe {}
// SAFETY: as above.
unsafe impl Sync for Probe {}

impl Probe {
    fn new(node: *mut peerdisc_node) -> Arc<Probe> {
        Arc::new(Probe {
            node: Mutex::new(node),
            calls: AtomicUsize::new(0),
            finalized: AtomicUsize::new(0),
            calls_after_free: AtomicUsize::new(0),
            freed: Default::default(),
            reentered: AtomicUsize::new(0),
        })
    }
}

unsafe extern "C" fn finalize(ud: *mut c_void) {
    // SAFETY: `ud` is an Arc<Probe> leaked at registration.
    let p = Arc::from_raw(ud as *const Probe);
    p.finalized.fetch_add(1, Ordering::SeqCst);
}

/// Frees its own node from inside the callback, once.
unsafe extern "C" fn free_self(ud: *mut c_void, _ev: *const c_char) {
    // SAFETY: borrowed from the Arc leaked at registration.
    let p = &*(ud as *const Probe);
    p.calls.fetch_add(1, Ordering::SeqCst);
    let mut n = p.node.lock().unwrap();
    if !n.is_null() {
        peerdisc_node_free(*n);
        *n = ptr::null_mut();
    }
}

/// Calls back into the library (queries its own node).
unsafe extern "C" fn reenter(ud: *mut c_void, ev: *const c_char) {
    // SAFETY: as above.
    let p = &*(ud as *const Probe);
    if p.freed.load(Ordering::SeqCst) {
        p.calls_after_free.fetch_add(1, Ordering::SeqCst);
    }
    p.calls.fetch_add(1, Ordering::SeqCst);
    assert!(!ev.is_null());
    let n = *p.node.lock().unwrap();
    let mut json = ptr::null_mut();
    if peerdisc_node_peers(n, &mut json) == PEERDISC_OK {
        peerdisc_string_free(json);
        p.reentered.fetch_add(1, Ordering::SeqCst);
    }
    std::thread::sleep(Duration::from_millis(2));
}

#[test]
fn freeing_a_node_from_its_own_callback() {
    unsafe {
        let (seed, joiner) = pair();
        let probe = Probe::new(joiner);
        let ud = Arc::into_raw(Arc::clone(&probe)) as *mut c_void;
        assert_eq!(
            peerdisc_node_on_event(joiner, Some(free_self), ud, Some(finalize), ptr::null_mut()),
            PEERDISC_OK
        );
        // Any event triggers the callback: make one.
        let caps = c(r#"{"tools": ["x"]}"#);
        assert_eq!(
            peerdisc_node_update_capabilities(seed, caps.as_ptr()),
            PEERDISC_OK
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while probe.finalized.load(Ordering::SeqCst) == 0 {
            assert!(Instant::now() < deadline, "the finalizer never ran");
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(probe.finalized.load(Ordering::SeqCst), 1);
        assert_eq!(
            probe.calls.load(Ordering::SeqCst),
            1,
            "no call after the free"
        );
        peerdisc_node_free(seed);
    }
}

#[test]
fn callback_reenters_and_another_thread_frees_the_node() {
    unsafe {
        let (seed, joiner) = pair();
        let probe = Probe::new(joiner);
        let ud = Arc::into_raw(Arc::clone(&probe)) as *mut c_void;
        let mut id = 0u64;
        assert_eq!(
            peerdisc_node_on_event(joiner, Some(reenter), ud, Some(finalize), &mut id),
            PEERDISC_OK
        );
        assert_eq!(
            peerdisc_node_remove_callback(joiner, id + 1000),
            PEERDISC_ERR_NOT_FOUND
        );
        // Keep events flowing while another thread frees the node.
        let seed_addr = seed as usize;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s2 = Arc::clone(&stop);
        let churn = std::thread::spawn(move || {
            let mut v = 0;
            while !s2.load(Ordering::SeqCst) && v < 500 {
                v += 1;
                let caps = CString::new(format!(r#"{{"tools": ["t{v}"]}}"#)).unwrap();
                peerdisc_node_update_capabilities(seed_addr as *const peerdisc_node, caps.as_ptr());
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        while probe.calls.load(Ordering::SeqCst) < 5 {
            assert!(Instant::now() < deadline, "no events arrived");
            std::thread::sleep(Duration::from_millis(5));
        }
        let node = joiner as usize;
        let p2 = Arc::clone(&probe);
        std::thread::spawn(move || {
            peerdisc_node_free(node as *mut peerdisc_node);
            p2.freed.store(true, Ordering::SeqCst);
        })
        .join()
        .unwrap();
        // After free returned: the finalizer ran once, and no call comes.
        assert_eq!(probe.finalized.load(Ordering::SeqCst), 1);
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(probe.calls_after_free.load(Ordering::SeqCst), 0);
        assert!(probe.reentered.load(Ordering::SeqCst) > 0);
        stop.store(true, Ordering::SeqCst);
        churn.join().unwrap();
        peerdisc_node_free(seed);
    }
}

#[test]
fn pulled_events_end_after_free() {
    unsafe {
        let (seed, joiner) = pair();
        let mut sub = ptr::null_mut();
        assert_eq!(peerdisc_node_subscribe(seed, &mut sub), PEERDISC_OK);
        peerdisc_node_free(joiner);
        let mut json = ptr::null_mut();
        // The joiner's leave shows up as events on the seed.
        assert_eq!(
            peerdisc_subscription_next_event(sub, 5_000, &mut json),
            PEERDISC_OK
        );
        assert!(take(json).contains("joiner"));
        peerdisc_node_free(seed);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match peerdisc_subscription_next_event(sub, 100, &mut json) {
                PEERDISC_OK => peerdisc_string_free(json),
                PEERDISC_CLOSED => break,
                PEERDISC_TIMEOUT => {}
                other => panic!("{other:?}"),
            }
            assert!(Instant::now() < deadline, "the subscription never closed");
        }
        peerdisc_subscription_free(sub);
    }
}
