//! Read rate of two reader threads while a writer upserts 100,000 records
//! per second, against the single-thread read rate; and bytes of memory per
//! peer with 10 capabilities.
//!
//! `cargo bench --bench registry_concurrency`

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;
use common::{filled, id, record};

struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator and only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        // SAFETY: same layout contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        // SAFETY: `p` was allocated by `alloc` with this layout.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const N: usize = 100_000;
const RUN: Duration = Duration::from_secs(3);
const WRITES_PER_SEC: u64 = 100_000;

fn read_loop(reg: &peerdisc::PeerRegistry, ids: &[String], stop: &AtomicBool) -> u64 {
    let mut n = 0u64;
    let mut k = 0usize;
    while !stop.load(Ordering::Relaxed) {
        for _ in 0..1024 {
            k = (k + 1) % ids.len();
            black_box(reg.get(&ids[k]));
        }
        n += 1024;
    }
    n
}

fn reads_per_sec(reg: &peerdisc::PeerRegistry, readers: usize, writer: bool) -> (f64, f64) {
    let ids: Arc<Vec<String>> = Arc::new((0..N).map(|k| id((k * 7_919) % N)).collect());
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let w = writer.then(|| {
        let (reg, stop, written) = (reg.clone(), stop.clone(), written.clone());
        let records: Vec<_> = (0..4096).map(|k| record((k * 31) % N, 0)).collect();
        std::thread::spawn(move || {
            let start = Instant::now();
            let mut version = 10u64;
            let mut k = 0usize;
            while !stop.load(Ordering::Relaxed) {
                // Pace to WRITES_PER_SEC.
                let due = start.elapsed().as_secs_f64() * WRITES_PER_SEC as f64;
                if (written.load(Ordering::Relaxed) as f64) < due {
                    k = (k + 1) & 4095;
                    version += 1;
                    let mut r = records[k].clone();
                    r.version = version;
                    reg.upsert(r).unwrap();
                    written.fetch_add(1, Ordering::Relaxed);
                } else {
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
        })
    });
    let start = Instant::now();
    let handles: Vec<_> = (0..readers)
        .map(|r| {
            let (reg, ids, stop) = (reg.clone(), ids.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut local: Vec<String> = ids.to_vec();
                local.rotate_left(r * 997);
                read_loop(&reg, &local, &stop)
            })
        })
        .collect();
    std::thread::sleep(RUN);
    stop.store(true, Ordering::Relaxed);
    let reads: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let secs = start.elapsed().as_secs_f64();
    if let Some(w) = w {
        w.join().unwrap();
    }
    (
        reads as f64 / secs,
        written.load(Ordering::Relaxed) as f64 / secs,
    )
}

fn memory_per_peer() -> (f64, f64) {
    let before = LIVE.load(Ordering::Relaxed);
    let records: Vec<_> = (0..N).map(|i| record(i, 1)).collect();
    let after_records = LIVE.load(Ordering::Relaxed);
    let reg = peerdisc::PeerRegistry::with_config(peerdisc::RegistryConfig {
        capacity: N * 2,
        ..Default::default()
    })
    .unwrap();
    let base = LIVE.load(Ordering::Relaxed);
    for r in records {
        reg.upsert(r).unwrap();
    }
    let after = LIVE.load(Ordering::Relaxed);
    let record_bytes = (after_records - before) as f64 / N as f64;
    // `after - base` counts the registry's own allocations plus the records
    // moved into it (their heap parts were counted in `after_records`).
    let in_registry = (after - base) as f64 + (after_records - before) as f64;
    (in_registry / N as f64, record_bytes)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("registry_concurrency: bench");
        return;
    }
    let reg = filled(N, 0);
    let (single, _) = reads_per_sec(&reg, 1, false);
    let (single_w, w1) = reads_per_sec(&reg, 1, true);
    let (two_w, w2) = reads_per_sec(&reg, 2, true);
    drop(reg);
    let (mem, rec) = memory_per_peer();
    println!("registry at N={N}, 10 capabilities per peer");
    println!(
        "  single-thread get by id, no writer:      {:>8.2} M/s",
        single / 1e6
    );
    println!(
        "  single-thread get, writer {:>6.0}/s:      {:>8.2} M/s",
        w1,
        single_w / 1e6
    );
    println!(
        "  two reader threads, writer {:>6.0}/s:     {:>8.2} M/s  ({:.2}x one reader with the writer, {:.2}x one reader alone)",
        w2,
        two_w / 1e6,
        two_w / single_w,
        two_w / single
    );
    println!(
        "  memory per peer in the registry:          {mem:>8.0} B  (the record alone: {rec:.0} B)"
    );
}
