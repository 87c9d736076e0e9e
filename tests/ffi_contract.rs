//! The C ABI keeps the header's word (issue 17), driven from Rust: every
//! JSON argument refuses arrays, scalars and `null`; one status per kind of
//! error (an invalid node id is INVALID_ARGUMENT at every call that takes
//! one, a value outside its rule INVALID_ARGUMENT, a wrong shape
//! INVALID_JSON); last-error messages are capped; the typed accessors.

use std::ffi::{c_char, CStr};
use std::ptr;

use peerdisc::ffi::peerdisc_status::{self, *};
use peerdisc::ffi::*;

#[path = "support/ffi.rs"]
mod ffi_support;
use ffi_support::{c, last_error, take};

/// Asserts a status, with the last error in the message.
#[track_caller]
fn st(got: peerdisc_status, want: peerdisc_status, what: &str) {
    assert_eq!(got, want, "{what}: {}", last_error());
}

unsafe fn registry() -> *mut peerdisc_registry {
    let mut r = ptr::null_mut();
    st(
        peerdisc_registry_new(ptr::null(), &mut r),
        PEERDISC_OK,
        "new",
    );
    r
}

/// Not objects: each must be INVALID_JSON wherever an object is asked for.
const NOT_OBJECTS: [&str; 9] = [
    "[5]",
    "[]",
    "[\"zz\"]",
    "[[\"dead\"]]",
    "5",
    "\"x\"",
    "true",
    "null",
    "  [ ]  ",
];

#[test]
fn every_json_argument_refuses_arrays_scalars_and_null() {
    unsafe {
        let reg = registry();
        let mut node = ptr::null_mut();
        st(
            peerdisc_node_new(ptr::null(), &mut node),
            PEERDISC_OK,
            "node",
        );
        for text in NOT_OBJECTS {
            let j = c(text);
            let mut r = ptr::null_mut();
            st(
                peerdisc_registry_new(j.as_ptr(), &mut r),
                PEERDISC_ERR_INVALID_JSON,
                text,
            );
            assert!(r.is_null());
            st(
                peerdisc_registry_add(reg, j.as_ptr()),
                PEERDISC_ERR_INVALID_JSON,
                text,
            );
            st(
                peerdisc_registry_upsert(reg, j.as_ptr(), ptr::null_mut()),
                PEERDISC_ERR_INVALID_JSON,
                text,
            );
            let mut out = ptr::null_mut();
            st(
                peerdisc_registry_list(reg, j.as_ptr(), &mut out),
                PEERDISC_ERR_INVALID_JSON,
                text,
            );
            assert!(out.is_null());
            let mut n = ptr::null_mut();
            st(
                peerdisc_node_new(j.as_ptr(), &mut n),
                PEERDISC_ERR_INVALID_JSON,
                text,
            );
            assert!(n.is_null());
            st(
                peerdisc_node_update_capabilities(node, j.as_ptr()),
                PEERDISC_ERR_INVALID_JSON,
                text,
            );
        }
        let mut len = 9;
        st(peerdisc_registry_len(reg, &mut len), PEERDISC_OK, "len");
        assert_eq!(len, 0, "no array made a peer");
        peerdisc_node_free(node);
        peerdisc_registry_free(reg);
    }
}

#[test]
fn nested_objects_given_as_arrays_are_refused_too() {
    unsafe {
        let reg = registry();
        let mut out = ptr::null_mut();
        let f = c(r#"{"capability": ["tool", "search"]}"#);
        st(
            peerdisc_registry_list(reg, f.as_ptr(), &mut out),
            PEERDISC_ERR_INVALID_JSON,
            "capability as array",
        );
        for peer in [
            r#"{"node_id": "a", "capabilities": [["x"]]}"#,
            r#"{"node_id": "a", "capabilities": {"tools": [["x", null]]}}"#,
            r#"{"node_id": "a", "health": [1, 0, 0, 0.5]}"#,
        ] {
            let p = c(peer);
            st(
                peerdisc_registry_add(reg, p.as_ptr()),
                PEERDISC_ERR_INVALID_JSON,
                peer,
            );
        }
        let mut n = ptr::null_mut();
        for cfg in [
            r#"{"registry": [5]}"#,
            r#"{"membership": []}"#,
            r#"{"mdns": [true]}"#,
        ] {
            let j = c(cfg);
            st(
                peerdisc_node_new(j.as_ptr(), &mut n),
                PEERDISC_ERR_INVALID_JSON,
                cfg,
            );
        }
        peerdisc_registry_free(reg);
    }
}

const BAD_IDS: [&str; 5] = ["", "a b", "é", "a/b", "x\u{7f}"];

#[test]
fn an_invalid_node_id_is_invalid_argument_at_every_call() {
    unsafe {
        let reg = registry();
        let long = "a".repeat(200);
        let ids: Vec<String> = BAD_IDS
            .iter()
            .map(|s| s.to_string())
            .chain([long])
            .collect();
        for id in &ids {
            let cid = c(id);
            let p = cid.as_ptr();
            let mut json = ptr::null_mut();
            let mut yes = true;
            let mut h = -1.0;
            let mut l = peerdisc_liveness::PEERDISC_LIVENESS_LEFT;
            let mut cs = peerdisc_connection_state::PEERDISC_CONNECTION_FAILED;
            let mut ms = 7u64;
            let mut peer = ptr::null_mut();
            let want = PEERDISC_ERR_INVALID_ARGUMENT;
            st(peerdisc_registry_get(reg, p, &mut json), want, "get");
            st(
                peerdisc_registry_contains(reg, p, &mut yes),
                want,
                "contains",
            );
            assert!(yes, "no output on failure");
            st(
                peerdisc_registry_peer_health(reg, p, &mut h),
                want,
                "health",
            );
            st(peerdisc_registry_remove(reg, p, &mut json), want, "remove");
            st(
                peerdisc_registry_set_liveness(reg, p, 2),
                want,
                "set_liveness",
            );
            st(
                peerdisc_registry_set_connection_state(reg, p, 2),
                want,
                "set_connection_state",
            );
            st(
                peerdisc_registry_peer_liveness(reg, p, &mut l),
                want,
                "liveness",
            );
            st(
                peerdisc_registry_peer_connection_state(reg, p, &mut cs),
                want,
                "connection_state",
            );
            st(
                peerdisc_registry_peer_last_seen_ms(reg, p, &mut ms),
                want,
                "last_seen_ms",
            );
            st(peerdisc_registry_peer(reg, p, &mut peer), want, "peer");
            assert!(last_error().contains("node id"), "{}", last_error());
            let in_json = serde_json::json!({ "node_id": id }).to_string();
            let j = c(&in_json);
            st(peerdisc_registry_add(reg, j.as_ptr()), want, "add");
            st(
                peerdisc_registry_upsert(reg, j.as_ptr(), ptr::null_mut()),
                want,
                "upsert",
            );
            assert!(json.is_null() && peer.is_null() && h == -1.0 && ms == 7);
        }
        // A valid id that is not listed: NOT_FOUND (contains: false).
        let nobody = c("nobody");
        let mut yes = true;
        st(
            peerdisc_registry_contains(reg, nobody.as_ptr(), &mut yes),
            PEERDISC_OK,
            "contains",
        );
        assert!(!yes);
        let mut json = ptr::null_mut();
        st(
            peerdisc_registry_get(reg, nobody.as_ptr(), &mut json),
            PEERDISC_ERR_NOT_FOUND,
            "get",
        );
        let mut ms = 0u64;
        st(
            peerdisc_registry_peer_last_seen_ms(reg, nobody.as_ptr(), &mut ms),
            PEERDISC_ERR_NOT_FOUND,
            "last_seen",
        );
        peerdisc_registry_free(reg);
    }
}

#[test]
fn values_outside_their_rules_are_invalid_argument_wrong_shapes_invalid_json() {
    unsafe {
        let mut r = ptr::null_mut();
        for (cfg, want) in [
            (r#"{"capacity": 0}"#, PEERDISC_ERR_INVALID_ARGUMENT),
            (r#"{"capacity": -1}"#, PEERDISC_ERR_INVALID_ARGUMENT),
            (
                r#"{"subscriber_capacity": 0}"#,
                PEERDISC_ERR_INVALID_ARGUMENT,
            ),
            (r#"{"capacity": "5"}"#, PEERDISC_ERR_INVALID_JSON),
            (r#"{"capacity": 5, "bogus": 1}"#, PEERDISC_ERR_INVALID_JSON),
            (r#"{"capacity": 5"#, PEERDISC_ERR_INVALID_JSON),
        ] {
            let j = c(cfg);
            st(peerdisc_registry_new(j.as_ptr(), &mut r), want, cfg);
        }
        let mut n = ptr::null_mut();
        for (cfg, want) in [
            (
                r#"{"listen": "not an address"}"#,
                PEERDISC_ERR_INVALID_ARGUMENT,
            ),
            (
                r#"{"bootstrap": ["not a url"]}"#,
                PEERDISC_ERR_INVALID_ARGUMENT,
            ),
            (
                r#"{"bootstrap": ["http://x:1"]}"#,
                PEERDISC_ERR_INVALID_ARGUMENT,
            ),
            (r#"{"node_id": "a b"}"#, PEERDISC_ERR_INVALID_ARGUMENT),
            (
                r#"{"registry": {"capacity": 0}}"#,
                PEERDISC_ERR_INVALID_ARGUMENT,
            ),
            (r#"{"ws_path": "nope"}"#, PEERDISC_ERR_INVALID_ARGUMENT),
            (r#"{"listen": 5}"#, PEERDISC_ERR_INVALID_JSON),
            (r#"{"bootstrap": "ws://x:1/p"}"#, PEERDISC_ERR_INVALID_JSON),
            (r#"{"bogus": true}"#, PEERDISC_ERR_INVALID_JSON),
        ] {
            let j = c(cfg);
            st(peerdisc_node_new(j.as_ptr(), &mut n), want, cfg);
            assert!(n.is_null());
        }
        let reg = registry();
        let mut out = ptr::null_mut();
        for (f, want) in [
            (r#"{"liveness": ["zombie"]}"#, PEERDISC_ERR_INVALID_ARGUMENT),
            (
                r#"{"connection_state": "sideways"}"#,
                PEERDISC_ERR_INVALID_ARGUMENT,
            ),
            (r#"{"limit": -1}"#, PEERDISC_ERR_INVALID_ARGUMENT),
            (r#"{"liveness": "alive"}"#, PEERDISC_ERR_INVALID_JSON),
            (
                r#"{"connection_state": ["connected"]}"#,
                PEERDISC_ERR_INVALID_JSON,
            ),
            (r#"{"limit": "x"}"#, PEERDISC_ERR_INVALID_JSON),
        ] {
            let j = c(f);
            st(peerdisc_registry_list(reg, j.as_ptr(), &mut out), want, f);
        }
        for (p, want) in [
            (
                r#"{"node_id": "a", "addresses": ["ftp://x"]}"#,
                PEERDISC_ERR_INVALID_ARGUMENT,
            ),
            (
                r#"{"node_id": "a", "liveness": "zombie"}"#,
                PEERDISC_ERR_INVALID_ARGUMENT,
            ),
            (r#"{"node_id": 5}"#, PEERDISC_ERR_INVALID_JSON),
            (r#"{"addresses": []}"#, PEERDISC_ERR_INVALID_JSON),
        ] {
            let j = c(p);
            st(peerdisc_registry_add(reg, j.as_ptr()), want, p);
        }
        let many: Vec<String> = (0..20).map(|i| format!("ws://10.0.0.{i}:80")).collect();
        let j = c(&serde_json::json!({"node_id": "many", "addresses": many}).to_string());
        st(
            peerdisc_registry_upsert(reg, j.as_ptr(), ptr::null_mut()),
            PEERDISC_ERR_INVALID_ARGUMENT,
            "17+ addresses",
        );
        peerdisc_registry_free(reg);
    }
}

#[test]
fn last_error_is_capped_and_quotes_only_the_start_of_the_input() {
    unsafe {
        let reg = registry();
        // A 1 MiB id (the longest string argument accepted).
        let id = c(&"z".repeat(PEERDISC_MAX_INPUT_LEN));
        let mut json = ptr::null_mut();
        st(
            peerdisc_registry_get(reg, id.as_ptr(), &mut json),
            PEERDISC_ERR_INVALID_ARGUMENT,
            "huge id",
        );
        let msg = last_error();
        assert!(msg.len() <= PEERDISC_LAST_ERROR_MAX_LEN, "{}", msg.len());
        assert!(msg.contains("zzzz") && msg.contains("node id"), "{msg}");
        // A huge JSON string value is quoted (by serde) but capped.
        let big = c(&serde_json::json!({"node_id": "é".repeat(300_000)}).to_string());
        st(
            peerdisc_registry_add(reg, big.as_ptr()),
            PEERDISC_ERR_INVALID_ARGUMENT,
            "huge node_id field",
        );
        let msg = last_error();
        assert!(msg.len() <= PEERDISC_LAST_ERROR_MAX_LEN, "{}", msg.len());
        let big = c(&format!(r#"{{"listen": "{}"}}"#, "é".repeat(300_000)));
        let mut n = ptr::null_mut();
        st(
            peerdisc_node_new(big.as_ptr(), &mut n),
            PEERDISC_ERR_INVALID_ARGUMENT,
            "huge listen",
        );
        let msg = last_error();
        assert!(msg.len() <= PEERDISC_LAST_ERROR_MAX_LEN, "{}", msg.len());
        // serde quotes an unknown variant whole: the message is cut.
        let big = c(&format!(r#"{{"liveness": ["{}"]}}"#, "é".repeat(300_000)));
        st(
            peerdisc_registry_list(reg, big.as_ptr(), &mut json),
            PEERDISC_ERR_INVALID_ARGUMENT,
            "huge liveness name",
        );
        let msg = last_error();
        // Cut at a character boundary (é is 2 bytes), then "...".
        assert!(
            msg.len() >= PEERDISC_LAST_ERROR_MAX_LEN - 1,
            "{}",
            msg.len()
        );
        assert!(msg.len() <= PEERDISC_LAST_ERROR_MAX_LEN, "{}", msg.len());
        assert!(msg.ends_with("é..."), "{msg}");
        assert!(
            msg.starts_with("peerdisc_registry_list: filter_json: "),
            "{msg}"
        );
        // Short messages are whole.
        let nobody = c("nobody");
        st(
            peerdisc_registry_get(reg, nobody.as_ptr(), &mut json),
            PEERDISC_ERR_NOT_FOUND,
            "nobody",
        );
        assert!(last_error().ends_with("\"nobody\""), "{}", last_error());
        peerdisc_registry_free(reg);
    }
}

#[test]
fn typed_accessors_read_one_field_without_json() {
    unsafe {
        let reg = registry();
        let p = c(r#"{"node_id": "alpha",
            "addresses": ["ws://10.0.0.1:8000", "wss://example.org/peer"],
            "capabilities": {"agents": ["planner"], "tools": ["search", {"name": "calc", "metadata": {"v": "2"}}]},
            "last_seen_ms": 1764000000123, "liveness": "suspect", "connection_state": "connected"}"#);
        st(peerdisc_registry_add(reg, p.as_ptr()), PEERDISC_OK, "add");
        let id = c("alpha");
        let mut l = peerdisc_liveness::PEERDISC_LIVENESS_ALIVE;
        st(
            peerdisc_registry_peer_liveness(reg, id.as_ptr(), &mut l),
            PEERDISC_OK,
            "liveness",
        );
        assert_eq!(l, peerdisc_liveness::PEERDISC_LIVENESS_SUSPECT);
        let mut cs = peerdisc_connection_state::PEERDISC_CONNECTION_FAILED;
        st(
            peerdisc_registry_peer_connection_state(reg, id.as_ptr(), &mut cs),
            PEERDISC_OK,
            "connection_state",
        );
        assert_eq!(cs, peerdisc_connection_state::PEERDISC_CONNECTION_CONNECTED);
        let mut ms = 0u64;
        st(
            peerdisc_registry_peer_last_seen_ms(reg, id.as_ptr(), &mut ms),
            PEERDISC_OK,
            "last_seen_ms",
        );
        assert_eq!(ms, 1_764_000_000_123);
        // The accessors follow later changes.
        st(
            peerdisc_registry_set_liveness(reg, id.as_ptr(), 2),
            PEERDISC_OK,
            "set",
        );
        st(
            peerdisc_registry_peer_liveness(reg, id.as_ptr(), &mut l),
            PEERDISC_OK,
            "liveness",
        );
        assert_eq!(l, peerdisc_liveness::PEERDISC_LIVENESS_DEAD);
        st(
            peerdisc_registry_peer_liveness(reg, id.as_ptr(), ptr::null_mut()),
            PEERDISC_ERR_NULL_ARGUMENT,
            "NULL out",
        );

        let mut peer = ptr::null_mut();
        st(
            peerdisc_registry_peer(reg, id.as_ptr(), &mut peer),
            PEERDISC_OK,
            "peer",
        );
        let mut n = 0usize;
        st(
            peerdisc_peer_address_count(peer, &mut n),
            PEERDISC_OK,
            "count",
        );
        assert_eq!(n, 2);
        let mut s: *const c_char = ptr::null();
        let mut addrs = Vec::new();
        for i in 0..n {
            st(
                peerdisc_peer_address(peer, i, &mut s),
                PEERDISC_OK,
                "address",
            );
            addrs.push(CStr::from_ptr(s).to_str().unwrap().to_string());
        }
        assert_eq!(addrs, ["ws://10.0.0.1:8000", "wss://example.org/peer"]);
        st(
            peerdisc_peer_address(peer, 2, &mut s),
            PEERDISC_ERR_INVALID_ARGUMENT,
            "past the end",
        );
        let mut names = Vec::new();
        for kind in 0..4 {
            st(
                peerdisc_peer_capability_count(peer, kind, &mut n),
                PEERDISC_OK,
                "cap count",
            );
            for i in 0..n {
                st(
                    peerdisc_peer_capability(peer, kind, i, &mut s),
                    PEERDISC_OK,
                    "cap",
                );
                names.push((kind, CStr::from_ptr(s).to_str().unwrap().to_string()));
            }
        }
        assert_eq!(
            names,
            [
                (0, "planner".to_string()),
                (1, "search".to_string()),
                (1, "calc".to_string())
            ]
        );
        st(
            peerdisc_peer_capability_count(peer, 4, &mut n),
            PEERDISC_ERR_INVALID_ARGUMENT,
            "kind",
        );
        st(
            peerdisc_peer_capability(peer, 1, 2, &mut s),
            PEERDISC_ERR_INVALID_ARGUMENT,
            "past the end",
        );
        st(
            peerdisc_peer_address_count(ptr::null(), &mut n),
            PEERDISC_ERR_NULL_ARGUMENT,
            "NULL peer",
        );
        // The snapshot outlives the peer and the registry.
        let mut json = ptr::null_mut();
        st(
            peerdisc_registry_remove(reg, id.as_ptr(), &mut json),
            PEERDISC_OK,
            "remove",
        );
        assert!(take(json).contains("alpha"));
        peerdisc_registry_free(reg);
        st(
            peerdisc_peer_address(peer, 1, &mut s),
            PEERDISC_OK,
            "after free",
        );
        assert_eq!(
            CStr::from_ptr(s).to_str().unwrap(),
            "wss://example.org/peer"
        );
        peerdisc_peer_free(peer);
        peerdisc_peer_free(ptr::null_mut());
    }
}

#[test]
fn wait_for_peers_on_a_node_never_started_times_out() {
    unsafe {
        let mut n = ptr::null_mut();
        st(peerdisc_node_new(ptr::null(), &mut n), PEERDISC_OK, "new");
        let mut count = 99u32;
        st(
            peerdisc_node_wait_for_peers(n, 1, 50, &mut count),
            PEERDISC_TIMEOUT,
            "never started",
        );
        assert_eq!(count, 99);
        st(
            peerdisc_node_wait_for_peers(n, 0, 50, &mut count),
            PEERDISC_OK,
            "n = 0",
        );
        assert_eq!(count, 0);
        peerdisc_node_free(n);
    }
}

unsafe extern "C" fn no_send(_: *mut std::ffi::c_void, _: *const c_char, _: *const c_char) {}

#[test]
fn gossip_update_and_node_with_registry_refuse_arrays_scalars_and_null() {
    unsafe {
        let reg = registry();
        let peer = c(r#"{"node_id": "p1", "addresses": ["ws://127.0.0.1:7400/peerdisc"]}"#);
        st(
            peerdisc_registry_add(reg, peer.as_ptr()),
            PEERDISC_OK,
            "add",
        );
        let id = c("p1");
        for text in NOT_OBJECTS {
            let j = c(text);
            let mut g = ptr::null_mut();
            st(
                peerdisc_gossip_new(
                    reg,
                    j.as_ptr(),
                    Some(no_send),
                    ptr::null_mut(),
                    None,
                    &mut g,
                ),
                PEERDISC_ERR_INVALID_JSON,
                text,
            );
            assert!(g.is_null());
            let mut out = ptr::null_mut();
            st(
                peerdisc_registry_update(reg, id.as_ptr(), j.as_ptr(), &mut out),
                PEERDISC_ERR_INVALID_JSON,
                text,
            );
            assert!(out.is_null());
            let mut n = ptr::null_mut();
            st(
                peerdisc_node_new_with_registry(j.as_ptr(), reg, &mut n),
                PEERDISC_ERR_INVALID_JSON,
                text,
            );
            assert!(n.is_null());
        }
        let mut len = 0;
        st(peerdisc_registry_len(reg, &mut len), PEERDISC_OK, "len");
        assert_eq!(len, 1, "nothing was added or lost");
        peerdisc_registry_free(reg);
    }
}
