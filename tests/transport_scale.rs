//! The transport's one poller thread serves every connection: many of
//! them, one that never reads, peers that never answer, and an address
//! that tries to take the whole connection budget, without a thread per
//! connection and without one connection holding up another.

mod transport_support;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use peerdisc::transport::{
    ConnectError, DisconnectReason, RejectReason, TransportConfig, TransportError, TransportEvent,
};
use peerdisc::PeerAddress;
use transport_support::*;
use tungstenite::Message;

/// A TCP connection to `to` from the loopback address `from`.
fn tcp_from(from: [u8; 4], to: SocketAddr) -> TcpStream {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(&SocketAddr::from((from, 0)).into()).unwrap();
    sock.connect(&to.into()).unwrap();
    let tcp: TcpStream = sock.into();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    tcp
}

#[test]
fn two_hundred_connections_share_one_thread() {
    let (hub, hub_ev) = start(TransportConfig {
        max_connections: 256,
        max_connections_per_ip: 256,
        ..config()
    });
    let url = hub.ws_url();
    let mut clients: Vec<_> = (0..200).map(|_| raw_client(&url)).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        c.send(Message::text(format!("{i}"))).unwrap();
    }
    let mut answered = 0;
    while answered < 200 {
        match expect(&hub_ev, "a frame", |e| {
            matches!(e, TransportEvent::Received { .. })
        }) {
            TransportEvent::Received { conn, text, .. } => {
                hub.reply(conn, format!("ack {text}")).unwrap();
                answered += 1;
            }
            _ => unreachable!(),
        }
    }
    for (i, c) in clients.iter_mut().enumerate() {
        match c.read().expect("the answer") {
            Message::Text(t) => assert_eq!(t.as_str(), format!("ack {i}")),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(hub.stats().open_connections, 200);
    assert_eq!(
        hub.stats().threads,
        1,
        "one poller thread for 200 connections"
    );
    hub.stop().unwrap();
    assert_eq!(hub.stats().threads, 0);
}

#[test]
fn one_transport_dials_forty_peers_from_one_thread() {
    let (a, a_ev) = start(config());
    let peers: Vec<_> = (0..40).map(|_| start(config())).collect();
    for (p, _) in &peers {
        a.send(&p.ws_url(), "hello".into()).unwrap();
    }
    for (_, ev) in &peers {
        expect(
            ev,
            "hello",
            |e| matches!(e, TransportEvent::Received { text, .. } if text == "hello"),
        );
    }
    let opened = count(&a_ev, Duration::from_millis(50), |e| {
        matches!(e, TransportEvent::Connected { .. })
    });
    assert_eq!(opened, 40);
    assert_eq!(a.stats().outbound_opened, 40);
    assert_eq!(a.stats().threads, 1);
}

/// A client that never reads fills its socket; the poller stops writing
/// to it (the backlog refuses further frames) and serves another client
/// at once meanwhile.
#[test]
fn a_reader_that_never_reads_does_not_hold_up_another_connection() {
    let cfg = TransportConfig {
        max_message_size: 64 * 1024,
        max_frame_size: 64 * 1024,
        ..config()
    };
    let (hub, hub_ev) = start(cfg);
    let _stuck = raw_client(&hub.ws_url());
    let stuck = connected_conn(expect(&hub_ev, "stuck connected", |e| {
        matches!(e, TransportEvent::Connected { .. })
    }));
    let filler = "x".repeat(60 * 1024);
    let mut refused = false;
    for _ in 0..5_000 {
        match hub.reply(stuck, filler.clone()) {
            Ok(()) => {}
            Err(TransportError::QueueFull { .. }) => {
                refused = true;
                break;
            }
            Err(e) => panic!("{e}"),
        }
        // Let the poller write, so the socket (not only the backlog) fills.
        std::thread::sleep(Duration::from_micros(200));
    }
    assert!(
        refused,
        "the backlog of a reader that never reads is bounded"
    );
    let mut live = raw_client(&hub.ws_url());
    let live_conn = connected_conn(expect(
        &hub_ev,
        "live connected",
        |e| matches!(e, TransportEvent::Connected { conn, .. } if *conn != stuck),
    ));
    for i in 0..20 {
        hub.reply(live_conn, format!("{i}")).unwrap();
        match live.read().expect("a frame") {
            Message::Text(t) => assert_eq!(t.as_str(), format!("{i}")),
            other => panic!("{other:?}"),
        }
    }
    assert!(hub.connections().iter().any(|c| c.id == stuck && c.open));
}

/// Dials to a listener that never answers the handshake and to one whose
/// accept queue is full do not delay a dial to a live peer; each fails on
/// its own deadline.
#[test]
fn peers_that_never_answer_do_not_hold_up_a_live_one() {
    let (a, a_ev) = start(TransportConfig {
        handshake_timeout_ms: 600,
        ..config()
    });
    let mute = TcpListener::bind("127.0.0.1:0").unwrap();
    let mute_url = PeerAddress::new(format!("ws://{}/", mute.local_addr().unwrap())).unwrap();
    let mute_conn = a.send(&mute_url, "anyone?".into()).unwrap();
    let (b, b_ev) = start(config());
    a.send(&b.ws_url(), "hi".into()).unwrap();
    expect(
        &b_ev,
        "b received",
        |e| matches!(e, TransportEvent::Received { text, .. } if text == "hi"),
    );
    // The mute dial is still waiting for its answer.
    assert!(a.connections().iter().any(|c| c.id == mute_conn && !c.open));
    let ev = expect(&a_ev, "mute dial failed", |e| {
        matches!(e, TransportEvent::ConnectFailed { .. })
    });
    assert!(
        matches!(
            ev,
            TransportEvent::ConnectFailed {
                conn,
                error: ConnectError::HandshakeTimeout,
                ..
            } if conn == mute_conn
        ),
        "{ev:?}"
    );
    assert!(a.is_connected(&b.ws_url()));
    drop(mute);
}

/// With the default limits, many clients from one address are all served
/// (several nodes on one host, or behind one NAT address).
#[test]
fn the_default_limits_serve_a_full_budget_from_one_address() {
    let (hub, hub_ev) = start(config());
    let max = hub.config().max_connections;
    let _clients: Vec<_> = (0..max).map(|_| raw_client(&hub.ws_url())).collect();
    eventually("every client is connected", || {
        hub.stats().inbound_opened == max as u64
    });
    let refused = count(&hub_ev, Duration::from_millis(20), |e| {
        matches!(e, TransportEvent::Rejected { .. })
    });
    assert_eq!(refused, 0);
}

/// An address that holds the whole budget cannot lock another out: a
/// newcomer from another address takes the place of one of its
/// connections (one still in its handshake first), while the busy
/// address itself is refused.
#[test]
fn one_address_cannot_lock_the_others_out() {
    let (hub, hub_ev) = start(TransportConfig {
        max_connections: 8,
        // The silent connections stay until displaced.
        handshake_timeout_ms: 60_000,
        ..config()
    });
    let addr = hub.local_addr();
    // The flood: 7 silent TCP connections and one open WebSocket, all
    // from 127.0.0.2.
    let mut flood: Vec<TcpStream> = (0..7).map(|_| tcp_from([127, 0, 0, 2], addr)).collect();
    let (mut open_flood, _) =
        tungstenite::client::client(hub.ws_url().as_str(), tcp_from([127, 0, 0, 2], addr))
            .expect("handshake");
    eventually("the budget is used", || hub.connections().len() == 8);
    // More from the busy address: refused.
    flood.push(tcp_from([127, 0, 0, 2], addr));
    expect(&hub_ev, "refused", |e| {
        matches!(
            e,
            TransportEvent::Rejected {
                conn: None,
                reason: RejectReason::ConnectionLimit,
                ..
            }
        )
    });
    // A newcomer from 127.0.0.1 gets in, at the cost of a silent one.
    let mut newcomer = raw_client(&hub.ws_url());
    expect(&hub_ev, "displaced", |e| {
        matches!(
            e,
            TransportEvent::Rejected {
                conn: Some(_),
                reason: RejectReason::Displaced,
                ..
            }
        )
    });
    let conn = connected_conn(expect(
        &hub_ev,
        "newcomer connected",
        |e| matches!(e, TransportEvent::Connected { remote, .. } if remote.ip() == std::net::Ipv4Addr::LOCALHOST),
    ));
    hub.reply(conn, "welcome".into()).unwrap();
    assert!(matches!(newcomer.read().unwrap(), Message::Text(t) if t.as_str() == "welcome"));
    // Three more newcomers displace three more silent connections (7
    // against 1, 6 against 2, 5 against 3); the open one stays.
    let _more: Vec<_> = (0..3).map(|_| raw_client(&hub.ws_url())).collect();
    assert_eq!(hub.connections().len(), 8);
    open_flood.send(Message::text("still here")).unwrap();
    expect(
        &hub_ev,
        "the open flood connection is still served",
        |e| matches!(e, TransportEvent::Received { text, .. } if text == "still here"),
    );
    // 4 from each address now: nobody is displaced any more.
    let _last = TcpStream::connect(addr).unwrap();
    let ev = expect(&hub_ev, "refused at 4 against 4", |e| {
        matches!(e, TransportEvent::Rejected { .. })
    });
    assert!(
        matches!(
            ev,
            TransportEvent::Rejected {
                reason: RejectReason::ConnectionLimit,
                ..
            }
        ),
        "{ev:?}"
    );
    let open_displaced = count(&hub_ev, Duration::from_millis(20), |e| {
        matches!(
            e,
            TransportEvent::Disconnected {
                reason: DisconnectReason::Rejected(RejectReason::Displaced),
                ..
            }
        )
    });
    assert_eq!(open_displaced, 0, "only connections still opening went");
}
