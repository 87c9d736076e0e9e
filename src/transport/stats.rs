//! Counters of the transport ([`TransportStats`]).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A snapshot of the transport's counters, from
/// [`TransportHandle::stats`](super::TransportHandle::stats).
///
/// Byte counts are what crossed the sockets: WebSocket handshakes, frame
/// headers and control frames included.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct TransportStats {
    /// Bytes written to sockets.
    pub bytes_sent: u64,
    /// Bytes read from sockets.
    pub bytes_received: u64,
    /// Text messages written.
    pub messages_sent: u64,
    /// Text messages received (and passed on or dropped).
    pub messages_received: u64,
    /// Connections that finished the handshake, inbound.
    pub inbound_opened: u64,
    /// Connections that finished the handshake, outbound.
    pub outbound_opened: u64,
    /// Connections open or opening now.
    pub open_connections: u64,
    /// Remotes cut off (limits, timeouts, oversize, rate, bad handshake).
    pub rejected: u64,
    /// Outbound connections that could not be opened.
    pub connect_failures: u64,
    /// `send` calls refused because the address was in backoff.
    pub backoff_refusals: u64,
    /// Outbound messages dropped: queue full, or left unsent when their
    /// connection ended.
    pub dropped_outbound: u64,
    /// Events dropped because the event channel was full.
    pub dropped_events: u64,
    /// Transport threads running now (listener plus connections).
    pub threads: u64,
}

/// The live counters.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub bytes_sent: AtomicU64,
    pub bytes_received: AtomicU64,
    pub messages_sent: AtomicU64,
    pub messages_received: AtomicU64,
    pub inbound_opened: AtomicU64,
    pub outbound_opened: AtomicU64,
    pub open_connections: AtomicU64,
    pub rejected: AtomicU64,
    pub connect_failures: AtomicU64,
    pub backoff_refusals: AtomicU64,
    pub dropped_outbound: AtomicU64,
    pub dropped_events: AtomicU64,
    pub threads: AtomicU64,
}

/// Adds one to a counter.
pub(crate) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Relaxed);
}

/// Adds `n` to a counter.
pub(crate) fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Relaxed);
}

/// Takes one off a gauge.
pub(crate) fn drop_one(c: &AtomicU64) {
    // Saturating: a gauge never wraps, whatever the ordering of updates.
    let _ = c.fetch_update(Relaxed, Relaxed, |v| Some(v.saturating_sub(1)));
}

impl Stats {
    pub fn snapshot(&self) -> TransportStats {
        TransportStats {
            bytes_sent: self.bytes_sent.load(Relaxed),
            bytes_received: self.bytes_received.load(Relaxed),
            messages_sent: self.messages_sent.load(Relaxed),
            messages_received: self.messages_received.load(Relaxed),
            inbound_opened: self.inbound_opened.load(Relaxed),
            outbound_opened: self.outbound_opened.load(Relaxed),
            open_connections: self.open_connections.load(Relaxed),
            rejected: self.rejected.load(Relaxed),
            connect_failures: self.connect_failures.load(Relaxed),
            backoff_refusals: self.backoff_refusals.load(Relaxed),
            dropped_outbound: self.dropped_outbound.load(Relaxed),
            dropped_events: self.dropped_events.load(Relaxed),
            threads: self.threads.load(Relaxed),
        }
    }
}
