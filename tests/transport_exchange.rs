//! Two transports exchange frames; connections are reused.

mod transport_support;

use std::time::Duration;

use peerdisc::transport::{Direction, DisconnectReason, TransportConfig, TransportEvent};
use peerdisc::PeerAddress;
use transport_support::*;

#[test]
fn frames_flow_both_ways_and_replies_use_the_inbound_socket() {
    let (a, a_ev) = start(config());
    let (b, b_ev) = start(config());
    let b_url = b.ws_url();

    let out = a.send(&b_url, "hello from a".into()).unwrap();
    let ev = expect(&a_ev, "a connected", |e| {
        matches!(e, TransportEvent::Connected { .. })
    });
    assert!(matches!(
        ev,
        TransportEvent::Connected { conn, direction: Direction::Outbound, peer: Some(ref p), .. }
            if conn == out && *p == b_url
    ));
    let inbound = match expect(&b_ev, "b connected", |e| {
        matches!(e, TransportEvent::Connected { .. })
    }) {
        TransportEvent::Connected {
            conn,
            direction,
            peer,
            ..
        } => {
            assert_eq!(direction, Direction::Inbound);
            assert_eq!(peer, None);
            conn
        }
        _ => unreachable!(),
    };
    match expect(&b_ev, "b receives", |e| {
        matches!(e, TransportEvent::Received { .. })
    }) {
        TransportEvent::Received { conn, text, .. } => {
            assert_eq!(conn, inbound);
            assert_eq!(text, "hello from a");
        }
        _ => unreachable!(),
    }
    assert!(a.is_connected(&b_url));

    // B answers over the very socket A opened: A gets it on `out`, and B
    // opened no connection of its own.
    b.reply(inbound, "hello back".into()).unwrap();
    match expect(&a_ev, "a receives", |e| {
        matches!(e, TransportEvent::Received { .. })
    }) {
        TransportEvent::Received { conn, text, .. } => {
            assert_eq!(conn, out);
            assert_eq!(text, "hello back");
        }
        _ => unreachable!(),
    }
    assert_eq!(b.stats().outbound_opened, 0);
    assert_eq!(a.connections().len(), 1);

    // Unicode and an empty frame survive.
    a.send(&b_url, "héllo ✓".into()).unwrap();
    a.send(&b_url, String::new()).unwrap();
    let got: Vec<String> = (0..2)
        .map(|_| {
            match expect(&b_ev, "b receives", |e| {
                matches!(e, TransportEvent::Received { .. })
            }) {
                TransportEvent::Received { text, .. } => text,
                _ => unreachable!(),
            }
        })
        .collect();
    assert_eq!(got, ["héllo ✓", ""]);

    let (sa, sb) = (a.stats(), b.stats());
    assert_eq!(sa.messages_sent, 3);
    assert_eq!(sb.messages_received, 3);
    assert!(sa.bytes_sent > 0 && sb.bytes_received > 0);
    a.stop().unwrap();
    b.stop().unwrap();
}

#[test]
fn many_sends_reuse_one_connection() {
    let (a, a_ev) = start(config());
    let (b, b_ev) = start(config());
    let b_url = b.ws_url();
    const N: usize = 50;
    let mut ids = Vec::new();
    for i in 0..N {
        ids.push(a.send(&b_url, format!("m{i}")).unwrap());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every send goes over the same connection");
    let texts: Vec<String> = (0..N)
        .map(|_| {
            match expect(&b_ev, "message", |e| {
                matches!(e, TransportEvent::Received { .. })
            }) {
                TransportEvent::Received { text, .. } => text,
                _ => unreachable!(),
            }
        })
        .collect();
    let want: Vec<String> = (0..N).map(|i| format!("m{i}")).collect();
    assert_eq!(texts, want, "in order, none lost");
    assert_eq!(b.stats().inbound_opened, 1);
    assert_eq!(a.stats().outbound_opened, 1);
    assert_eq!(a.connections().len(), 1);
    let connected = drain(&a_ev, Duration::from_millis(50))
        .into_iter()
        .filter(|e| matches!(e, TransportEvent::Connected { .. }))
        .count();
    assert_eq!(connected, 1);
}

#[test]
fn an_associated_inbound_connection_is_reused_for_sends() {
    let (a, _a_ev) = start(config());
    let (b, b_ev) = start(config());
    let a_url = a.ws_url();
    a.send(&b.ws_url(), "hi, I am a".into()).unwrap();
    let inbound = match expect(&b_ev, "received", |e| {
        matches!(e, TransportEvent::Received { .. })
    }) {
        TransportEvent::Received { conn, .. } => conn,
        _ => unreachable!(),
    };
    // B learnt from the message that the connection is A's.
    b.associate(inbound, a_url.clone()).unwrap();
    assert!(b.is_connected(&a_url));
    assert_eq!(b.send(&a_url, "to a".into()).unwrap(), inbound);
    assert_eq!(b.stats().outbound_opened, 0);
}

#[test]
fn close_ends_both_sides() {
    let (a, a_ev) = start(config());
    let (b, b_ev) = start(config());
    let b_url = b.ws_url();
    a.connect(&b_url).unwrap();
    expect(&b_ev, "b connected", |e| {
        matches!(e, TransportEvent::Connected { .. })
    });
    expect(&a_ev, "a connected", |e| {
        matches!(e, TransportEvent::Connected { .. })
    });
    assert!(a.close(&b_url));
    let ev = expect(&a_ev, "a disconnected", |e| {
        matches!(e, TransportEvent::Disconnected { .. })
    });
    assert!(matches!(
        ev,
        TransportEvent::Disconnected { reason: DisconnectReason::ClosedLocally, peer: Some(ref p), .. } if *p == b_url
    ));
    let ev = expect(&b_ev, "b disconnected", |e| {
        matches!(e, TransportEvent::Disconnected { .. })
    });
    assert!(
        matches!(
            ev,
            TransportEvent::Disconnected {
                reason: DisconnectReason::ClosedByPeer,
                ..
            }
        ),
        "{ev:?}"
    );
    assert!(!a.is_connected(&b_url));
    eventually("b has no connection", || b.connections().is_empty());
    // The next send dials again.
    a.send(&b_url, "again".into()).unwrap();
    expect(&b_ev, "b receives again", |e| {
        matches!(e, TransportEvent::Received { .. })
    });
    assert_eq!(a.stats().outbound_opened, 2);
}

#[test]
fn works_over_ipv6_loopback() {
    let cfg = peerdisc::transport::TransportConfig {
        listen: "[::1]:0".parse().unwrap(),
        ..config()
    };
    let Ok((b, b_ev)) = peerdisc::transport::Transport::start(cfg) else {
        eprintln!("no IPv6 loopback here; skipped");
        return;
    };
    let (a, _a_ev) = start(config());
    let url = b.ws_url();
    assert!(url.as_str().starts_with("ws://[::1]:"), "{url}");
    a.send(&url, "over v6".into()).unwrap();
    match expect(&b_ev, "received", |e| {
        matches!(e, TransportEvent::Received { .. })
    }) {
        TransportEvent::Received { text, remote, .. } => {
            assert_eq!(text, "over v6");
            assert!(remote.is_ipv6());
        }
        _ => unreachable!(),
    }
}

#[test]
fn a_custom_path_is_served_and_other_paths_are_refused() {
    let (b, b_ev) = start(peerdisc::transport::TransportConfig {
        ws_path: "/peerdisc".into(),
        ..config()
    });
    let url = b.ws_url();
    assert!(url.as_str().ends_with("/peerdisc"));
    let mut ws = raw_client(&url);
    ws.send(tungstenite::Message::text("ok")).unwrap();
    expect(&b_ev, "received", |e| {
        matches!(e, TransportEvent::Received { .. })
    });

    let wrong = PeerAddress::new(format!("ws://{}/elsewhere", b.local_addr())).unwrap();
    let tcp = std::net::TcpStream::connect(b.local_addr()).unwrap();
    assert!(tungstenite::client::client(wrong.as_str(), tcp).is_err());
    let ev = expect(&b_ev, "rejected", |e| {
        matches!(e, TransportEvent::Rejected { .. })
    });
    assert!(matches!(
        ev,
        TransportEvent::Rejected { reason: peerdisc::transport::RejectReason::WrongPath(ref p), .. } if p == "/elsewhere"
    ));
}

#[test]
fn a_hub_serves_twenty_peers_from_one_thread() {
    let (hub, hub_ev) = start(peerdisc::transport::TransportConfig {
        max_connections_per_ip: 32,
        ..config()
    });
    let url = hub.ws_url();
    let peers: Vec<_> = (0..20).map(|_| start(config())).collect();
    for (i, (p, _)) in peers.iter().enumerate() {
        p.send(&url, format!("peer {i}")).unwrap();
    }
    let mut seen = std::collections::HashSet::new();
    while seen.len() < 20 {
        match expect(&hub_ev, "received", |e| {
            matches!(e, TransportEvent::Received { .. })
        }) {
            TransportEvent::Received { conn, text, .. } => {
                hub.reply(conn, format!("ack {text}")).unwrap();
                seen.insert(text);
            }
            _ => unreachable!(),
        }
    }
    for (i, (_, ev)) in peers.iter().enumerate() {
        let got = expect(ev, "ack", |e| matches!(e, TransportEvent::Received { .. }));
        assert!(
            matches!(got, TransportEvent::Received { ref text, .. } if *text == format!("ack peer {i}"))
        );
    }
    assert_eq!(
        hub.stats().threads,
        1,
        "one poller thread for 20 connections"
    );
    assert_eq!(hub.stats().open_connections, 20);
    hub.stop().unwrap();
    for (p, ev) in &peers {
        let end = expect(ev, "disconnected", |e| {
            matches!(e, TransportEvent::Disconnected { .. })
        });
        assert!(matches!(
            end,
            TransportEvent::Disconnected {
                reason: DisconnectReason::ClosedByPeer,
                ..
            }
        ));
        assert!(!p.is_connected(&url));
    }
}

/// A reader that stops reading fills the socket: sends never block the
/// sender, what does not fit is refused and counted, and what was accepted
/// is delivered, in order, once the reader reads again, although the remote
/// sends nothing that would wake the connection's own thread.
#[test]
fn a_slow_reader_gets_every_accepted_frame_once_it_reads_again() {
    let cfg = TransportConfig {
        max_message_size: 64 * 1024,
        max_frame_size: 64 * 1024,
        idle_timeout_ms: 60_000,
        ..config()
    };
    let (a, a_ev) = start(cfg);
    let mut client = raw_client(&a.ws_url());
    let conn = match expect(&a_ev, "inbound connected", |e| {
        matches!(e, TransportEvent::Connected { .. })
    }) {
        TransportEvent::Connected { conn, .. } => conn,
        _ => unreachable!(),
    };
    let filler = "x".repeat(60 * 1024);
    let mut accepted = 0usize;
    let started = std::time::Instant::now();
    for i in 0..2_000 {
        match a.reply(conn, format!("{i:05}{filler}")) {
            Ok(()) => accepted += 1,
            Err(peerdisc::transport::TransportError::QueueFull { .. }) => break,
            Err(e) => panic!("{e}"),
        }
    }
    let took = started.elapsed();
    assert!(accepted > 0 && accepted < 2_000, "accepted {accepted}");
    assert!(a.stats().dropped_outbound >= 1);
    eprintln!("{accepted} frames of 60 KB accepted before the socket was full, in {took:?}");
    // The reader catches up: every accepted frame arrives, in order.
    for i in 0..accepted {
        match client.read().expect("frame") {
            tungstenite::Message::Text(t) => assert_eq!(&t.as_str()[..5], format!("{i:05}")),
            other => panic!("unexpected {other:?}"),
        }
    }
    a.stop().unwrap();
}
