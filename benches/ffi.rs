//! The cost of the C ABI: typed query calls through `peerdisc_*` against the
//! same Rust call (goal: at most 200 ns more), the typed field accessors
//! (`peerdisc_registry_peer_liveness`, `_connection_state`, `_last_seen_ms`,
//! the `peerdisc_peer` snapshot with address and capability iteration)
//! against `peerdisc_registry_get` + JSON (goal: a single-field read at most
//! 100 ns), and listing 1,000 peers as JSON through `peerdisc_registry_list`
//! (goal: at most 1 ms). The same accessors timed from a C program:
//! `cargo build --release --lib && make -C ffi-tests bench
//! LIBDIR=../target/release`.
//!
//!     cargo bench --bench ffi
//!
//! The exports are called through function pointers hidden from the
//! optimizer, as a C caller would call them (no inlining across the ABI).

#![warn(clippy::undocumented_unsafe_blocks)]

use std::ffi::{c_char, CStr};
use std::hint::black_box;
use std::ptr;

use criterion::{criterion_group, criterion_main, Criterion};
use peerdisc::ffi::{self, peerdisc_registry, peerdisc_status};
use peerdisc::{Peer, PeerRegistry};

const PEERS: usize = 1000;

fn peer(i: usize) -> Peer {
    Peer::builder(format!("node_{i:05}"))
        .address(format!("ws://10.0.{}.{}:8000", i / 250, i % 250 + 1))
        .agent("planner")
        .tool("search")
        .tool(format!("tool_{}", i % 10))
        .metadata("region", "eu-west")
        .version(1)
        .seen_at_ms(1_764_000_000_000)
        .build()
        .unwrap()
}

fn fixtures() -> (PeerRegistry, *mut peerdisc_registry) {
    let rust = PeerRegistry::new();
    let mut h: *mut peerdisc_registry = ptr::null_mut();
    // SAFETY: valid out pointer; NULL config means defaults.
    let st = unsafe { ffi::peerdisc_registry_new(ptr::null(), &mut h) };
    assert_eq!(st, peerdisc_status::PEERDISC_OK);
    for i in 0..PEERS {
        let p = peer(i);
        let json = std::ffi::CString::new(p.to_json()).unwrap();
        rust.add(p).unwrap();
        // SAFETY: live handle, NUL-terminated JSON.
        let st = unsafe { ffi::peerdisc_registry_add(h, json.as_ptr()) };
        assert_eq!(st, peerdisc_status::PEERDISC_OK);
    }
    (rust, h)
}

type LenFn = unsafe extern "C" fn(*const peerdisc_registry, *mut usize) -> peerdisc_status;
type ContainsFn =
    unsafe extern "C" fn(*const peerdisc_registry, *const c_char, *mut bool) -> peerdisc_status;
type HealthFn =
    unsafe extern "C" fn(*const peerdisc_registry, *const c_char, *mut f64) -> peerdisc_status;
type LivenessFn = unsafe extern "C" fn(
    *const peerdisc_registry,
    *const c_char,
    *mut ffi::peerdisc_liveness,
) -> peerdisc_status;
type StateFn = unsafe extern "C" fn(
    *const peerdisc_registry,
    *const c_char,
    *mut ffi::peerdisc_connection_state,
) -> peerdisc_status;
type LastSeenFn =
    unsafe extern "C" fn(*const peerdisc_registry, *const c_char, *mut u64) -> peerdisc_status;
type PeerFn = unsafe extern "C" fn(
    *const peerdisc_registry,
    *const c_char,
    *mut *mut ffi::peerdisc_peer,
) -> peerdisc_status;
type GetFn = unsafe extern "C" fn(
    *const peerdisc_registry,
    *const c_char,
    *mut *mut c_char,
) -> peerdisc_status;
type ListFn = unsafe extern "C" fn(
    *const peerdisc_registry,
    *const c_char,
    *mut *mut c_char,
) -> peerdisc_status;

fn typed_queries(c: &mut Criterion) {
    let (rust, h) = fixtures();
    let id: &CStr = c"node_00500";
    let len_fn: LenFn = black_box(ffi::peerdisc_registry_len);
    let contains_fn: ContainsFn = black_box(ffi::peerdisc_registry_contains);
    let health_fn: HealthFn = black_box(ffi::peerdisc_registry_peer_health);

    let mut g = c.benchmark_group("typed_query");
    g.bench_function("len/rust", |b| b.iter(|| black_box(&rust).len()));
    g.bench_function("len/c_abi", |b| {
        b.iter(|| {
            let mut n = 0usize;
            // SAFETY: live handle, valid out pointer.
            let st = unsafe { len_fn(black_box(h), &mut n) };
            black_box((st, n))
        })
    });
    g.bench_function("contains/rust", |b| {
        b.iter(|| black_box(&rust).contains(black_box("node_00500")))
    });
    g.bench_function("contains/c_abi", |b| {
        b.iter(|| {
            let mut yes = false;
            // SAFETY: live handle, NUL-terminated id, valid out pointer.
            let st = unsafe { contains_fn(black_box(h), black_box(id.as_ptr()), &mut yes) };
            black_box((st, yes))
        })
    });
    g.bench_function("peer_health/rust", |b| {
        b.iter(|| {
            black_box(&rust)
                .get(black_box("node_00500"))
                .map(|p| p.health_score())
        })
    });
    g.bench_function("peer_health/c_abi", |b| {
        b.iter(|| {
            let mut v = 0f64;
            // SAFETY: live handle, NUL-terminated id, valid out pointer.
            let st = unsafe { health_fn(black_box(h), black_box(id.as_ptr()), &mut v) };
            black_box((st, v))
        })
    });
    g.finish();
    // SAFETY: the handle from fixtures, freed once.
    unsafe { ffi::peerdisc_registry_free(h) };
}

fn field_accessors(c: &mut Criterion) {
    let (rust, h) = fixtures();
    let id: &CStr = c"node_00500";
    let liveness_fn: LivenessFn = black_box(ffi::peerdisc_registry_peer_liveness);
    let state_fn: StateFn = black_box(ffi::peerdisc_registry_peer_connection_state);
    let last_seen_fn: LastSeenFn = black_box(ffi::peerdisc_registry_peer_last_seen_ms);
    let peer_fn: PeerFn = black_box(ffi::peerdisc_registry_peer);
    let get_fn: GetFn = black_box(ffi::peerdisc_registry_get);

    let mut g = c.benchmark_group("field_accessor");
    g.bench_function("liveness/rust", |b| {
        b.iter(|| {
            black_box(&rust)
                .get(black_box("node_00500"))
                .map(|p| p.liveness)
        })
    });
    g.bench_function("liveness/c_abi", |b| {
        b.iter(|| {
            let mut v = ffi::peerdisc_liveness::PEERDISC_LIVENESS_LEFT;
            // SAFETY: live handle, NUL-terminated id, valid out pointer.
            let st = unsafe { liveness_fn(black_box(h), black_box(id.as_ptr()), &mut v) };
            black_box((st, v))
        })
    });
    g.bench_function("connection_state/c_abi", |b| {
        b.iter(|| {
            let mut v = ffi::peerdisc_connection_state::PEERDISC_CONNECTION_FAILED;
            // SAFETY: live handle, NUL-terminated id, valid out pointer.
            let st = unsafe { state_fn(black_box(h), black_box(id.as_ptr()), &mut v) };
            black_box((st, v))
        })
    });
    g.bench_function("last_seen_ms/c_abi", |b| {
        b.iter(|| {
            let mut v = 0u64;
            // SAFETY: live handle, NUL-terminated id, valid out pointer.
            let st = unsafe { last_seen_fn(black_box(h), black_box(id.as_ptr()), &mut v) };
            black_box((st, v))
        })
    });
    g.bench_function("peer_snapshot_iterate/c_abi", |b| {
        b.iter(|| {
            let mut p = ptr::null_mut();
            // SAFETY: live handle, NUL-terminated id, valid out pointer; the
            // snapshot is read while live and freed once.
            unsafe {
                let st = peer_fn(black_box(h), black_box(id.as_ptr()), &mut p);
                assert_eq!(st, peerdisc_status::PEERDISC_OK);
                let mut n = 0usize;
                let mut s: *const c_char = ptr::null();
                ffi::peerdisc_peer_address_count(p, &mut n);
                for i in 0..n {
                    ffi::peerdisc_peer_address(p, i, &mut s);
                    black_box(s);
                }
                for kind in 0..4 {
                    ffi::peerdisc_peer_capability_count(p, kind, &mut n);
                    for i in 0..n {
                        ffi::peerdisc_peer_capability(p, kind, i, &mut s);
                        black_box(s);
                    }
                }
                ffi::peerdisc_peer_free(p);
            }
        })
    });
    g.bench_function("get_json/c_abi", |b| {
        b.iter(|| {
            let mut out: *mut c_char = ptr::null_mut();
            // SAFETY: live handle, NUL-terminated id, valid out pointer; the
            // string is freed once.
            unsafe {
                let st = get_fn(black_box(h), black_box(id.as_ptr()), &mut out);
                assert_eq!(st, peerdisc_status::PEERDISC_OK);
                ffi::peerdisc_string_free(black_box(out));
            }
        })
    });
    g.finish();
    // SAFETY: the handle from fixtures, freed once.
    unsafe { ffi::peerdisc_registry_free(h) };
}

fn list_json(c: &mut Criterion) {
    let (rust, h) = fixtures();
    let list_fn: ListFn = black_box(ffi::peerdisc_registry_list);
    let mut g = c.benchmark_group("list_1000_json");
    g.bench_function("rust", |b| {
        b.iter(|| serde_json::to_string(&black_box(&rust).list()).unwrap())
    });
    g.bench_function("rust_list_only", |b| b.iter(|| black_box(&rust).list()));
    let listed = rust.list();
    g.bench_function("rust_serialize_only", |b| {
        b.iter(|| serde_json::to_string(black_box(&listed)).unwrap())
    });
    g.bench_function("ffi_serialize_only", |b| {
        b.iter(|| ffi::peers_json(black_box(&listed)))
    });
    g.bench_function("c_abi", |b| {
        b.iter(|| {
            let mut out: *mut c_char = ptr::null_mut();
            // SAFETY: live handle, NULL filter, valid out pointer.
            let st = unsafe { list_fn(black_box(h), ptr::null(), &mut out) };
            assert_eq!(st, peerdisc_status::PEERDISC_OK);
            // SAFETY: an owned string from the library, freed once.
            unsafe { ffi::peerdisc_string_free(black_box(out)) };
        })
    });
    g.finish();
    // SAFETY: the handle from fixtures, freed once.
    unsafe { ffi::peerdisc_registry_free(h) };
}

criterion_group!(benches, typed_queries, field_accessors, list_json);
criterion_main!(benches);
