//! The datagram path: one UDP socket per node for probes and gossip
//! (PROTOCOL.md, "Datagrams").
//!
//! - [`DatagramSocket`]: the socket and its receiver thread (one per
//!   node, stoppable, joined within a bounded time). Sends go straight
//!   from the calling thread onto the socket, never blocking.
//! - [`seal`] / [`open`]: a message in and out of one datagram
//!   (`wire::parse_datagram` framing), sealed with the cluster key when
//!   there is one; everything received is checked strictly and a refused
//!   datagram changes nothing.

mod codec;
mod config;
mod error;
mod socket;

pub use codec::{open, seal};
pub use config::{fit_budgets, DatagramConfig};
pub use error::DatagramError;
pub use socket::{DatagramSocket, DatagramStats, Received};
