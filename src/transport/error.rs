//! [`TransportError`] (what a call on the handle can fail with) and
//! [`ConnectError`] (why an outbound connection could not be opened).

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use crate::model::PeerAddress;

use super::ConnectionId;

/// Why a call on the transport failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The listen address could not be bound (for example: in use).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address from the configuration.
        addr: SocketAddr,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// An operating-system resource (poller, thread) could not be made.
    #[error("transport I/O setup failed: {0}")]
    Io(#[from] io::Error),
    /// The configuration is inconsistent.
    #[error("invalid transport configuration: {0}")]
    InvalidConfig(String),
    /// The transport was stopped.
    #[error("the transport is stopped")]
    Stopped,
    /// The address failed to connect recently and its reconnection delay
    /// has not run out yet.
    #[error("{peer} is in reconnection backoff for another {retry_in:?}")]
    Backoff {
        /// The address.
        peer: PeerAddress,
        /// Time left until the next attempt is allowed.
        retry_in: Duration,
    },
    /// The connection's outbound queue is full; the message was dropped.
    #[error("outbound queue of connection {conn} is full")]
    QueueFull {
        /// The connection.
        conn: ConnectionId,
    },
    /// Opening a connection would exceed `max_connections`.
    #[error("connection limit of {max} reached")]
    ConnectionLimit {
        /// The configured limit.
        max: usize,
    },
    /// The message is larger than `max_message_size`.
    #[error("message of {len} bytes exceeds the limit of {max}")]
    MessageTooLarge {
        /// Size of the message.
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// The address uses a scheme this transport does not speak (`wss`).
    #[error("unsupported scheme in {peer} (only ws:// is supported)")]
    UnsupportedScheme {
        /// The address.
        peer: PeerAddress,
    },
    /// No open or opening connection has this id.
    #[error("no connection {0}")]
    NoSuchConnection(ConnectionId),
    /// `stop` ran out of time with threads still running (they were
    /// detached; only a blocking DNS look-up can cause this).
    #[error("{threads} transport thread(s) did not end within the stop timeout")]
    StopTimeout {
        /// Threads still running.
        threads: usize,
    },
}

/// Why an outbound connection could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The host name did not resolve.
    #[error("cannot resolve host: {0}")]
    Resolve(String),
    /// No resolved address accepted a TCP connection in time.
    #[error("TCP connect timed out")]
    Timeout,
    /// TCP connect failed (refused, unreachable, ...).
    #[error("TCP connect failed: {0}")]
    Io(String),
    /// The WebSocket handshake did not finish within the handshake timeout.
    #[error("WebSocket handshake timed out")]
    HandshakeTimeout,
    /// The WebSocket handshake failed (bad answer, HTTP error, ...).
    #[error("WebSocket handshake failed: {0}")]
    Handshake(String),
    /// [`close`](super::TransportHandle::close) was called while the
    /// connection was opening. Not a failure of the peer; no backoff.
    #[error("cancelled by close")]
    Cancelled,
}
