//! The driver's datagram path (PROTOCOL.md, "Datagrams"): which peer is
//! reached over UDP, and when a peer falls back to WebSocket.
//!
//! A peer is sent datagrams when its record names a `udp://` address with
//! an IP literal (or, before its record is known, when it sent us one) and
//! the message kind travels as a datagram and fits. A peer whose
//! datagrams go unanswered ([`FALLBACK_AFTER`] pings in a row with no
//! `ack` or `nack` coming back over UDP) falls back to WebSocket, as
//! memberlist falls back to a TCP ping; its probes still also go out as
//! datagrams, so that the path is taken again as soon as an answer comes
//! back.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use crossbeam_channel::Receiver;

use crate::datagram::{self, DatagramConfig, DatagramError, DatagramSocket, Received};
use crate::keyring::Keyring;
use crate::model::{NodeId, PeerRecord};
use crate::wire::{self, Message};

/// Unanswered pings (in a row) after which a peer is reached over
/// WebSocket until a datagram answer arrives again.
pub(crate) const FALLBACK_AFTER: u32 = 4;
/// Pings remembered to recognise the core's second direct ping of a probe.
const RECENT_PINGS: usize = 64;
/// Received datagrams waiting for the driver.
const QUEUE: usize = 4096;
/// How long stopping waits for the receiver thread.
const STOP_TIMEOUT: Duration = Duration::from_millis(500);

/// How a message reached this node, or should leave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Channel {
    Datagram,
    WebSocket,
}

#[derive(Debug, Default)]
struct PeerPath {
    /// From the peer's record.
    advertised: Option<SocketAddr>,
    /// Where its last datagram came from (used until its record is known).
    source: Option<SocketAddr>,
    /// Pings sent as datagrams since the last datagram answer.
    unanswered: u32,
}

impl PeerPath {
    fn addr(&self) -> Option<SocketAddr> {
        self.advertised.or(self.source)
    }
}

/// What to do with one outgoing message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    /// Send these datagram bytes to this address; also over WebSocket
    /// when `and_websocket` is set.
    Datagram {
        to: SocketAddr,
        bytes: Vec<u8>,
        and_websocket: bool,
    },
    /// WebSocket only.
    WebSocket,
}

/// Counts shown in `NodeStats`.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct PathCounts {
    pub datagrams_in: u64,
    pub datagrams_out: u64,
    pub datagram_bytes_out: u64,
    pub datagrams_malformed: u64,
    pub datagrams_refused: u64,
    /// Lost here: the receive queue was full, or the kernel refused a send.
    pub datagrams_dropped: u64,
    pub fallback_peers: usize,
}

pub(crate) struct DatagramPath {
    socket: DatagramSocket,
    pub rx: Receiver<Received>,
    max_bytes: usize,
    me: NodeId,
    peers: HashMap<NodeId, PeerPath>,
    recent_pings: VecDeque<(NodeId, u64)>,
    pub counts: PathCounts,
}

impl DatagramPath {
    /// Binds UDP on `listen` (the WebSocket listener's address and port;
    /// any free port when that one is taken).
    pub fn bind(
        config: &DatagramConfig,
        listen: SocketAddr,
        me: &NodeId,
    ) -> Result<Self, DatagramError> {
        let name = me.as_str().chars().take(12).collect::<String>();
        let (socket, rx) = match DatagramSocket::bind(listen, config.max_bytes, QUEUE, &name) {
            Ok(s) => s,
            Err(e) => {
                let mut any = listen;
                any.set_port(0);
                log::info!("peerdisc: {me}: {e}; binding UDP on another port");
                DatagramSocket::bind(any, config.max_bytes, QUEUE, &name)?
            }
        };
        Ok(DatagramPath {
            socket,
            rx,
            max_bytes: config.max_bytes,
            me: me.clone(),
            peers: HashMap::new(),
            recent_pings: VecDeque::new(),
            counts: PathCounts::default(),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.socket.local_addr()
    }

    pub fn stop(&mut self) {
        self.socket.stop(STOP_TIMEOUT);
    }

    /// Notes where a peer's record says its datagram path is.
    pub fn learn_record(&mut self, record: &PeerRecord) {
        let addr = record
            .addresses
            .iter()
            .find_map(|a| a.datagram_socket_addr());
        match addr {
            Some(a) => {
                self.peers
                    .entry(record.node_id.clone())
                    .or_default()
                    .advertised = Some(a)
            }
            None => {
                if let Some(p) = self.peers.get_mut(&record.node_id) {
                    p.advertised = None;
                }
            }
        }
    }

    pub fn forget(&mut self, id: &NodeId) {
        self.peers.remove(id);
    }

    /// Opens a received datagram: its sender and message, or `None` (the
    /// datagram is counted as malformed or refused and changes nothing).
    pub fn open(&mut self, r: &Received, ring: Option<&Keyring>) -> Option<(NodeId, Message)> {
        match datagram::open(ring, &r.bytes, self.max_bytes) {
            Ok((from, msg)) if from != self.me => {
                self.counts.datagrams_in += 1;
                let p = self.peers.entry(from.clone()).or_default();
                p.source = Some(r.from);
                if matches!(msg, Message::Ack(_) | Message::Nack(_)) {
                    p.unanswered = 0;
                }
                Some((from, msg))
            }
            Ok(_) => None,
            Err(e) => {
                if e.is_key_mismatch() {
                    self.counts.datagrams_refused += 1;
                } else {
                    self.counts.datagrams_malformed += 1;
                }
                log::debug!(
                    "peerdisc: {}: datagram from {} refused: {e}",
                    self.me,
                    r.from
                );
                None
            }
        }
    }

    /// How `message` should reach `to`. `reply` is the channel of the
    /// message being answered, when this is its direct answer.
    pub fn route(
        &mut self,
        to: &NodeId,
        message: &Message,
        reply: Option<Channel>,
        ring: Option<&Keyring>,
    ) -> Route {
        if !wire::datagram_allowed(message, reply.map(|c| c == Channel::Datagram)) {
            return Route::WebSocket;
        }
        let Some(p) = self.peers.get(to) else {
            return Route::WebSocket;
        };
        let Some(addr) = p.addr() else {
            return Route::WebSocket;
        };
        let fallen_back = p.unanswered >= FALLBACK_AFTER && reply.is_none();
        let is_ping = matches!(message, Message::Ping(_));
        // In fallback only probes go out as datagrams too (to find the
        // path again); everything else goes over WebSocket alone.
        if fallen_back && !is_ping {
            return Route::WebSocket;
        }
        let json = wire::encode(message);
        let bytes = match datagram::seal(ring, &self.me, &json, self.max_bytes) {
            Ok(b) => b,
            Err(_) => return Route::WebSocket,
        };
        let mut and_websocket = fallen_back;
        if let Message::Ping(ping) = message {
            let key = (to.clone(), ping.seq);
            // The core's second direct ping of a probe: the first got no
            // answer, so this one also goes over WebSocket (memberlist's
            // TCP fallback ping).
            if self.recent_pings.contains(&key) {
                and_websocket = true;
            } else {
                if self.recent_pings.len() == RECENT_PINGS {
                    self.recent_pings.pop_front();
                }
                self.recent_pings.push_back(key);
            }
        }
        Route::Datagram {
            to: addr,
            bytes,
            and_websocket,
        }
    }

    /// Sends datagram bytes; whether the kernel took them (a refused send
    /// is counted and otherwise ignored, as a lost datagram).
    pub fn send(
        &mut self,
        to_id: &NodeId,
        to: SocketAddr,
        bytes: &[u8],
        message: &Message,
    ) -> bool {
        if matches!(message, Message::Ping(_) | Message::PingReq(_)) {
            if let Some(p) = self.peers.get_mut(to_id) {
                p.unanswered = p.unanswered.saturating_add(1);
            }
        }
        let sent = self.socket.send_to(bytes, to).is_ok();
        if sent {
            self.counts.datagrams_out += 1;
            self.counts.datagram_bytes_out += bytes.len() as u64;
        }
        sent
    }

    /// Whether `id` is reached over WebSocket only (no datagram path, or
    /// fallen back): the driver then opens its connection ahead of probes.
    pub fn needs_websocket(&self, id: &NodeId) -> bool {
        self.peers
            .get(id)
            .is_none_or(|p| p.addr().is_none() || p.unanswered >= FALLBACK_AFTER)
    }

    pub fn counts(&self) -> PathCounts {
        PathCounts {
            fallback_peers: self
                .peers
                .values()
                .filter(|p| p.unanswered >= FALLBACK_AFTER)
                .count(),
            datagrams_dropped: {
                let st = self.socket.stats();
                st.dropped.load(std::sync::atomic::Ordering::Relaxed)
                    + st.send_failed.load(std::sync::atomic::Ordering::Relaxed)
            },
            ..self.counts
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PeerAddress;
    use crate::wire::{Ack, Ping, PushPull};

    fn id(s: &str) -> NodeId {
        NodeId::new(s).unwrap()
    }

    fn path() -> DatagramPath {
        DatagramPath::bind(
            &DatagramConfig::default(),
            "127.0.0.1:0".parse().unwrap(),
            &id("me"),
        )
        .unwrap()
    }

    fn record(of: &str, udp: SocketAddr) -> PeerRecord {
        let mut r = PeerRecord::new(id(of));
        r.addresses
            .push(PeerAddress::new("ws://127.0.0.1:1/peerdisc").unwrap());
        r.addresses.push(PeerAddress::datagram(udp));
        r
    }

    fn ping(seq: u64) -> Message {
        Message::Ping(Ping::new(seq, id("b")))
    }

    #[test]
    fn probes_go_as_datagrams_and_digests_over_websocket() {
        let mut p = path();
        assert_eq!(p.route(&id("b"), &ping(1), None, None), Route::WebSocket);
        p.learn_record(&record("b", "127.0.0.1:9".parse().unwrap()));
        assert!(matches!(
            p.route(&id("b"), &ping(1), None, None),
            Route::Datagram {
                and_websocket: false,
                ..
            }
        ));
        let digest = Message::PushPull(PushPull::default());
        assert_eq!(p.route(&id("b"), &digest, None, None), Route::WebSocket);
        // The answer to a WebSocket message goes back over WebSocket.
        let ack = Message::Ack(Ack {
            seq: 1,
            node_id: None,
            peers: Vec::new(),
            states: Vec::new(),
        });
        assert_eq!(
            p.route(&id("b"), &ack, Some(Channel::WebSocket), None),
            Route::WebSocket
        );
    }

    #[test]
    fn a_record_list_answering_a_datagram_goes_back_as_one_when_it_fits() {
        let mut p = path();
        p.learn_record(&record("b", "127.0.0.1:9".parse().unwrap()));
        let one = Message::PeerList(crate::wire::PeerList {
            peers: vec![std::sync::Arc::new(record(
                "c",
                "127.0.0.1:10".parse().unwrap(),
            ))],
            states: Vec::new(),
        });
        assert!(matches!(
            p.route(&id("b"), &one, Some(Channel::Datagram), None),
            Route::Datagram {
                and_websocket: false,
                ..
            }
        ));
        // Not as an answer to a datagram (a bootstrap answer, news): over
        // WebSocket.
        assert_eq!(p.route(&id("b"), &one, None, None), Route::WebSocket);
        assert_eq!(
            p.route(&id("b"), &one, Some(Channel::WebSocket), None),
            Route::WebSocket
        );
        // Too large for a datagram: over WebSocket.
        let many = Message::PeerList(crate::wire::PeerList {
            peers: (0..20)
                .map(|i| {
                    std::sync::Arc::new(record(&format!("n{i}"), "127.0.0.1:10".parse().unwrap()))
                })
                .collect(),
            states: Vec::new(),
        });
        assert_eq!(
            p.route(&id("b"), &many, Some(Channel::Datagram), None),
            Route::WebSocket
        );
    }

    #[test]
    fn a_second_ping_of_a_probe_also_goes_over_websocket() {
        let mut p = path();
        p.learn_record(&record("b", "127.0.0.1:9".parse().unwrap()));
        let _ = p.route(&id("b"), &ping(5), None, None);
        assert!(matches!(
            p.route(&id("b"), &ping(5), None, None),
            Route::Datagram {
                and_websocket: true,
                ..
            }
        ));
    }

    #[test]
    fn unanswered_pings_fall_back_to_websocket_until_an_answer_comes() {
        let mut a = path();
        let mut b = path();
        a.learn_record(&record("b", b.local_addr()));
        for seq in 0..u64::from(FALLBACK_AFTER) {
            let m = ping(seq);
            if let Route::Datagram { to, bytes, .. } = a.route(&id("b"), &m, None, None) {
                a.send(&id("b"), to, &bytes, &m);
            }
        }
        assert!(a.needs_websocket(&id("b")));
        let claim = Message::Alive(crate::wire::StateClaim::new(id("me"), 1, 1));
        assert_eq!(a.route(&id("b"), &claim, None, None), Route::WebSocket);
        assert!(matches!(
            a.route(&id("b"), &ping(99), None, None),
            Route::Datagram {
                and_websocket: true,
                ..
            }
        ));
        // b answers over UDP: a takes the path again.
        let ack = Message::Ack(Ack {
            seq: 1,
            node_id: None,
            peers: Vec::new(),
            states: Vec::new(),
        });
        b.me = id("b");
        let bytes = datagram::seal(None, &id("b"), &wire::encode(&ack), 1400).unwrap();
        b.socket.send_to(&bytes, a.local_addr()).unwrap();
        let r = a.rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(a.open(&r, None).unwrap().0, id("b"));
        assert!(!a.needs_websocket(&id("b")));
        // Damage is counted, not passed on.
        let bad = Received {
            from: r.from,
            bytes: b"pd\x01\x00junk".to_vec(),
        };
        assert!(a.open(&bad, None).is_none());
        assert_eq!(a.counts().datagrams_malformed, 1);
    }
}
