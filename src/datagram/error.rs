use crate::keyring::KeyringError;
use crate::wire::WireError;

/// Why a datagram could not be sent, received or opened, or the socket
/// could not be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DatagramError {
    /// The UDP socket could not be bound.
    #[error("cannot bind the datagram socket on {addr}: {reason}")]
    Bind {
        /// The address tried.
        addr: std::net::SocketAddr,
        /// The operating system's reason.
        reason: String,
    },
    /// The receiver thread could not be started.
    #[error("cannot start the datagram receiver thread: {0}")]
    Thread(String),
    /// The framing or the message inside is malformed.
    #[error("{0}")]
    Malformed(#[from] WireError),
    /// This node has a cluster key and the datagram is plaintext.
    #[error("plaintext datagram refused: this node requires the cluster key")]
    PlaintextRefused,
    /// This node has no cluster key and the datagram is sealed.
    #[error("sealed datagram refused: this node has no cluster key")]
    SealedRefused,
    /// The sealed datagram names a key this node does not hold, does not
    /// authenticate, or is too short to hold a seal.
    #[error("sealed datagram not opened: {0}")]
    Unsealed(KeyringError),
    /// The datagram to send is larger than the configured limit.
    #[error("datagram is {len} bytes, the limit is {max}")]
    TooLarge {
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The socket refused the datagram (its send buffer is full, or the
    /// destination is unreachable); it is lost like any datagram.
    #[error("datagram not sent: {0}")]
    Send(String),
}
