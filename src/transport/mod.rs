//! A WebSocket transport on one I/O thread: it moves text frames between
//! this node and its peers and reports connection outcomes. It does not
//! parse the frames.
//!
//! ```no_run
//! use peerdisc::transport::{Transport, TransportConfig, TransportEvent};
//! use peerdisc::PeerAddress;
//!
//! let (handle, events) = Transport::start(TransportConfig::default())?;
//! let peer = PeerAddress::new("ws://127.0.0.1:8000/")?;
//! handle.send(&peer, r#"{"type":"ping"}"#.to_string())?;
//! while let Ok(ev) = events.recv() {
//!     if let TransportEvent::Received { conn, text, .. } = ev {
//!         handle.reply(conn, text)?; // echo it back over the same socket
//!     }
//! }
//! handle.stop()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Threads
//! One poller thread per transport, whatever the number of connections: a
//! mio run loop over the listener, every connection's socket and a waker.
//! It accepts, connects, does both sides of the WebSocket handshake,
//! reads, writes (stopping at a full socket until it is writable again),
//! pings, times out and closes, all without blocking. The handle only
//! posts commands to it (crossbeam channel + waker) and answers queries
//! from the connection directory, so no call on it waits on the network.
//! Host names are resolved by a helper thread that runs only while a look-
//! up is under way. The poller reports over one crossbeam channel of
//! [`TransportEvent`]s and never waits for room in it (see `sink.rs`).
//! Layers and files: ARCHITECTURE.md, "The transport".

//! # Limits
//! Connections in total (`max_connections`; when full, an address less
//! busy than the busiest one takes the place of one of its connections)
//! and inbound per remote IP (`max_connections_per_ip`); a handshake
//! deadline (`handshake_timeout_ms`) that also cuts off clients that send
//! nothing or one byte at a time; an idle deadline on open connections
//! (with a ping at half of it); message and frame sizes; inbound messages
//! per second per connection; a bounded backlog per connection; a bounded
//! event channel.
//!
//! # Reconnection
//! One connection per peer address is reused for every `send` to it. A
//! failed connect puts the address in backoff (exponential, with jitter and
//! a cap); `send`s to it fail fast with [`TransportError::Backoff`] until
//! the delay has run out, and the next success resets it. The transport
//! does not redial by itself: the node sends again when it needs to.

mod backoff;
mod config;
mod connection;
mod directory;
mod error;
mod event;
mod handle;
mod listener;
mod mailbox;
mod opening;
mod poller;
mod ratelimit;
mod resolver;
mod session;
mod shared;
mod sink;
mod stats;
mod stream;
mod threads;

pub use backoff::BackoffPolicy;
pub use config::TransportConfig;
pub use error::{ConnectError, TransportError};
pub use event::{ConnectionId, Direction, DisconnectReason, RejectReason, TransportEvent};
pub use handle::{ConnectionInfo, Transport, TransportHandle};
pub use stats::TransportStats;
