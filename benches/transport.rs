//! Transport benchmarks over loopback: threads and the time to open 100
//! connections at once, connect latency, round trip, one-way throughput,
//! and what one address flooding the listener leaves to the others; prints
//! the bytes on the wire per message once. The same file runs against the
//! transport before the one-poller rewrite (same public API), which is how
//! BENCHMARKS.md's before/after figures are taken.

use std::hint::black_box;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

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

fn process_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// 100 transports dial one hub at once: how long until the hub has a frame
/// from each, and how many threads the hub and the process then run.
fn hundred_at_once() {
    let before = process_threads();
    let (hub, hub_ev) = Transport::start(TransportConfig {
        max_connections: 256,
        max_connections_per_ip: 256,
        event_queue_len: 65_536,
        ..TransportConfig::default()
    })
    .expect("hub");
    let url = hub.ws_url();
    let peers: Vec<_> = (0..100).map(|_| start()).collect();
    let with_idle_transports = process_threads() - before;
    let t0 = Instant::now();
    for (p, _) in &peers {
        p.send(&url, "hello".into()).unwrap();
    }
    for _ in 0..100 {
        next_received(&hub_ev);
    }
    let took = t0.elapsed();
    eprintln!(
        "100 connections opened at once to one hub: all delivered after {took:?}; \
         hub transport threads {}, process threads for 101 transports: {} idle, {} connected",
        hub.stats().threads,
        with_idle_transports,
        process_threads() - before
    );
}

/// A TCP connection to `to` from the loopback address `from`.
fn tcp_from(from: [u8; 4], to: SocketAddr) -> Option<TcpStream> {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).ok()?;
    sock.bind(&SocketAddr::from((from, 0)).into()).ok()?;
    sock.connect(&to.into()).ok()?;
    let tcp: TcpStream = sock.into();
    tcp.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    Some(tcp)
}

/// Opens WebSocket connections to `hub` from `from`, up to `most`, until
/// one is refused.
fn websockets_from(
    from: [u8; 4],
    hub: &TransportHandle,
    most: usize,
) -> Vec<tungstenite::WebSocket<TcpStream>> {
    let url = hub.ws_url();
    let handshake = |tcp: TcpStream| tungstenite::client::client(url.as_str(), tcp).ok();
    let mut open = Vec::new();
    while open.len() < most {
        match tcp_from(from, hub.local_addr()).and_then(handshake) {
            Some((ws, _)) => open.push(ws),
            None => break,
        }
    }
    open
}

/// What the default per-IP and total limits do: one address alone (many
/// nodes on one host or behind one NAT), and one address flooding with
/// silent connections while another tries to get in.
fn address_limits() {
    let (hub, _ev) = Transport::start(TransportConfig::default()).expect("hub");
    let alone = websockets_from([127, 0, 0, 1], &hub, 100);
    eprintln!(
        "default limits (max_connections {}, max_connections_per_ip {}): one address alone \
         gets {} WebSocket connections served",
        hub.config().max_connections,
        hub.config().max_connections_per_ip,
        alone.len()
    );
    drop(alone);
    drop(hub);

    let (hub, _ev) = Transport::start(TransportConfig {
        handshake_timeout_ms: 60_000,
        ..TransportConfig::default()
    })
    .expect("hub");
    let addr = hub.local_addr();
    let mut flood = Vec::new();
    for _ in 0..200 {
        match tcp_from([127, 0, 0, 2], addr) {
            Some(s) => flood.push(s),
            None => break,
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(100));
    let flood_held = hub.connections().len();
    let others = websockets_from([127, 0, 0, 1], &hub, 100);
    eprintln!(
        "one address opened 200 silent connections: it held {flood_held} of the {} places; \
         another address then got {} WebSocket connections served",
        hub.config().max_connections,
        others.len()
    );
}

/// From `send` on a closed address to the frame's arrival (TCP connect,
/// WebSocket handshake, first frame), 300 times: a fixed count rather than
/// criterion's, since every sample leaves a socket in TIME_WAIT and
/// criterion's warm-up alone would use up the ephemeral ports.
fn connect_latency(
    a: &TransportHandle,
    a_ev: &Receiver<TransportEvent>,
    b_ev: &Receiver<TransportEvent>,
    url: &peerdisc::PeerAddress,
    msg: &str,
) {
    let mut samples = Vec::with_capacity(300);
    for _ in 0..300 {
        if a.close(url) {
            loop {
                match a_ev.recv_timeout(Duration::from_secs(5)).expect("event") {
                    TransportEvent::Disconnected { .. } => break,
                    _ => continue,
                }
            }
        }
        let t0 = Instant::now();
        a.send(url, msg.to_string()).unwrap();
        black_box(next_received(b_ev));
        samples.push(t0.elapsed());
    }
    samples.sort();
    eprintln!(
        "connect + handshake + first frame (300 samples): median {:?}, p90 {:?}, max {:?}",
        samples[150], samples[270], samples[299]
    );
}

fn benches(c: &mut Criterion) {
    hundred_at_once();
    address_limits();

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

    connect_latency(&a, &a_ev, &b_ev, &url, &msg);

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
