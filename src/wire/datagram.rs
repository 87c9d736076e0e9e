//! The datagram framing (PROTOCOL.md, "Datagrams"): how one protocol
//! message travels in one UDP datagram.
//!
//! ```text
//! byte 0-1  magic "pd"
//! byte 2    framing version (1)
//! byte 3    0 = plaintext, 1 = sealed with the cluster key
//! then      the body: plaintext, or sealed (peerdisc::keyring, binary
//!           form: key id, nonce, ciphertext + tag; the associated data is
//!           bytes 0-3 then the key id)
//! body      1 byte: length L of the sender's node id (1-128),
//!           L bytes: the sender's node id,
//!           the rest: one protocol message, exactly as on WebSocket
//!           (`wire::encode`), decoded strictly by `wire::decode`.
//! ```
//!
//! The message bytes are those of a WebSocket frame, so whatever a message
//! carries (signed records, signed claims) passes through unchanged.

use super::{decode, Message, WireError};
use crate::model::NodeId;

/// The first two bytes of every datagram.
pub const DATAGRAM_MAGIC: [u8; 2] = *b"pd";
/// The framing version this build speaks and accepts.
pub const DATAGRAM_VERSION: u8 = 1;
/// Bytes of the header (magic, version, kind).
pub const DATAGRAM_HEADER_LEN: usize = 4;
/// Default largest datagram, in bytes: fits a 1,500-byte Ethernet MTU with
/// IPv6 and UDP headers (48 bytes) and some tunnel overhead.
pub const DEFAULT_MAX_DATAGRAM_BYTES: usize = 1_400;
/// Smallest allowed datagram size limit.
pub const MIN_DATAGRAM_BYTES: usize = 512;
/// Largest allowed datagram size limit (the largest UDP payload over IPv4).
pub const MAX_DATAGRAM_BYTES: usize = 65_507;

const PLAIN: u8 = 0;
const SEALED: u8 = 1;

/// A datagram's header, split from its body (not yet opened or decoded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatagramFrame<'a> {
    /// Whether the body is sealed with the cluster key.
    pub sealed: bool,
    /// The header bytes (authenticated with a sealed body).
    pub header: &'a [u8],
    /// The body (plaintext or sealed).
    pub body: &'a [u8],
}

/// The header of a datagram whose body is sealed (`true`) or plaintext.
pub fn datagram_header(sealed: bool) -> [u8; DATAGRAM_HEADER_LEN] {
    let m = DATAGRAM_MAGIC;
    [
        m[0],
        m[1],
        DATAGRAM_VERSION,
        if sealed { SEALED } else { PLAIN },
    ]
}

/// The plaintext body: sender id and message text.
pub fn datagram_body(from: &NodeId, message_json: &str) -> Vec<u8> {
    let id = from.as_str().as_bytes();
    let mut b = Vec::with_capacity(1 + id.len() + message_json.len());
    // A node id is at most 128 bytes.
    b.push(id.len() as u8);
    b.extend_from_slice(id);
    b.extend_from_slice(message_json.as_bytes());
    b
}

/// A whole plaintext datagram.
pub fn encode_datagram(from: &NodeId, message: &Message) -> Vec<u8> {
    let mut d = datagram_header(false).to_vec();
    d.extend_from_slice(&datagram_body(from, &super::encode(message)));
    d
}

/// Splits a datagram into header and body, checking the size limit (before
/// anything else), the magic, the version and the kind.
pub fn parse_datagram(bytes: &[u8], max_bytes: usize) -> Result<DatagramFrame<'_>, WireError> {
    if bytes.len() > max_bytes {
        return Err(WireError::TooLarge {
            len: bytes.len(),
            max: max_bytes,
        });
    }
    if bytes.len() < DATAGRAM_HEADER_LEN {
        return Err(WireError::BadDatagram("shorter than its header"));
    }
    if bytes[..2] != DATAGRAM_MAGIC {
        return Err(WireError::BadDatagram("no peerdisc magic"));
    }
    if bytes[2] != DATAGRAM_VERSION {
        return Err(WireError::UnsupportedDatagramVersion(bytes[2]));
    }
    let sealed = match bytes[3] {
        PLAIN => false,
        SEALED => true,
        _ => return Err(WireError::BadDatagram("unknown kind byte")),
    };
    let (header, body) = bytes.split_at(DATAGRAM_HEADER_LEN);
    Ok(DatagramFrame {
        sealed,
        header,
        body,
    })
}

/// Decodes a plaintext body: the sender's id and its message (strictly).
pub fn decode_datagram_body(body: &[u8]) -> Result<(NodeId, Message), WireError> {
    let (&len, rest) = body
        .split_first()
        .ok_or(WireError::BadDatagram("empty body"))?;
    let len = usize::from(len);
    if len == 0 || rest.len() < len {
        return Err(WireError::BadDatagram("sender id length out of range"));
    }
    let (id, msg) = rest.split_at(len);
    let id = std::str::from_utf8(id).map_err(|_| WireError::BadDatagram("sender id not UTF-8"))?;
    let from = NodeId::new(id).map_err(|_| WireError::BadDatagram("invalid sender id"))?;
    Ok((from, decode(msg)?))
}

/// Room for the message text in a datagram of `max_bytes` sent by a node
/// whose id is `id_len` bytes, sealed or not.
pub fn datagram_message_room(max_bytes: usize, id_len: usize, sealed: bool) -> usize {
    let seal = if sealed {
        crate::keyring::SEAL_OVERHEAD
    } else {
        0
    };
    max_bytes.saturating_sub(DATAGRAM_HEADER_LEN + seal + 1 + id_len)
}

/// The message kinds that travel as datagrams (when they fit): probes and
/// their answers, gossip, single liveness claims, and requests for records.
/// Bootstrap, anti-entropy digests and record lists stay on WebSocket,
/// except a record list answering a datagram (`datagram_allowed`).
pub fn travels_as_datagram(m: &Message) -> bool {
    matches!(
        m,
        Message::Ping(_)
            | Message::Ack(_)
            | Message::PingReq(_)
            | Message::Nack(_)
            | Message::GossipAnnouncement(_)
            | Message::Suspect(_)
            | Message::Alive(_)
            | Message::Dead(_)
            | Message::Leave(_)
            | Message::PeerListRequest(_)
    )
}

/// Whether `m` may go out as a datagram (when it fits). `answering`: when
/// `m` is the direct answer to a message from its recipient, whether that
/// message came as a datagram (`Some(true)`) or over WebSocket
/// (`Some(false)`). An `ack` or `nack` goes back the way its message came;
/// a `peer_list` travels as a datagram only as the answer to a datagram (a
/// `peer_list_request` for one or a few records: the asker then needs no
/// WebSocket connection for them); any other `peer_list` (bootstrap
/// answers, records too large for a datagram) stays on WebSocket.
pub fn datagram_allowed(m: &Message, answering: Option<bool>) -> bool {
    match m {
        Message::PeerList(_) => answering == Some(true),
        Message::Ack(_) | Message::Nack(_) => answering != Some(false),
        _ => travels_as_datagram(m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Ping;

    fn id(s: &str) -> NodeId {
        NodeId::new(s).unwrap()
    }

    #[test]
    fn record_lists_travel_as_datagrams_only_as_answers_to_datagrams() {
        let list = Message::PeerList(crate::wire::PeerList::default());
        assert!(!travels_as_datagram(&list));
        assert!(datagram_allowed(&list, Some(true)));
        assert!(!datagram_allowed(&list, Some(false)));
        assert!(!datagram_allowed(&list, None));
        let ping = Message::Ping(Ping::new(7, id("node-b")));
        assert!(datagram_allowed(&ping, None));
        let ack = Message::Ack(crate::wire::Ack {
            seq: 7,
            node_id: None,
            peers: Vec::new(),
            states: Vec::new(),
        });
        assert!(datagram_allowed(&ack, Some(true)));
        assert!(!datagram_allowed(&ack, Some(false)));
        assert!(!datagram_allowed(
            &Message::PushPull(crate::wire::PushPull::default()),
            Some(true)
        ));
    }

    #[test]
    fn a_datagram_round_trips() {
        let ping = Message::Ping(Ping::new(7, id("node-b")));
        let d = encode_datagram(&id("node-a"), &ping);
        assert_eq!(&d[..4], b"pd\x01\x00");
        let f = parse_datagram(&d, 1400).unwrap();
        assert!(!f.sealed);
        assert_eq!(
            decode_datagram_body(f.body).unwrap(),
            (id("node-a"), ping.clone())
        );
        assert_eq!(
            d.len(),
            DATAGRAM_HEADER_LEN + 1 + 6 + crate::wire::encoded_len(&ping)
        );
    }

    #[test]
    fn malformed_datagrams_are_refused_with_a_reason() {
        let ping = Message::Ping(Ping::new(7, id("node-b")));
        let good = encode_datagram(&id("node-a"), &ping);
        assert!(matches!(
            parse_datagram(&good, 20),
            Err(WireError::TooLarge { max: 20, .. })
        ));
        assert!(matches!(
            parse_datagram(b"pd", 1400),
            Err(WireError::BadDatagram(_))
        ));
        assert!(matches!(
            parse_datagram(b"xx\x01\x00", 1400),
            Err(WireError::BadDatagram(_))
        ));
        assert_eq!(
            parse_datagram(b"pd\x02\x00", 1400),
            Err(WireError::UnsupportedDatagramVersion(2))
        );
        assert!(matches!(
            parse_datagram(b"pd\x01\x07", 1400),
            Err(WireError::BadDatagram(_))
        ));
        for body in [
            &b""[..],
            b"\x00x",
            b"\x09node",
            b"\x04no de{}",
            b"\x01a{\"v\":1}",
        ] {
            assert!(decode_datagram_body(body).is_err(), "{body:?}");
        }
    }

    #[test]
    fn the_message_room_leaves_space_for_header_sender_and_seal() {
        assert_eq!(datagram_message_room(1400, 6, false), 1400 - 4 - 1 - 6);
        assert_eq!(
            datagram_message_room(1400, 6, true),
            1400 - 4 - 1 - 6 - crate::keyring::SEAL_OVERHEAD
        );
        assert_eq!(datagram_message_room(3, 6, true), 0);
    }
}
