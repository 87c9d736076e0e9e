//! Transport benchmarks over loopback: start/stop, round trip, one-way
//! throughput; prints the bytes on the wire per message once.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use crossbeam_channel::Receiver;
use peerdisc::transport::{Transport, TransportConfig, TransportEvent, TransportHandle};

fn start() -> (TransportHandle, Receiver<TransportEvent>) {
    Transport::start(TransportConfig {
        max_messages_per_sec: 1_000_000,
        outbound_queue_len: 4096,
        event_queue_len: 65_536,
        ..TransportConfig::default()
    })
    .expect("start")
}

fn next_received(rx: &Receiver<TransportEvent>) -> (peerdisc::transport::ConnectionId, String) {
    loop {
        match rx.recv_timeout(Duration::from_secs(5)).expect("event") {
            TransportEvent::Received { conn, text, .. } => return (conn, text),
            _ => continue,
        }
    }
}

fn benches(c: &mut Criterion) {
    c.bench_function("start_stop", |b| {
        b.iter(|| {
            let (h, _rx) = start();
            h.stop().expect("stop");
        })
    });

    let (a, a_ev) = start();
    let (b, b_ev) = start();
    let url = b.ws_url();
    let msg = "x".repeat(200);

    // Warm up the connection and report wire overhead.
    a.send(&url, msg.clone()).unwrap();
    next_received(&b_ev);
    let before = (a.stats(), b.stats());
    for _ in 0..100 {
        a.send(&url, msg.clone()).unwrap();
    }
    for _ in 0..100 {
        next_received(&b_ev);
    }
    let sent = a.stats().bytes_sent - before.0.bytes_sent;
    eprintln!(
        "wire bytes per 200-byte text message (client to server): {}",
        sent / 100
    );

    c.bench_function("round_trip_200B", |bch| {
        bch.iter(|| {
            a.send(&url, msg.clone()).unwrap();
            let (conn, text) = next_received(&b_ev);
            b.reply(conn, text).unwrap();
            black_box(next_received(&a_ev));
        })
    });

    let mut g = c.benchmark_group("one_way");
    g.throughput(Throughput::Elements(1000));
    g.bench_function("1000x200B", |bch| {
        bch.iter(|| {
            for _ in 0..1000 {
                while a.send(&url, msg.clone()).is_err() {
                    std::thread::yield_now();
                }
            }
            for _ in 0..1000 {
                black_box(next_received(&b_ev));
            }
        })
    });
    g.finish();
}

criterion_group! {
    name = transport;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).sample_size(20);
    targets = benches
}
criterion_main!(transport);
