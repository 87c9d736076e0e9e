//! Binding, dialling failures, reconnection backoff, handshake deadlines of
//! outbound connections.

mod transport_support;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use peerdisc::transport::{
    ConnectError, Transport, TransportConfig, TransportError, TransportEvent,
};
use peerdisc::PeerAddress;
use transport_support::*;

/// A loopback port with nothing listening on it.
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn a_port_in_use_is_a_bind_error() {
    let (a, _ev) = start(config());
    let err = Transport::start(TransportConfig {
        listen: a.local_addr(),
        ..config()
    })
    .unwrap_err();
    match err {
        TransportError::Bind { addr, source } => {
            assert_eq!(addr, a.local_addr());
            assert_eq!(source.kind(), std::io::ErrorKind::AddrInUse);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_invalid_config_is_refused() {
    let err = Transport::start(TransportConfig {
        ws_path: "nope".into(),
        ..config()
    })
    .unwrap_err();
    assert!(matches!(err, TransportError::InvalidConfig(_)), "{err}");
}

#[test]
fn a_closed_port_fails_then_backs_off_then_retries() {
    let (a, a_ev) = start(TransportConfig {
        backoff_base_ms: 300,
        backoff_jitter: 0.0,
        ..config()
    });
    let port = closed_port();
    let url = PeerAddress::new(format!("ws://127.0.0.1:{port}/")).unwrap();
    let conn = a.send(&url, "lost".into()).unwrap();
    let ev = expect(&a_ev, "connect failed", |e| {
        matches!(e, TransportEvent::ConnectFailed { .. })
    });
    match ev {
        TransportEvent::ConnectFailed {
            conn: c,
            peer,
            error,
        } => {
            assert_eq!(c, conn);
            assert_eq!(peer, url);
            assert!(matches!(error, ConnectError::Io(_)), "{error:?}");
        }
        _ => unreachable!(),
    }
    // Within the backoff: refused at once, without a new attempt.
    match a.send(&url, "again".into()) {
        Err(TransportError::Backoff { peer, retry_in }) => {
            assert_eq!(peer, url);
            assert!(retry_in <= Duration::from_millis(300));
        }
        other => panic!("{other:?}"),
    }
    assert!(a
        .retry_in(&url)
        .is_some_and(|d| d <= Duration::from_millis(300)));
    let s = a.stats();
    assert_eq!(s.connect_failures, 1);
    assert_eq!(s.backoff_refusals, 1);
    assert_eq!(s.dropped_outbound, 1, "the queued message was lost");
    assert!(!a.is_connected(&url));

    // After the delay, a new attempt is made; it fails again and the next
    // delay doubles.
    std::thread::sleep(Duration::from_millis(320));
    a.send(&url, "third".into()).unwrap();
    expect(&a_ev, "connect failed again", |e| {
        matches!(e, TransportEvent::ConnectFailed { .. })
    });
    match a.send(&url, "fourth".into()) {
        Err(TransportError::Backoff { retry_in, .. }) => {
            assert!(retry_in > Duration::from_millis(300), "{retry_in:?}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn success_resets_the_backoff() {
    let (a, a_ev) = start(TransportConfig {
        backoff_base_ms: 200,
        backoff_jitter: 0.0,
        ..config()
    });
    // Reserve a port, fail on it, then start a transport on it.
    let port = closed_port();
    let url = PeerAddress::new(format!("ws://127.0.0.1:{port}/")).unwrap();
    a.connect(&url).unwrap();
    expect(&a_ev, "failed", |e| {
        matches!(e, TransportEvent::ConnectFailed { .. })
    });
    let Ok((b, b_ev)) = Transport::start(TransportConfig {
        listen: format!("127.0.0.1:{port}").parse().unwrap(),
        ..config()
    }) else {
        eprintln!("port {port} was taken meanwhile; skipped");
        return;
    };
    let t0 = Instant::now();
    loop {
        match a.send(&url, "hello".into()) {
            Ok(_) => break,
            Err(TransportError::Backoff { .. }) if t0.elapsed() < Duration::from_secs(5) => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => panic!("{e}"),
        }
    }
    expect(&b_ev, "received", |e| {
        matches!(e, TransportEvent::Received { .. })
    });
    assert!(a.is_connected(&url));
    // After a success and a normal close, the address is dialled at once.
    a.close(&url);
    expect(&a_ev, "closed", |e| {
        matches!(e, TransportEvent::Disconnected { .. })
    });
    a.send(&url, "again".into()).unwrap();
    expect(&b_ev, "received again", |e| {
        matches!(e, TransportEvent::Received { .. })
    });
    drop(b);
}

#[test]
fn a_server_that_never_answers_the_handshake_times_out() {
    let (a, a_ev) = start(TransportConfig {
        handshake_timeout_ms: 300,
        ..config()
    });
    // Accepts TCP (through the kernel backlog) but never speaks.
    let mute = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = PeerAddress::new(format!("ws://{}/", mute.local_addr().unwrap())).unwrap();
    a.send(&url, "hello?".into()).unwrap();
    let ev = expect(&a_ev, "connect failed", |e| {
        matches!(e, TransportEvent::ConnectFailed { .. })
    });
    assert!(matches!(
        ev,
        TransportEvent::ConnectFailed {
            error: ConnectError::HandshakeTimeout,
            ..
        }
    ));
    assert!(a.connections().is_empty());
}

#[test]
fn a_server_that_is_not_websocket_fails_the_handshake() {
    let (a, a_ev) = start(config());
    let http = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = PeerAddress::new(format!("ws://{}/", http.local_addr().unwrap())).unwrap();
    let server = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut s, _) = http.accept().unwrap();
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf);
        let _ = s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    });
    a.send(&url, "hello?".into()).unwrap();
    let ev = expect(&a_ev, "connect failed", |e| {
        matches!(e, TransportEvent::ConnectFailed { .. })
    });
    assert!(
        matches!(
            ev,
            TransportEvent::ConnectFailed {
                error: ConnectError::Handshake(_),
                ..
            }
        ),
        "{ev:?}"
    );
    server.join().unwrap();
}

#[test]
fn wss_is_refused_and_localhost_resolves() {
    let (a, _a_ev) = start(config());
    let (b, b_ev) = start(config());
    let wss = PeerAddress::new("wss://127.0.0.1:1/").unwrap();
    assert!(matches!(
        a.send(&wss, "x".into()),
        Err(TransportError::UnsupportedScheme { .. })
    ));
    let by_name = PeerAddress::new(format!("ws://localhost:{}/", b.local_addr().port())).unwrap();
    a.send(&by_name, "by name".into()).unwrap();
    expect(&b_ev, "received", |e| {
        matches!(e, TransportEvent::Received { .. })
    });
}

#[test]
fn messages_queued_while_connecting_are_delivered_in_order() {
    let (a, _a_ev) = start(config());
    let (b, b_ev) = start(config());
    let url = b.ws_url();
    for i in 0..10 {
        a.send(&url, i.to_string()).unwrap();
    }
    for i in 0..10 {
        match expect(&b_ev, "received", |e| {
            matches!(e, TransportEvent::Received { .. })
        }) {
            TransportEvent::Received { text, .. } => assert_eq!(text, i.to_string()),
            _ => unreachable!(),
        }
    }
}

#[test]
fn a_full_outbound_queue_refuses_and_counts() {
    let (a, _a_ev) = start(TransportConfig {
        outbound_queue_len: 4,
        handshake_timeout_ms: 2_000,
        ..config()
    });
    // The handshake never finishes, so nothing drains the queue.
    let mute = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = PeerAddress::new(format!("ws://{}/", mute.local_addr().unwrap())).unwrap();
    for i in 0..4 {
        a.send(&url, i.to_string()).unwrap();
    }
    assert!(matches!(
        a.send(&url, "one too many".into()),
        Err(TransportError::QueueFull { .. })
    ));
    assert_eq!(a.stats().dropped_outbound, 1);
}

#[test]
fn closing_a_connection_while_it_opens_reports_cancelled_without_backoff() {
    let (a, a_ev) = start(config());
    let mute = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = PeerAddress::new(format!("ws://{}/", mute.local_addr().unwrap())).unwrap();
    let conn = a.send(&url, "hello?".into()).unwrap();
    assert!(!a.is_connected(&url), "opening is not connected");
    assert!(a.close(&url));
    let ev = expect(&a_ev, "cancelled", |e| {
        matches!(e, TransportEvent::ConnectFailed { .. })
    });
    assert_eq!(
        ev,
        TransportEvent::ConnectFailed {
            conn,
            peer: url.clone(),
            error: ConnectError::Cancelled
        }
    );
    assert_eq!(a.stats().connect_failures, 0);
    assert!(a.connect(&url).is_ok(), "no backoff after a cancel");
}

#[test]
fn a_connect_that_gets_no_answer_times_out() {
    // A listener whose accept queue is full: the kernel drops further SYNs,
    // so a connect hangs as it would towards a host that is down.
    let full = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = full.local_addr().unwrap();
    let mut held = Vec::new();
    let filled = loop {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)) {
            Ok(s) => held.push(s),
            Err(_) => break true,
        }
        if held.len() > 4096 {
            break false;
        }
    };
    if !filled {
        eprintln!("the accept queue never filled here; skipped");
        return;
    }
    let (a, a_ev) = start(TransportConfig {
        connect_timeout_ms: 200,
        ..config()
    });
    let url = PeerAddress::new(format!("ws://{addr}/")).unwrap();
    a.send(&url, "anyone?".into()).unwrap();
    let ev = expect(&a_ev, "connect failed", |e| {
        matches!(e, TransportEvent::ConnectFailed { .. })
    });
    assert!(
        matches!(
            ev,
            TransportEvent::ConnectFailed {
                error: ConnectError::Timeout,
                ..
            }
        ),
        "{ev:?}"
    );
    // Stopping while a connect hangs is prompt too.
    let (c, _c_ev) = start(TransportConfig {
        connect_timeout_ms: 10_000,
        ..config()
    });
    c.send(&url, "anyone?".into()).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    assert!(c.stop().is_ok());
    drop(held);
}
