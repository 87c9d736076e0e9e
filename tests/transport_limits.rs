//! Limits and timeouts: oversize, connection limits, rate, handshake and
//! idle deadlines.

mod transport_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use peerdisc::transport::{DisconnectReason, RejectReason, TransportConfig, TransportEvent};
use transport_support::*;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::Message;

fn rejected(reason: RejectReason) -> impl FnMut(&TransportEvent) -> bool {
    move |e| matches!(e, TransportEvent::Rejected { reason: r, .. } if *r == reason)
}

/// Reads until the server ends the WebSocket; returns the close code seen.
fn read_until_closed(ws: &mut tungstenite::WebSocket<TcpStream>) -> Option<CloseCode> {
    let mut code = None;
    for _ in 0..100 {
        match ws.read() {
            Ok(Message::Close(Some(f))) => code = Some(f.code),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    code
}

#[test]
fn an_oversize_message_is_refused_and_others_are_still_served() {
    let (b, b_ev) = start(TransportConfig {
        max_message_size: 1024,
        max_frame_size: 1024,
        ..config()
    });
    let url = b.ws_url();
    let mut bad = raw_client(&url);
    bad.send(Message::text("x".repeat(2000))).unwrap();
    let ev = expect(&b_ev, "rejected", rejected(RejectReason::MessageTooLarge));
    let TransportEvent::Rejected {
        conn: Some(conn), ..
    } = ev
    else {
        panic!("{ev:?}")
    };
    let ev = expect(&b_ev, "disconnected", |e| {
        matches!(e, TransportEvent::Disconnected { .. })
    });
    assert!(matches!(
        ev,
        TransportEvent::Disconnected { conn: c, reason: DisconnectReason::Rejected(RejectReason::MessageTooLarge), .. } if c == conn
    ));
    assert_eq!(read_until_closed(&mut bad), Some(CloseCode::Size));

    // A message at the limit passes, on a new connection.
    let mut good = raw_client(&url);
    good.send(Message::text("y".repeat(1024))).unwrap();
    match expect(&b_ev, "received", |e| {
        matches!(e, TransportEvent::Received { .. })
    }) {
        TransportEvent::Received { text, .. } => assert_eq!(text.len(), 1024),
        _ => unreachable!(),
    }
    // Our own oversize send is refused before the network.
    assert!(matches!(
        b.send(&url, "z".repeat(1025)),
        Err(peerdisc::transport::TransportError::MessageTooLarge {
            len: 1025,
            max: 1024
        })
    ));
    assert_eq!(b.stats().rejected, 1);
}

#[test]
fn the_connection_limit_drops_the_extra_connection() {
    let (b, b_ev) = start(TransportConfig {
        max_connections: 2,
        ..config()
    });
    let url = b.ws_url();
    let c1 = raw_client(&url);
    let _c2 = raw_client(&url);
    let tcp = TcpStream::connect(b.local_addr()).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert!(tungstenite::client::client(url.as_str(), tcp).is_err());
    expect(&b_ev, "rejected", rejected(RejectReason::ConnectionLimit));
    assert_eq!(b.connections().len(), 2);
    // Outbound connections count too.
    assert!(matches!(
        b.connect(&peerdisc::PeerAddress::new("ws://127.0.0.1:9/").unwrap()),
        Err(peerdisc::transport::TransportError::ConnectionLimit { max: 2 })
    ));
    // A freed slot is usable again.
    drop(c1);
    eventually("a slot frees", || b.connections().len() < 2);
    let mut c3 = raw_client(&url);
    c3.send(Message::text("in")).unwrap();
    expect(&b_ev, "received", |e| {
        matches!(e, TransportEvent::Received { .. })
    });
}

#[test]
fn the_per_ip_limit_drops_the_extra_connection() {
    let (b, b_ev) = start(TransportConfig {
        max_connections: 10,
        max_connections_per_ip: 2,
        ..config()
    });
    let url = b.ws_url();
    let _c1 = raw_client(&url);
    let _c2 = raw_client(&url);
    let tcp = TcpStream::connect(b.local_addr()).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert!(tungstenite::client::client(url.as_str(), tcp).is_err());
    let ev = expect(&b_ev, "rejected", rejected(RejectReason::PerIpLimit));
    let TransportEvent::Rejected { conn, remote, .. } = ev else {
        unreachable!()
    };
    assert_eq!(conn, None);
    assert!(remote.ip().is_loopback());
    assert_eq!(b.connections().len(), 2);
}

#[test]
fn a_silent_client_is_cut_off_after_the_handshake_timeout() {
    let (b, b_ev) = start(TransportConfig {
        handshake_timeout_ms: 300,
        ..config()
    });
    let mut silent = TcpStream::connect(b.local_addr()).unwrap();
    let me = silent.local_addr().unwrap();
    let ev = expect(&b_ev, "rejected", rejected(RejectReason::HandshakeTimeout));
    assert!(matches!(ev, TransportEvent::Rejected { remote, .. } if remote == me));
    silent
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 16];
    assert!(
        matches!(silent.read(&mut buf), Ok(0) | Err(_)),
        "socket closed"
    );
    eventually("no connection left", || b.connections().is_empty());
}

#[test]
fn a_slowloris_is_cut_off_after_the_handshake_timeout() {
    let (b, b_ev) = start(TransportConfig {
        handshake_timeout_ms: 1_500,
        ..config()
    });
    let mut slow = TcpStream::connect(b.local_addr()).unwrap();
    let me = slow.local_addr().unwrap();
    let request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n";
    // One byte a second: the server must not wait for the whole request.
    let writer = {
        let mut slow = slow.try_clone().unwrap();
        std::thread::spawn(move || {
            for byte in request.iter() {
                if slow.write_all(&[*byte]).is_err() {
                    return true;
                }
                std::thread::sleep(Duration::from_secs(1));
            }
            false
        })
    };
    let ev = expect(&b_ev, "rejected", rejected(RejectReason::HandshakeTimeout));
    assert!(matches!(ev, TransportEvent::Rejected { remote, .. } if remote == me));
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 16];
    assert!(
        matches!(slow.read(&mut buf), Ok(0) | Err(_)),
        "socket closed"
    );
    let _ = slow.shutdown(std::net::Shutdown::Both);
    // The writer notices the closed socket (or runs out of bytes).
    let _ = writer.join();
}

#[test]
fn too_many_messages_per_second_close_the_connection() {
    let (b, b_ev) = start(TransportConfig {
        max_messages_per_sec: 5,
        ..config()
    });
    let mut flood = raw_client(&b.ws_url());
    for i in 0..20 {
        if flood.send(Message::text(format!("{i}"))).is_err() {
            break;
        }
    }
    expect(&b_ev, "rejected", rejected(RejectReason::RateLimited));
    assert_eq!(read_until_closed(&mut flood), Some(CloseCode::Policy));
    let received = b.stats().messages_received;
    assert!((5..20).contains(&received), "{received} passed the limit");
}

#[test]
fn a_binary_frame_closes_the_connection() {
    let (b, b_ev) = start(config());
    let mut c = raw_client(&b.ws_url());
    c.send(Message::binary(vec![1u8, 2, 3])).unwrap();
    expect(&b_ev, "rejected", rejected(RejectReason::BinaryFrame));
    assert_eq!(read_until_closed(&mut c), Some(CloseCode::Unsupported));
}

#[test]
fn a_peer_that_stops_answering_is_dropped_after_the_idle_timeout() {
    let (b, b_ev) = start(TransportConfig {
        idle_timeout_ms: 300,
        ..config()
    });
    // Handshakes, then never reads, so never answers the ping.
    let _mute = raw_client(&b.ws_url());
    let ev = expect(&b_ev, "disconnected", |e| {
        matches!(e, TransportEvent::Disconnected { .. })
    });
    assert!(matches!(
        ev,
        TransportEvent::Disconnected {
            reason: DisconnectReason::IdleTimeout,
            ..
        }
    ));
}

#[test]
fn pings_keep_a_quiet_connection_between_transports_open() {
    let quick = TransportConfig {
        idle_timeout_ms: 400,
        ..config()
    };
    let (a, a_ev) = start(quick.clone());
    let (b, b_ev) = start(quick);
    let url = b.ws_url();
    a.connect(&url).unwrap();
    expect(&b_ev, "connected", |e| {
        matches!(e, TransportEvent::Connected { .. })
    });
    // Three idle timeouts of silence.
    let events: Vec<_> = drain(&a_ev, Duration::from_millis(1200))
        .into_iter()
        .chain(drain(&b_ev, Duration::from_millis(1)))
        .filter(|e| matches!(e, TransportEvent::Disconnected { .. }))
        .collect();
    assert!(events.is_empty(), "{events:?}");
    assert!(a.is_connected(&url));
}

#[test]
fn a_full_event_channel_drops_messages_and_stop_still_ends_everything() {
    let (b, b_ev) = start(TransportConfig {
        event_queue_len: 2,
        ..config()
    });
    let mut c = raw_client(&b.ws_url());
    for i in 0..50 {
        c.send(Message::text(format!("{i}"))).unwrap();
    }
    eventually("all 50 read", || b.stats().messages_received == 50);
    assert!(b.stats().dropped_events >= 45, "{:?}", b.stats());
    // Another connection's `Connected` now waits for room in the channel...
    let _c2 = raw_client(&b.ws_url());
    // ...which never comes; stop is not held up by it.
    assert!(b.stop().is_ok());
    assert_eq!(b.stats().threads, 0);
    drop(b_ev);
}

#[test]
fn the_handle_can_be_shared_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<peerdisc::transport::TransportHandle>();
    send_sync::<TransportEvent>();
}
