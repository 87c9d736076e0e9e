//! The datagram path between real nodes on loopback: probes and gossip go
//! over UDP, sealed with the cluster key when there is one; damaged
//! datagrams are counted and change nothing; a node without the path is
//! reached over WebSocket.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use peerdisc::keyring::Keyring;
use peerdisc::node::Node;
use peerdisc::Liveness;

fn node(id: &str, keys: &[String], udp: bool, bootstrap: Option<&Node>) -> Node {
    let mut b = Node::builder().node_id(id).configure(|c| {
        c.cluster_keys = keys.to_vec();
        c.datagram.enabled = udp;
        c.rebootstrap_interval_ms = 60_000;
    });
    if let Some(s) = bootstrap {
        b = b.bootstrap(s.address().as_str());
    }
    b.start().unwrap()
}

fn wait(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out waiting for {what}");
}

fn udp_addr(of: &Node, id: &str) -> Option<SocketAddr> {
    of.registry()
        .get(id)?
        .addresses()
        .iter()
        .find_map(|a| a.datagram_socket_addr())
}

fn all_know_all(nodes: &[&Node]) -> bool {
    nodes.iter().all(|n| {
        nodes.iter().all(|m| {
            m.node_id() == n.node_id()
                || n.registry()
                    .get(m.node_id().as_str())
                    .is_some_and(|p| p.liveness == Liveness::Alive)
        })
    })
}

#[test]
fn probes_and_gossip_travel_as_datagrams_and_detect_a_crash() {
    let a = node("dg-a", &[], true, None);
    let b = node("dg-b", &[], true, Some(&a));
    let c = node("dg-c", &[], true, Some(&a));
    wait("all know all", 20, || all_know_all(&[&a, &b, &c]));
    // Records advertise the datagram path, and it is used.
    assert!(udp_addr(&b, "dg-a").is_some());
    wait("datagrams both ways", 10, || {
        [&a, &b, &c]
            .iter()
            .all(|n| n.stats().datagrams_in > 5 && n.stats().datagrams_out > 5)
    });
    assert_eq!(a.stats().datagram_fallback_peers, 0);
    // The tally by type: pings went out as datagrams, a joiner's catch-up
    // digests over WebSocket (the seed learned everyone from their hellos
    // and has no catching up to do), and the datagram bytes add up to the
    // total sent.
    wait("a joiner's digests over WebSocket", 10, || {
        b.stats()
            .sent
            .get("push_pull")
            .is_some_and(|c| c.websocket.messages > 0 && c.datagram.messages == 0)
    });
    let st = a.stats();
    assert!(st.sent["ping"].datagram.messages > 0, "{:?}", st.sent);
    let udp_bytes: u64 = st.sent.values().map(|c| c.datagram.bytes).sum();
    assert!(
        udp_bytes > 0 && udp_bytes <= st.datagram_bytes_out,
        "{udp_bytes} vs {}",
        st.datagram_bytes_out
    );
    c.abort().unwrap();
    wait("the crash seen", 20, || {
        [&a, &b].iter().all(|n| {
            n.registry()
                .get("dg-c")
                .is_none_or(|p| p.liveness == Liveness::Dead)
        })
    });
    a.stop().unwrap();
    b.stop().unwrap();
}

#[test]
fn sealed_datagrams_flow_and_damaged_ones_are_counted() {
    let k = vec![Keyring::key_text(&Keyring::generate_key())];
    let a = node("dk-a", &k, true, None);
    let b = node("dk-b", &k, true, Some(&a));
    wait("both know each other", 20, || all_know_all(&[&a, &b]));
    wait("datagrams", 10, || b.stats().datagrams_in > 3);
    let to = udp_addr(&b, "dk-a").expect("a advertises its datagram path");
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let before = a.stats();
    // Damaged framing, a plaintext datagram at a keyed node, a wrong key.
    s.send_to(b"pd\x09\x00junk", to).unwrap();
    s.send_to(b"pd\x01\x00\x04dk-x{\"v\":1,\"type\":\"dead\",\"node_id\":\"dk-b\",\"incarnation\":9,\"version\":9}", to)
        .unwrap();
    let other = Keyring::new(vec![Keyring::generate_key()]).unwrap();
    let forged = peerdisc::datagram::seal(
        Some(&other),
        &peerdisc::NodeId::new("dk-x").unwrap(),
        r#"{"v":1,"type":"dead","node_id":"dk-b","incarnation":9,"version":9}"#,
        1400,
    )
    .unwrap();
    s.send_to(&forged, to).unwrap();
    wait("refusals counted", 10, || {
        let st = a.stats();
        st.datagrams_malformed > before.datagrams_malformed
            && st.datagrams_refused >= before.datagrams_refused + 2
    });
    // Nothing changed: b is still alive at a.
    assert_eq!(a.registry().get("dk-b").unwrap().liveness, Liveness::Alive);
    a.stop().unwrap();
    b.stop().unwrap();
}

#[test]
fn a_node_without_the_path_is_reached_over_websocket() {
    let a = node("dw-a", &[], true, None);
    let b = node("dw-b", &[], false, Some(&a));
    wait("both know each other", 20, || all_know_all(&[&a, &b]));
    assert!(udp_addr(&a, "dw-b").is_none());
    // Some probe rounds, all answered over WebSocket: no suspicion.
    std::thread::sleep(Duration::from_secs(2));
    assert!(all_know_all(&[&a, &b]));
    assert_eq!(b.stats().datagrams_in, 0);
    a.stop().unwrap();
    b.stop().unwrap();
}

#[test]
fn a_sender_known_only_by_its_datagrams_is_asked_for_its_record_over_udp() {
    let a = node("du-a", &[], true, None);
    let b = node("du-b", &[], true, Some(&a));
    wait("both know each other", 20, || all_know_all(&[&a, &b]));
    let to = udp_addr(&b, "du-a").unwrap();
    // A stranger pings a: a has no WebSocket address for it, only the
    // datagram's source, and asks it for its record there.
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let stranger = peerdisc::NodeId::new("du-stranger").unwrap();
    let ping = r#"{"v":1,"type":"ping","seq":1,"target":"du-a"}"#;
    let d = peerdisc::datagram::seal(None, &stranger, ping, 1400).unwrap();
    let mut kinds = Vec::new();
    let end = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 2048];
    while Instant::now() < end && !kinds.iter().any(|k| k == "peer_list_request") {
        s.send_to(&d, to).unwrap();
        while let Ok((n, _)) = s.recv_from(&mut buf) {
            if let Ok((from, msg)) = peerdisc::datagram::open(None, &buf[..n], 1400) {
                assert_eq!(from.as_str(), "du-a");
                kinds.push(msg.kind().to_string());
            }
        }
    }
    assert!(kinds.iter().any(|k| k == "ack"), "{kinds:?}");
    assert!(kinds.iter().any(|k| k == "peer_list_request"), "{kinds:?}");
    a.stop().unwrap();
    b.stop().unwrap();
}

#[test]
fn datagram_addresses_are_not_bootstrap_or_advertised_addresses() {
    let boot = Node::builder().bootstrap("udp://127.0.0.1:7400").build();
    assert!(boot.is_err());
    let adv = Node::builder().advertise("udp://127.0.0.1:7400").build();
    assert!(adv.is_err());
    let small = Node::builder()
        .configure(|c| c.datagram.max_bytes = 100)
        .build();
    assert!(small.unwrap_err().to_string().contains("datagram"));
}
