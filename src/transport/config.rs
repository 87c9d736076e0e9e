//! [`TransportConfig`]: addresses, timeouts and limits of the transport.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tungstenite::protocol::WebSocketConfig;

use super::TransportError;

/// Bytes of frames gathered before tungstenite writes them out by itself.
const WRITE_GATHER: usize = 64 * 1024;

/// Settings of a [`Transport`](super::Transport).
///
/// Every field has a safe default, so a JSON object naming only the fields
/// to change is a valid configuration; unknown fields are an error.
/// Durations are whole milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TransportConfig {
    /// Where the listener binds. Port 0 picks a free port; the bound address
    /// is [`TransportHandle::local_addr`](super::TransportHandle::local_addr).
    /// Default `127.0.0.1:0` (reachable from this host only).
    pub listen: SocketAddr,
    /// The HTTP path inbound WebSocket upgrades must ask for. Default `/`.
    pub ws_path: String,
    /// Budget of one TCP connect to one resolved address, and of the
    /// look-up of a host name (IP addresses need none). Default 3 000 ms.
    pub connect_timeout_ms: u64,
    /// Budget of the whole WebSocket handshake, from TCP accept (inbound) or
    /// TCP connect (outbound) to the upgrade. A client that sends nothing, or
    /// one byte at a time, is cut off when it runs out. Default 5 000 ms.
    pub handshake_timeout_ms: u64,
    /// An open connection on which no complete frame arrives for this long
    /// is closed. A ping goes out at half of it, so a live peer always
    /// answers in time. Default 60 000 ms.
    pub idle_timeout_ms: u64,
    /// Largest inbound message (after reassembly), in bytes. Larger
    /// messages close the connection with a
    /// [`Rejected`](super::TransportEvent::Rejected) event; larger outbound
    /// messages are refused by `send`. Default 4 MiB.
    pub max_message_size: usize,
    /// Largest inbound frame payload, in bytes. Default 4 MiB.
    pub max_frame_size: usize,
    /// Most connections open or opening at once, inbound and outbound
    /// together. Default 64.
    ///
    /// When the table is full, an inbound connection from an IP address
    /// holding fewer inbound connections than the busiest address (by two
    /// or more) takes the place of one of the busiest address's (one still
    /// in its handshake first, else its oldest; it ends with
    /// [`RejectReason::Displaced`](super::RejectReason::Displaced)). So
    /// one address can use the whole budget while nobody else needs it,
    /// but never lock other addresses out.
    pub max_connections: usize,
    /// Most inbound connections open or opening from one remote IP address.
    /// Default 64, the same as `max_connections`: no cap of its own.
    ///
    /// Why no lower default: several nodes on one host, or many behind one
    /// NAT address, all reach a node from the same IP, so a cap below the
    /// cluster's size refuses them (their probes then fail and they are
    /// suspected: with the former default of 8, 100 daemons on one host
    /// never converged). What a per-IP cap protects against, one address
    /// opening connections until the budget is gone, is handled instead by
    /// the displacement rule of `max_connections`, which needs no cap.
    /// Lower it only to bound what one address may hold on a node that
    /// never sees several peers behind one address.
    pub max_connections_per_ip: usize,
    /// Most inbound messages per second on one connection (a token bucket
    /// holding one second's worth). Exceeding it closes the connection with
    /// a [`Rejected`](super::TransportEvent::Rejected) event. Default 200.
    pub max_messages_per_sec: u32,
    /// Most messages waiting to be written on one connection; `send` beyond
    /// it fails with [`TransportError::QueueFull`]. Default 256.
    pub outbound_queue_len: usize,
    /// Capacity of the event channel. [`Received`](super::TransportEvent::Received)
    /// and [`Rejected`](super::TransportEvent::Rejected) events are dropped
    /// (and counted) when it is full; connection life-cycle events wait for
    /// room. Default 4 096.
    pub event_queue_len: usize,
    /// First reconnection delay after a failed connect. Default 250 ms.
    pub backoff_base_ms: u64,
    /// Longest reconnection delay. Default 30 000 ms.
    pub backoff_cap_ms: u64,
    /// Fraction of each delay drawn at random and taken off it, in
    /// `0.0..=1.0`: 0.5 waits between half and all of the exponential delay.
    /// Default 0.5.
    pub backoff_jitter: f64,
    /// How long [`TransportHandle::stop`](super::TransportHandle::stop) waits
    /// for the threads to end. Default 100 ms.
    pub stop_timeout_ms: u64,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            ws_path: "/".into(),
            connect_timeout_ms: 3_000,
            handshake_timeout_ms: 5_000,
            idle_timeout_ms: 60_000,
            max_message_size: 4 << 20,
            max_frame_size: 4 << 20,
            max_connections: 64,
            max_connections_per_ip: 64,
            max_messages_per_sec: 200,
            outbound_queue_len: 256,
            event_queue_len: 4096,
            backoff_base_ms: 250,
            backoff_cap_ms: 30_000,
            backoff_jitter: 0.5,
            stop_timeout_ms: 100,
        }
    }
}

impl TransportConfig {
    /// Checks that the settings make sense together.
    pub fn validate(&self) -> Result<(), TransportError> {
        let bad = |why: &str| Err(TransportError::InvalidConfig(why.to_string()));
        if !self.ws_path.starts_with('/') {
            return bad("ws_path must start with '/'");
        }
        for (name, v) in [
            ("connect_timeout_ms", self.connect_timeout_ms),
            ("handshake_timeout_ms", self.handshake_timeout_ms),
            ("idle_timeout_ms", self.idle_timeout_ms),
            ("backoff_base_ms", self.backoff_base_ms),
            ("stop_timeout_ms", self.stop_timeout_ms),
        ] {
            if v == 0 {
                return bad(&format!("{name} must be above 0"));
            }
        }
        if self.backoff_cap_ms < self.backoff_base_ms {
            return bad("backoff_cap_ms must be at least backoff_base_ms");
        }
        if !(0.0..=1.0).contains(&self.backoff_jitter) {
            return bad("backoff_jitter must be within 0.0..=1.0");
        }
        if self.max_message_size == 0 || self.max_frame_size == 0 {
            return bad("max_message_size and max_frame_size must be above 0");
        }
        if self.max_frame_size > self.max_message_size {
            return bad("max_frame_size must not exceed max_message_size");
        }
        if self.max_connections == 0 || self.max_connections_per_ip == 0 {
            return bad("max_connections and max_connections_per_ip must be above 0");
        }
        if self.max_messages_per_sec == 0 {
            return bad("max_messages_per_sec must be above 0");
        }
        if self.outbound_queue_len == 0 || self.event_queue_len == 0 {
            return bad("outbound_queue_len and event_queue_len must be above 0");
        }
        Ok(())
    }

    /// [`Self::connect_timeout_ms`] as a duration.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }
    /// [`Self::handshake_timeout_ms`] as a duration.
    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_millis(self.handshake_timeout_ms)
    }
    /// [`Self::idle_timeout_ms`] as a duration.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms)
    }
    /// [`Self::stop_timeout_ms`] as a duration.
    pub fn stop_timeout(&self) -> Duration {
        Duration::from_millis(self.stop_timeout_ms)
    }
    /// [`Self::backoff_base_ms`] as a duration.
    pub fn backoff_base(&self) -> Duration {
        Duration::from_millis(self.backoff_base_ms)
    }
    /// [`Self::backoff_cap_ms`] as a duration.
    pub fn backoff_cap(&self) -> Duration {
        Duration::from_millis(self.backoff_cap_ms)
    }

    /// Most bytes waiting to be written on one connection (beyond what its
    /// socket holds): two of the largest messages and 64 KiB.
    pub(crate) fn max_backlog_bytes(&self) -> usize {
        self.max_message_size.saturating_mul(2) + 64 * 1024
    }

    /// The tungstenite settings: size limits, a small read buffer, and a
    /// write buffer that gathers the frames of one poller round into one
    /// `write(2)` (the poller flushes at the end of every round).
    pub(crate) fn websocket_config(&self) -> WebSocketConfig {
        WebSocketConfig::default()
            .read_buffer_size(8 * 1024)
            .write_buffer_size(WRITE_GATHER)
            .max_write_buffer_size(self.max_backlog_bytes() + WRITE_GATHER)
            .max_message_size(Some(self.max_message_size))
            .max_frame_size(Some(self.max_frame_size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        TransportConfig::default().validate().unwrap();
    }

    #[test]
    fn partial_json_fills_defaults_and_unknown_fields_fail() {
        let c: TransportConfig =
            serde_json::from_str(r#"{"listen":"[::1]:0","max_connections":3}"#).unwrap();
        assert_eq!(c.max_connections, 3);
        assert_eq!(c.idle_timeout_ms, 60_000);
        assert!(serde_json::from_str::<TransportConfig>(r#"{"nope":1}"#).is_err());
    }

    #[test]
    fn nonsense_is_refused() {
        let c = TransportConfig {
            max_frame_size: 10,
            max_message_size: 5,
            ..Default::default()
        };
        assert!(matches!(
            c.validate(),
            Err(TransportError::InvalidConfig(_))
        ));
        let c = TransportConfig {
            backoff_jitter: 1.5,
            ..Default::default()
        };
        assert!(c.validate().is_err());
    }
}
