//! `stop` joins every thread within its bound, also with peers that hang;
//! no thread leaks. One test only: it counts the process's threads, which
//! other tests running in parallel would disturb.

mod transport_support;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use peerdisc::transport::{DisconnectReason, TransportConfig, TransportError, TransportEvent};
use peerdisc::PeerAddress;
use transport_support::*;

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn stop_joins_all_threads_promptly_even_with_hanging_peers() {
    let before = threads();
    let slow = TransportConfig {
        connect_timeout_ms: 10_000,
        handshake_timeout_ms: 10_000,
        idle_timeout_ms: 60_000,
        ..config()
    };
    let t_start = Instant::now();
    let (a, a_ev) = start(slow.clone());
    let started_in = t_start.elapsed();
    let (b, b_ev) = start(slow);
    assert_eq!(a.stats().threads, 1, "just the poller");

    // An open connection A -> B.
    let b_url = b.ws_url();
    a.send(&b_url, "hi".into()).unwrap();
    expect(&b_ev, "b received", |e| {
        matches!(e, TransportEvent::Received { .. })
    });
    expect(&a_ev, "a connected", |e| {
        matches!(e, TransportEvent::Connected { .. })
    });

    // A peer that accepted TCP but never answers the handshake.
    let mute = TcpListener::bind("127.0.0.1:0").unwrap();
    let mute_url = PeerAddress::new(format!("ws://{}/", mute.local_addr().unwrap())).unwrap();
    a.send(&mute_url, "anyone?".into()).unwrap();

    // A client that connected to A and sends nothing; one that trickles.
    let _silent = TcpStream::connect(a.local_addr()).unwrap();
    let mut trickle = TcpStream::connect(a.local_addr()).unwrap();
    trickle.write_all(b"GET / HT").unwrap();

    // A raw WebSocket client of A that never reads.
    let _mute_client = raw_client(&a.ws_url());

    eventually("all of A's connections are up", || {
        a.connections().len() == 5
    });
    assert_eq!(
        a.stats().threads,
        1,
        "the poller serves all five connections"
    );
    assert_eq!(threads(), before + 2, "one thread per transport");

    let t_stop = Instant::now();
    let result = a.stop();
    let stopped_in = t_stop.elapsed();
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(a.stats().threads, 0);
    assert_eq!(a.stats().open_connections, 0);
    assert!(a.is_stopped());

    // The open connection reported its end; nothing else did.
    let ends: Vec<_> = drain(&a_ev, Duration::from_millis(20))
        .into_iter()
        .filter_map(|e| match e {
            TransportEvent::Disconnected { reason, .. } => Some(reason),
            _ => None,
        })
        .collect();
    assert!(ends.contains(&DisconnectReason::Stopped), "{ends:?}");

    // Idempotent; refuses work afterwards.
    assert!(a.stop().is_ok());
    assert!(matches!(
        a.send(&b_url, "late".into()),
        Err(TransportError::Stopped)
    ));

    // B saw the close frame.
    let ev = expect(&b_ev, "b disconnected", |e| {
        matches!(e, TransportEvent::Disconnected { .. })
    });
    assert!(matches!(
        ev,
        TransportEvent::Disconnected {
            reason: DisconnectReason::ClosedByPeer,
            ..
        }
    ));

    // Dropping the handle stops too.
    drop(b);
    drop(a);
    eventually("every transport thread is gone", || threads() == before);
    eprintln!("start took {started_in:?}; stop with 5 connections (2 hanging) took {stopped_in:?}");
}
