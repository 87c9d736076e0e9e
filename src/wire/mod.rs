//! The wire format of the membership protocol: JSON messages carried in
//! WebSocket text frames (or any transport that moves strings).
//!
//! Every message is one JSON object with a protocol version `v` and a `type`
//! (see PROTOCOL.md for each type's fields). [`decode`] is strict: it checks
//! the size limit before parsing, refuses unknown versions, types and fields,
//! and checks the per-message limits; it never panics.
//!
//! ```
//! use peerdisc::wire::{decode, encode, Message, Ping};
//! use peerdisc::NodeId;
//!
//! let ping = Message::Ping(Ping::new(7, NodeId::new("node-b").unwrap()));
//! let json = encode(&ping);
//! assert_eq!(json, r#"{"v":1,"type":"ping","seq":7,"target":"node-b"}"#);
//! assert_eq!(decode(json.as_bytes()).unwrap(), ping);
//! ```

mod codec;
mod datagram;
mod error;
mod message;
mod nonce;
mod record_form;
mod seed;
mod state;
mod summary;

pub(crate) use codec::json_len;
pub use codec::{decode, decode_str, encode, encoded_len};
pub use datagram::{
    datagram_allowed, datagram_body, datagram_header, datagram_message_room, decode_datagram_body,
    encode_datagram, parse_datagram, travels_as_datagram, DatagramFrame, DATAGRAM_HEADER_LEN,
    DATAGRAM_MAGIC, DATAGRAM_VERSION, DEFAULT_MAX_DATAGRAM_BYTES, MAX_DATAGRAM_BYTES,
    MIN_DATAGRAM_BYTES,
};
pub use error::WireError;
pub use message::{
    Ack, GossipAnnouncement, Hello, Message, Nack, PeerList, PeerListRequest, Ping, PingReq,
    PushPull, StateClaim,
};
pub use nonce::Nonce;
pub use seed::{decode_seed_compatible, AnnouncedPeer, SeedPeer};
pub use state::MemberState;
pub use summary::{
    bucket_of, buckets_for, entry_hash, id_hash, DigestSummary, SummaryBuckets,
    MAX_SUMMARY_BUCKETS, MIN_SUMMARY_BUCKETS,
};

/// The protocol version this build speaks and accepts.
pub const PROTOCOL_VERSION: u32 = 1;
/// Largest accepted message, in bytes (checked before parsing).
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;
/// Most full peer records (or seed peers) in one message.
pub const MAX_PEERS_PER_MESSAGE: usize = 1024;
/// Most compact member states (liveness updates, digest entries) in one
/// message.
pub const MAX_STATES_PER_MESSAGE: usize = 16_384;
/// Most node ids asked for in one `peer_list_request`.
pub const MAX_REQUESTED_IDS: usize = 1024;
/// The highest incarnation a node ever takes (2^53 - 1, the largest integer
/// every JSON reader holds exactly). A claim above it is refused by the
/// membership core; a third party's accusation must stay below it, so the
/// accused can always refute with a higher one.
pub const MAX_INCARNATION: u64 = (1 << 53) - 1;
