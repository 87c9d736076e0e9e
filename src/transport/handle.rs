//! [`Transport::start`] and the [`TransportHandle`] that commands it.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use mio::{Interest, Poll, Waker};
use tungstenite::protocol::frame::coding::CloseCode;

use crate::model::PeerAddress;

use super::connection::Origin;
use super::link::{ConnControl, QueueFull};
use super::listener;
use super::shared::{Shared, SOCKET, WAKE};
use super::stats::bump;
use super::{
    ConnectionId, Direction, TransportConfig, TransportError, TransportEvent, TransportStats,
};

/// The WebSocket transport. See [`Transport::start`].
#[derive(Debug)]
pub struct Transport;

impl Transport {
    /// Binds the listener and starts its thread.
    ///
    /// Returns the handle that commands the transport and the receiver of
    /// its [`TransportEvent`]s. Fails with [`TransportError::Bind`] when the
    /// listen address cannot be bound (for example: the port is in use).
    pub fn start(
        config: TransportConfig,
    ) -> Result<(TransportHandle, Receiver<TransportEvent>), TransportError> {
        config.validate()?;
        let (mut listener, local) = listener::bind(config.listen)?;
        let (event_tx, event_rx) = crossbeam_channel::bounded(config.event_queue_len);
        let ws_path = config.ws_path.clone();
        let poll = Poll::new()?;
        let (shared, alive_rx) = Shared::new(config, event_tx, poll.registry().try_clone()?);
        let waker = Waker::new(poll.registry(), WAKE)?;
        poll.registry()
            .register(&mut listener, SOCKET, Interest::READABLE)?;
        {
            let mut st = shared.state.lock();
            shared.spawn(&mut st, "peerdisc-listen".into(), move |s| {
                listener::run(s, listener, poll)
            })?;
        }
        let handle = TransportHandle {
            shared,
            local,
            ws_path,
            listener_waker: waker,
            alive_rx,
        };
        Ok((handle, event_rx))
    }
}

/// One connection as seen from the handle.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionInfo {
    /// Its id.
    pub id: ConnectionId,
    /// Who opened it.
    pub direction: Direction,
    /// The remote socket address, once known.
    pub remote: Option<SocketAddr>,
    /// The peer address it serves, if any.
    pub peer: Option<PeerAddress>,
    /// Whether the WebSocket handshake is done.
    pub open: bool,
}

/// Commands a running transport. No call waits on the network: a message
/// for an open connection is written into its socket by the calling thread
/// (as far as the socket takes it at once), one for a connection still
/// opening is queued for it. Dropping the handle stops the transport.
#[derive(Debug)]
pub struct TransportHandle {
    shared: Arc<Shared>,
    local: SocketAddr,
    ws_path: String,
    listener_waker: Waker,
    alive_rx: Receiver<()>,
}

impl TransportHandle {
    /// The address the listener is bound to (with the real port when the
    /// configuration asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The `ws://` URL of the listener. An unspecified bind address
    /// (`0.0.0.0`, `::`) is given as the loopback address of its family.
    pub fn ws_url(&self) -> PeerAddress {
        let mut addr = self.local;
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        PeerAddress::new(format!("ws://{addr}{}", self.ws_path))
            .expect("a socket address and a path starting with '/' make a valid ws URL")
    }

    /// Sends `text` to `to`, over the connection to that address if one is
    /// open or opening, else over a new one (dialled by a new thread).
    ///
    /// Fails fast, without touching the network, when the transport is
    /// stopped, the message is too large, `to` is in reconnection backoff
    /// ([`TransportError::Backoff`]), the connection limit is reached, or the
    /// connection's queue is full ([`TransportError::QueueFull`]; the
    /// message is dropped and counted).
    pub fn send(&self, to: &PeerAddress, text: String) -> Result<ConnectionId, TransportError> {
        let max = self.shared.config.max_message_size;
        if text.len() > max {
            return Err(TransportError::MessageTooLarge {
                len: text.len(),
                max,
            });
        }
        let (id, ctl) = {
            let mut st = self.shared.state.lock();
            let id = self.dial_locked(&mut st, to)?;
            (id, self.control_locked(&st, id)?)
        };
        self.deliver(id, &ctl, text)?;
        Ok(id)
    }

    /// Opens a connection to `to` without sending anything, or returns the
    /// one already open or opening. Fails like [`send`](Self::send).
    pub fn connect(&self, to: &PeerAddress) -> Result<ConnectionId, TransportError> {
        let mut st = self.shared.state.lock();
        self.dial_locked(&mut st, to)
    }

    fn dial_locked(
        &self,
        st: &mut super::shared::State,
        to: &PeerAddress,
    ) -> Result<ConnectionId, TransportError> {
        if self.shared.is_stopping() {
            return Err(TransportError::Stopped);
        }
        if let Some(id) = st.by_peer.get(to) {
            return Ok(*id);
        }
        if to.is_secure() {
            return Err(TransportError::UnsupportedScheme { peer: to.clone() });
        }
        if let Err(retry_in) = st.backoff.check(to, Instant::now()) {
            bump(&self.shared.stats.backoff_refusals);
            return Err(TransportError::Backoff {
                peer: to.clone(),
                retry_in,
            });
        }
        let max = self.shared.config.max_connections;
        if st.conns.len() >= max {
            return Err(TransportError::ConnectionLimit { max });
        }
        self.shared
            .open_connection(st, Origin::Outbound(to.clone()))
    }

    fn control_locked(
        &self,
        st: &super::shared::State,
        id: ConnectionId,
    ) -> Result<Arc<ConnControl>, TransportError> {
        st.conns
            .get(&id)
            .map(|e| Arc::clone(&e.ctl))
            .ok_or(TransportError::NoSuchConnection(id))
    }

    /// Writes `text` on the connection (the calling thread writes it to the
    /// socket when the connection is open; no other thread is woken), or
    /// queues it until the connection opens.
    fn deliver(
        &self,
        id: ConnectionId,
        ctl: &ConnControl,
        text: String,
    ) -> Result<(), TransportError> {
        ctl.deliver(&self.shared, id, text)
            .map_err(|QueueFull| TransportError::QueueFull { conn: id })
    }

    /// Sends `text` on connection `conn` (for example: the answer to a
    /// message that arrived over it, inbound or outbound).
    pub fn reply(&self, conn: ConnectionId, text: String) -> Result<(), TransportError> {
        let max = self.shared.config.max_message_size;
        if text.len() > max {
            return Err(TransportError::MessageTooLarge {
                len: text.len(),
                max,
            });
        }
        let ctl = {
            let st = self.shared.state.lock();
            if self.shared.is_stopping() {
                return Err(TransportError::Stopped);
            }
            self.control_locked(&st, conn)?
        };
        self.deliver(conn, &ctl, text)
    }

    /// Declares that connection `conn` (typically inbound) serves `peer`:
    /// later [`send`](Self::send)s to `peer` reuse it while no other
    /// connection to `peer` is open or opening.
    pub fn associate(&self, conn: ConnectionId, peer: PeerAddress) -> Result<(), TransportError> {
        let mut st = self.shared.state.lock();
        let entry = st
            .conns
            .get_mut(&conn)
            .ok_or(TransportError::NoSuchConnection(conn))?;
        if entry.peer.is_none() {
            entry.peer = Some(peer.clone());
        }
        st.by_peer.entry(peer).or_insert(conn);
        Ok(())
    }

    /// Closes the connection serving `peer`, if any (with a close frame;
    /// queued messages not yet written are dropped). Returns whether there
    /// was one.
    pub fn close(&self, peer: &PeerAddress) -> bool {
        let id = self.shared.state.lock().by_peer.get(peer).copied();
        id.is_some_and(|id| self.close_connection(id))
    }

    /// Closes connection `conn`. Returns whether it existed.
    pub fn close_connection(&self, conn: ConnectionId) -> bool {
        let st = self.shared.state.lock();
        match st.conns.get(&conn) {
            Some(e) => {
                e.ctl.close.store(true, Ordering::Release);
                e.ctl.interrupt(CloseCode::Normal, "closing");
                true
            }
            None => false,
        }
    }

    /// Whether a connection serving `peer` is open (handshake done).
    pub fn is_connected(&self, peer: &PeerAddress) -> bool {
        let st = self.shared.state.lock();
        st.by_peer
            .get(peer)
            .and_then(|id| st.conns.get(id))
            .is_some_and(|e| e.open)
    }

    /// Time left before `peer` may be dialled again, if it is in
    /// reconnection backoff.
    pub fn retry_in(&self, peer: &PeerAddress) -> Option<Duration> {
        self.shared
            .state
            .lock()
            .backoff
            .check(peer, Instant::now())
            .err()
    }

    /// The configuration the transport runs with.
    pub fn config(&self) -> &TransportConfig {
        &self.shared.config
    }

    /// The connections open or opening.
    pub fn connections(&self) -> Vec<ConnectionInfo> {
        let st = self.shared.state.lock();
        let mut v: Vec<ConnectionInfo> = st
            .conns
            .iter()
            .map(|(id, e)| ConnectionInfo {
                id: *id,
                direction: e.direction,
                remote: e.remote,
                peer: e.peer.clone(),
                open: e.open,
            })
            .collect();
        v.sort_by_key(|c| c.id);
        v
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> TransportStats {
        self.shared.stats.snapshot()
    }

    /// Whether `stop` was called.
    pub fn is_stopped(&self) -> bool {
        self.shared.is_stopping()
    }

    /// Stops the listener and every connection (open ones get a close
    /// frame and a `Disconnected { reason: Stopped }` event, if the event
    /// channel has room) and joins all threads, waiting at most
    /// `stop_timeout_ms`. Idempotent: later calls return `Ok(())` at once.
    ///
    /// No thread ever blocks on the network, so all end within the bound;
    /// the one exception is a host-name look-up in progress, whose thread is
    /// detached and reported as [`TransportError::StopTimeout`].
    pub fn stop(&self) -> Result<(), TransportError> {
        let (threads, controls) = {
            let mut st = self.shared.state.lock();
            if st.alive.is_none() {
                return Ok(());
            }
            self.shared.stopping.store(true, Ordering::Release);
            st.alive = None;
            let controls: Vec<_> = st.conns.values().map(|e| Arc::clone(&e.ctl)).collect();
            (std::mem::take(&mut st.threads), controls)
        };
        let _ = self.listener_waker.wake();
        for c in &controls {
            c.interrupt(CloseCode::Away, "stopping");
        }
        let deadline = Instant::now() + self.shared.config.stop_timeout();
        let all_ended = matches!(
            self.alive_rx.recv_deadline(deadline),
            Err(RecvTimeoutError::Disconnected)
        );
        let mut left = 0;
        for h in threads {
            // Once every thread body has returned, `join` only waits for the
            // OS to tear the threads down.
            if all_ended || h.is_finished() {
                let _ = h.join();
            } else {
                left += 1;
            }
        }
        if left > 0 {
            log::warn!("transport stop: {left} thread(s) still running, detached");
            Err(TransportError::StopTimeout { threads: left })
        } else {
            Ok(())
        }
    }
}

impl Drop for TransportHandle {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
