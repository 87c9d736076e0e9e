//! Garbage from the network never panics a thread or stops the transport.

mod transport_support;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use peerdisc::transport::{RejectReason, TransportConfig, TransportEvent};
use rand::{Rng, SeedableRng};
use transport_support::*;

#[test]
fn garbage_instead_of_a_handshake_is_rejected() {
    let (b, b_ev) = start(config());
    let mut s = TcpStream::connect(b.local_addr()).unwrap();
    s.write_all(b"\x16\x03\x01\x00\xa5 this is TLS, not HTTP\r\n\r\n")
        .unwrap();
    let ev = expect(&b_ev, "rejected", |e| {
        matches!(e, TransportEvent::Rejected { .. })
    });
    assert!(
        matches!(
            ev,
            TransportEvent::Rejected {
                reason: RejectReason::HandshakeFailed(_),
                ..
            }
        ),
        "{ev:?}"
    );
    // A plain HTTP GET without an upgrade is refused too.
    let mut s = TcpStream::connect(b.local_addr()).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    expect(&b_ev, "rejected", |e| {
        matches!(e, TransportEvent::Rejected { .. })
    });
}

#[test]
fn random_bytes_after_the_handshake_end_the_connection_only() {
    let (b, b_ev) = start(TransportConfig {
        max_message_size: 4096,
        max_frame_size: 4096,
        max_connections_per_ip: 64,
        ..config()
    });
    let url = b.ws_url();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0x9d15c);
    for round in 0..40 {
        let ws = raw_client(&url);
        let mut tcp = ws.into_inner();
        let len = rng.random_range(1..600);
        let junk: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        let _ = tcp.write_all(&junk);
        // Either the server cuts the connection, or it waits for more bytes
        // of a frame that never completes: closing our end settles it.
        let _ = tcp.shutdown(std::net::Shutdown::Write);
        let ended = wait_for(&b_ev, Duration::from_secs(5), |e| {
            matches!(e, TransportEvent::Disconnected { .. })
        });
        assert!(ended.is_some(), "round {round}: connection never ended");
    }
    // Still serving.
    let mut ws = raw_client(&url);
    ws.send(tungstenite::Message::text("still here")).unwrap();
    let got = expect(&b_ev, "received", |e| {
        matches!(e, TransportEvent::Received { .. })
    });
    assert!(matches!(got, TransportEvent::Received { ref text, .. } if text == "still here"));
    eventually("only the last connection is left", || {
        b.connections().len() == 1
    });
}
