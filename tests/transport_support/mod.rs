//! Helpers shared by the transport tests (loopback only).
#![allow(dead_code)]

use std::net::TcpStream;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use peerdisc::transport::{Transport, TransportConfig, TransportEvent, TransportHandle};
use peerdisc::PeerAddress;
use tungstenite::WebSocket;

/// A configuration for tests: loopback, port 0, short timeouts.
pub fn config() -> TransportConfig {
    TransportConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        connect_timeout_ms: 1_000,
        handshake_timeout_ms: 2_000,
        idle_timeout_ms: 10_000,
        backoff_base_ms: 200,
        backoff_cap_ms: 2_000,
        ..TransportConfig::default()
    }
}

pub fn start(config: TransportConfig) -> (TransportHandle, Receiver<TransportEvent>) {
    Transport::start(config).expect("transport starts")
}

/// Waits up to `within` for an event matching `pred`, skipping others.
pub fn wait_for(
    rx: &Receiver<TransportEvent>,
    within: Duration,
    mut pred: impl FnMut(&TransportEvent) -> bool,
) -> Option<TransportEvent> {
    let deadline = Instant::now() + within;
    while let Ok(ev) = rx.recv_deadline(deadline) {
        if pred(&ev) {
            return Some(ev);
        }
    }
    None
}

/// Waits for an event matching `pred`, or panics with a description.
pub fn expect(
    rx: &Receiver<TransportEvent>,
    what: &str,
    pred: impl FnMut(&TransportEvent) -> bool,
) -> TransportEvent {
    wait_for(rx, Duration::from_secs(5), pred).unwrap_or_else(|| panic!("no event: {what}"))
}

/// Everything that arrives within `within`.
pub fn drain(rx: &Receiver<TransportEvent>, within: Duration) -> Vec<TransportEvent> {
    let deadline = Instant::now() + within;
    let mut v = Vec::new();
    while let Ok(ev) = rx.recv_deadline(deadline) {
        v.push(ev);
    }
    v
}

/// A plain blocking tungstenite client connected to `url`.
pub fn raw_client(url: &PeerAddress) -> WebSocket<TcpStream> {
    let tcp = TcpStream::connect((url.host().as_str(), url.port())).expect("tcp connect");
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let (ws, _) = tungstenite::client::client(url.as_str(), tcp).expect("handshake");
    ws
}

/// Polls `cond` for up to five seconds.
pub fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("never happened: {what}");
}

/// How many of the events that arrive within `within` match `pred`.
pub fn count(
    rx: &Receiver<TransportEvent>,
    within: Duration,
    pred: impl FnMut(&TransportEvent) -> bool,
) -> usize {
    let mut pred = pred;
    drain(rx, within).iter().filter(|e| pred(e)).count()
}

/// The connection of a `Connected` event.
pub fn connected_conn(ev: TransportEvent) -> peerdisc::transport::ConnectionId {
    match ev {
        TransportEvent::Connected { conn, .. } => conn,
        other => panic!("not a connection: {other:?}"),
    }
}
