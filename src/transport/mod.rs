//! A WebSocket transport on std threads: it moves text frames between this
//! node and its peers and reports connection outcomes. It does not parse
//! the frames.
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
//! One listener thread, plus one thread per connection open or opening
//! (inbound ones from accept, outbound ones from the first `send` to an
//! address). A connection thread does the connect and the handshake, then
//! reads, sleeping in `poll(2)` on its socket alone: one file descriptor
//! per connection. Once a connection is open, [`TransportHandle::send`]
//! and [`TransportHandle::reply`] write the frame into its socket on the
//! calling thread (never waiting: what the socket cannot take at once is
//! buffered, and flushed by the listener's poller when the socket is
//! writable again); before that, frames wait in the connection's bounded
//! queue. [`TransportHandle::stop`] and `close` wake connection threads by
//! shutting their sockets down, so nothing polls on a timer and every
//! thread ends promptly, even with peers that hang. The threads report
//! over one crossbeam channel of [`TransportEvent`]s.

//! # Limits
//! Connections in total (`max_connections`) and inbound per remote IP
//! (`max_connections_per_ip`); a handshake deadline (`handshake_timeout_ms`)
//! that also cuts off clients that send nothing or one byte at a time;
//! an idle deadline on open connections (with a ping at half of it);
//! message and frame sizes; inbound messages per second per connection; a
//! bounded outbound queue per connection; a bounded event channel.
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
