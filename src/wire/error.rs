use super::{MAX_MESSAGE_BYTES, PROTOCOL_VERSION};

/// Why a received message was refused. Nothing already known is changed by
/// a refused message; the sender is counted as unhealthy by the membership
/// core.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The message is larger than [`MAX_MESSAGE_BYTES`]; it was not parsed.
    #[error("message is {len} bytes, the limit is {max}")]
    TooLarge {
        /// Size of the refused message.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The bytes are not UTF-8 or not JSON.
    #[error("not a JSON message: {0}")]
    NotJson(String),
    /// The JSON is not an object.
    #[error("a message must be a JSON object")]
    NotAnObject,
    /// The object has no `type` field (or it is not a string).
    #[error("the message has no string `type` field")]
    MissingType,
    /// The `type` is not one this build knows.
    #[error("unknown message type {0:?}")]
    UnknownType(String),
    /// The object has no `v` field (only `gossip_announcement` may omit it).
    #[error("the {0} message has no protocol version `v`")]
    MissingVersion(&'static str),
    /// The protocol version is not [`PROTOCOL_VERSION`].
    #[error("unsupported protocol version {found} (this build speaks {supported})")]
    UnsupportedVersion {
        /// The version found.
        found: u64,
        /// The version this build speaks.
        supported: u32,
    },
    /// A field is missing, unknown, of the wrong type, or invalid (a bad
    /// node id, address or record).
    #[error("invalid {kind} message: {reason}")]
    Invalid {
        /// The message type.
        kind: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// A datagram's framing is damaged (see `wire::parse_datagram`).
    #[error("malformed datagram: {0}")]
    BadDatagram(&'static str),
    /// A datagram's framing version is not [`DATAGRAM_VERSION`](super::DATAGRAM_VERSION).
    #[error("unsupported datagram framing version {0} (this build speaks 1)")]
    UnsupportedDatagramVersion(u8),
    /// A list in the message is longer than its per-message limit.
    #[error("{what} has {count} entries, the limit per message is {max}")]
    TooMany {
        /// Which list.
        what: &'static str,
        /// Its length.
        count: usize,
        /// The limit.
        max: usize,
    },
}

impl WireError {
    pub(crate) fn too_large(len: usize) -> Self {
        WireError::TooLarge {
            len,
            max: MAX_MESSAGE_BYTES,
        }
    }

    pub(crate) fn unsupported(found: u64) -> Self {
        WireError::UnsupportedVersion {
            found,
            supported: PROTOCOL_VERSION,
        }
    }
}
