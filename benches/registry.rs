//! Registry operations at 1,000 / 10,000 / 100,000 peers.
//!
//! `cargo bench --bench registry`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

mod common;
use common::{filled, id, record};

const SIZES: [usize; 3] = [1_000, 10_000, 100_000];

fn get_by_id(c: &mut Criterion) {
    let mut g = c.benchmark_group("get_by_id");
    g.throughput(Throughput::Elements(1));
    for n in SIZES {
        let reg = filled(n, 0);
        let ids: Vec<String> = (0..4096).map(|k| id((k * 7_919) % n)).collect();
        let mut k = 0usize;
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                k = (k + 1) & 4095;
                black_box(reg.get(&ids[k]))
            })
        });
    }
    g.finish();
}

fn upsert(c: &mut Criterion) {
    let mut g = c.benchmark_group("upsert_newer_version");
    g.throughput(Throughput::Elements(1));
    for n in SIZES {
        let reg = filled(n, 0);
        // Pre-built records so the bench measures the registry, not the
        // builder: versions 2.. of existing peers.
        let records: Vec<_> = (0..4096).map(|k| record((k * 7_919) % n, 0)).collect();
        let mut version = 1u64;
        let mut k = 0usize;
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter_batched(
                || {
                    k = (k + 1) & 4095;
                    version += 1;
                    let mut r = records[k].clone();
                    r.version = version;
                    r
                },
                |r| black_box(reg.upsert(r).unwrap()),
                criterion::BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

fn find_by_capability(c: &mut Criterion) {
    // Fixed result size (10 peers offer "rare-tool") at growing N: the cost
    // must stay flat.
    let mut g = c.benchmark_group("find_by_tool_10_results");
    for n in SIZES {
        let reg = filled(n, 10);
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                let r = reg.find_by_tool(black_box("rare-tool"));
                assert_eq!(r.len(), 10);
                r
            })
        });
    }
    g.finish();
    // Growing result size at fixed N=100,000: the cost grows with results.
    let mut g = c.benchmark_group("find_by_tool_at_100k_by_results");
    for results in [10usize, 100, 1_000] {
        let reg = filled(100_000, results);
        g.throughput(Throughput::Elements(results as u64));
        g.bench_with_input(BenchmarkId::from_parameter(results), &results, |b, _| {
            b.iter(|| black_box(reg.find_by_tool("rare-tool")))
        });
    }
    g.finish();
}

fn list(c: &mut Criterion) {
    let mut g = c.benchmark_group("list_all");
    for n in SIZES {
        let reg = filled(n, 0);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| black_box(reg.list()))
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = get_by_id, upsert, find_by_capability, list
}
criterion_main!(benches);
