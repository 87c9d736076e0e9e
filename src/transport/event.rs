//! What the transport reports: [`TransportEvent`] and its parts.

use std::fmt;
use std::net::SocketAddr;

use crate::model::PeerAddress;

use super::ConnectError;

/// Identifies one connection for its lifetime; never reused by a transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u64);

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Who opened a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The remote connected to our listener.
    Inbound,
    /// We connected to the remote.
    Outbound,
}

/// Why the transport cut a remote off.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RejectReason {
    /// `max_connections` was reached; the TCP connection was dropped at once.
    ConnectionLimit,
    /// `max_connections_per_ip` was reached for the remote's IP.
    PerIpLimit,
    /// The table was full and a remote from a less busy IP address took
    /// this connection's place (this one's IP held the most connections).
    Displaced,
    /// The WebSocket handshake did not finish within the handshake timeout.
    HandshakeTimeout,
    /// The upgrade request asked for another path than `ws_path`.
    WrongPath(String),
    /// The handshake failed (not HTTP, not a WebSocket upgrade, ...).
    HandshakeFailed(String),
    /// A message or frame exceeded `max_message_size` / `max_frame_size`.
    MessageTooLarge,
    /// More than `max_messages_per_sec` messages arrived.
    RateLimited,
    /// A binary frame arrived; the protocol speaks text frames only.
    BinaryFrame,
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RejectReason::ConnectionLimit => f.write_str("connection limit reached"),
            RejectReason::PerIpLimit => f.write_str("per-IP connection limit reached"),
            RejectReason::Displaced => {
                f.write_str("displaced by a remote from a less busy address")
            }
            RejectReason::HandshakeTimeout => f.write_str("handshake timeout"),
            RejectReason::WrongPath(p) => write!(f, "wrong path {p:?}"),
            RejectReason::HandshakeFailed(e) => write!(f, "handshake failed: {e}"),
            RejectReason::MessageTooLarge => f.write_str("message too large"),
            RejectReason::RateLimited => f.write_str("message rate limit exceeded"),
            RejectReason::BinaryFrame => f.write_str("binary frame"),
        }
    }
}

/// Why an open connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The remote closed it (close frame or end of stream).
    ClosedByPeer,
    /// [`close`](super::TransportHandle::close) was called.
    ClosedLocally,
    /// The transport is stopping.
    Stopped,
    /// No frame arrived within the idle timeout (the ping went unanswered).
    IdleTimeout,
    /// The transport cut the remote off; a [`TransportEvent::Rejected`]
    /// was sent just before.
    Rejected(RejectReason),
    /// The remote broke the WebSocket protocol.
    Protocol(String),
    /// A socket error (reset, broken pipe, ...).
    Io(String),
}

impl DisconnectReason {
    /// Whether the end counts as a failure of the peer (for its health
    /// score): anything but an orderly close or our own decision to close.
    pub fn is_failure(&self) -> bool {
        !matches!(
            self,
            DisconnectReason::ClosedByPeer
                | DisconnectReason::ClosedLocally
                | DisconnectReason::Stopped
        )
    }
}

/// What happened on the transport; read from the receiver that
/// [`Transport::start`](super::Transport::start) returns.
///
/// Each connection reports `Connected` once open, then `Received` events,
/// then one `Disconnected`. An outbound connection that never opens reports
/// one `ConnectFailed` instead (an inbound one that never opens: one
/// `Rejected`). While the transport stops, connections that had not opened
/// end silently.
///
/// For the peer's health score: `Connected` is a success; `ConnectFailed`
/// is a failure unless its error is [`ConnectError::Cancelled`]; a
/// `Disconnected` is a failure when
/// [`DisconnectReason::is_failure`] says so.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportEvent {
    /// A connection finished its WebSocket handshake.
    Connected {
        /// The connection.
        conn: ConnectionId,
        /// Who opened it.
        direction: Direction,
        /// The remote socket address.
        remote: SocketAddr,
        /// The address dialled (outbound), or `None` (inbound).
        peer: Option<PeerAddress>,
    },
    /// A text frame arrived.
    Received {
        /// The connection it came over; answer with
        /// [`reply`](super::TransportHandle::reply).
        conn: ConnectionId,
        /// The remote socket address.
        remote: SocketAddr,
        /// The message.
        text: String,
    },
    /// An open connection ended.
    Disconnected {
        /// The connection.
        conn: ConnectionId,
        /// The remote socket address.
        remote: SocketAddr,
        /// The peer address the connection served, if any.
        peer: Option<PeerAddress>,
        /// Why.
        reason: DisconnectReason,
    },
    /// An outbound connection could not be opened; the address is now in
    /// reconnection backoff.
    ConnectFailed {
        /// The connection that was being opened.
        conn: ConnectionId,
        /// The address dialled.
        peer: PeerAddress,
        /// Why.
        error: ConnectError,
    },
    /// The transport cut a remote off (limits, timeouts, oversize, rate).
    /// If the connection had been reported `Connected`, a `Disconnected`
    /// follows.
    Rejected {
        /// The connection, if one had been set up.
        conn: Option<ConnectionId>,
        /// The remote socket address.
        remote: SocketAddr,
        /// Why.
        reason: RejectReason,
    },
}
