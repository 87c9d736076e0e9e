//! [`Transport::start`] and the [`TransportHandle`] that commands it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use mio::{Poll, Waker};

use crate::model::PeerAddress;

use super::directory::{Directory, Refusal};
use super::listener;
use super::mailbox::{Command, Mailbox};
use super::poller::{Poller, WAKER};
use super::shared::Shared;
use super::stats::{bump, Stats};
use super::{
    ConnectionId, Direction, TransportConfig, TransportError, TransportEvent, TransportStats,
};

/// The WebSocket transport. See [`Transport::start`].
#[derive(Debug)]
pub struct Transport;

impl Transport {
    /// Binds the listener and starts the poller thread.
    ///
    /// Returns the handle that commands the transport and the receiver of
    /// its [`TransportEvent`]s. Fails with [`TransportError::Bind`] when the
    /// listen address cannot be bound (for example: the port is in use).
    pub fn start(
        config: TransportConfig,
    ) -> Result<(TransportHandle, Receiver<TransportEvent>), TransportError> {
        config.validate()?;
        let (listener, local) = listener::bind(config.listen)?;
        let (event_tx, event_rx) = crossbeam_channel::bounded(config.event_queue_len);
        let ws_path = config.ws_path.clone();
        let poll = Poll::new()?;
        let waker = Waker::new(poll.registry(), WAKER)?;
        let (mailbox, commands) = Mailbox::new(waker);
        let shared = Arc::new(Shared::new(config, mailbox, Arc::new(Stats::default())));
        let poller = Poller::new(Arc::clone(&shared), poll, listener, commands, event_tx)?;
        shared
            .threads
            .spawn("peerdisc-transport", move || poller.run())?;
        let handle = TransportHandle {
            shared,
            local,
            ws_path,
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

/// Commands a running transport. No call waits on the network: each
/// posts a command to the poller thread (which does all socket I/O) and
/// answers from the connection directory. Dropping the handle stops the
/// transport.
#[derive(Debug)]
pub struct TransportHandle {
    shared: Arc<Shared>,
    local: SocketAddr,
    ws_path: String,
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
    /// open or opening, else over a new one (dialled by the poller).
    ///
    /// Fails fast, without touching the network, when the transport is
    /// stopped, the message is too large, `to` is in reconnection backoff
    /// ([`TransportError::Backoff`]), the connection limit is reached, or the
    /// connection's backlog is full ([`TransportError::QueueFull`]; the
    /// message is dropped and counted).
    pub fn send(&self, to: &PeerAddress, text: String) -> Result<ConnectionId, TransportError> {
        self.check_size(&text)?;
        let id = {
            let mut dir = self.shared.directory.lock();
            let id = self.dial_locked(&mut dir, to)?;
            self.enqueue_locked(&mut dir, id, text)?;
            id
        };
        self.shared.mailbox.wake();
        Ok(id)
    }

    /// Opens a connection to `to` without sending anything, or returns the
    /// one already open or opening. Fails like [`send`](Self::send).
    pub fn connect(&self, to: &PeerAddress) -> Result<ConnectionId, TransportError> {
        let id = self.dial_locked(&mut self.shared.directory.lock(), to)?;
        self.shared.mailbox.wake();
        Ok(id)
    }

    fn check_size(&self, text: &str) -> Result<(), TransportError> {
        let max = self.shared.config.max_message_size;
        if text.len() > max {
            return Err(TransportError::MessageTooLarge {
                len: text.len(),
                max,
            });
        }
        Ok(())
    }

    /// The connection to `to`, registered (and its `Dial` posted, under
    /// the lock, so that it reaches the poller before any `Send` for it)
    /// when there is none.
    fn dial_locked(
        &self,
        dir: &mut Directory,
        to: &PeerAddress,
    ) -> Result<ConnectionId, TransportError> {
        if self.shared.is_stopping() {
            return Err(TransportError::Stopped);
        }
        if let Some(id) = dir.for_peer(to) {
            return Ok(id);
        }
        if to.is_secure() {
            return Err(TransportError::UnsupportedScheme { peer: to.clone() });
        }
        if let Err(retry_in) = dir.backoff.check(to, Instant::now()) {
            bump(&self.shared.stats.backoff_refusals);
            return Err(TransportError::Backoff {
                peer: to.clone(),
                retry_in,
            });
        }
        if dir.is_full() {
            return Err(TransportError::ConnectionLimit {
                max: self.shared.config.max_connections,
            });
        }
        let id = dir.add_outbound(to.clone());
        bump(&self.shared.stats.open_connections);
        self.shared.mailbox.post(Command::Dial {
            id,
            peer: to.clone(),
        });
        Ok(id)
    }

    /// Counts `text` in the backlog of `id` and posts it (under the lock,
    /// so messages keep their order whichever thread sends them).
    fn enqueue_locked(
        &self,
        dir: &mut Directory,
        id: ConnectionId,
        text: String,
    ) -> Result<(), TransportError> {
        match dir.enqueue(id, text.len()) {
            Ok(()) => {
                self.shared.mailbox.post(Command::Send { id, text });
                Ok(())
            }
            Err(Refusal::Full) => {
                bump(&self.shared.stats.dropped_outbound);
                Err(TransportError::QueueFull { conn: id })
            }
            Err(Refusal::Gone) => Err(TransportError::NoSuchConnection(id)),
        }
    }

    /// Sends `text` on connection `conn` (for example: the answer to a
    /// message that arrived over it, inbound or outbound).
    pub fn reply(&self, conn: ConnectionId, text: String) -> Result<(), TransportError> {
        self.check_size(&text)?;
        {
            let mut dir = self.shared.directory.lock();
            if self.shared.is_stopping() {
                return Err(TransportError::Stopped);
            }
            self.enqueue_locked(&mut dir, conn, text)?;
        }
        self.shared.mailbox.wake();
        Ok(())
    }

    /// Declares that connection `conn` (typically inbound) serves `peer`:
    /// later [`send`](Self::send)s to `peer` reuse it while no other
    /// connection to `peer` is open or opening.
    pub fn associate(&self, conn: ConnectionId, peer: PeerAddress) -> Result<(), TransportError> {
        if self.shared.directory.lock().associate(conn, peer) {
            Ok(())
        } else {
            Err(TransportError::NoSuchConnection(conn))
        }
    }

    /// Closes the connection serving `peer`, if any (with a close frame,
    /// after what the socket takes at once of its queued messages; the rest
    /// is dropped). Returns whether there was one.
    pub fn close(&self, peer: &PeerAddress) -> bool {
        let id = self.shared.directory.lock().for_peer(peer);
        id.is_some_and(|id| self.close_connection(id))
    }

    /// Closes connection `conn`. Returns whether it existed.
    pub fn close_connection(&self, conn: ConnectionId) -> bool {
        let exists = {
            let dir = self.shared.directory.lock();
            let exists = dir.get(conn).is_some();
            if exists {
                self.shared.mailbox.post(Command::Close { id: conn });
            }
            exists
        };
        if exists {
            self.shared.mailbox.wake();
        }
        exists
    }

    /// Whether a connection serving `peer` is open (handshake done).
    pub fn is_connected(&self, peer: &PeerAddress) -> bool {
        let dir = self.shared.directory.lock();
        dir.for_peer(peer)
            .and_then(|id| dir.get(id))
            .is_some_and(|e| e.open)
    }

    /// Time left before `peer` may be dialled again, if it is in
    /// reconnection backoff.
    pub fn retry_in(&self, peer: &PeerAddress) -> Option<Duration> {
        self.shared
            .directory
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
        let dir = self.shared.directory.lock();
        let mut v: Vec<ConnectionInfo> = dir
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
    /// channel has room) and joins the transport's threads, waiting at most
    /// `stop_timeout_ms`. Idempotent: later calls return `Ok(())` at once.
    ///
    /// The poller never blocks on the network, so it ends within the
    /// bound; the one exception is a host-name look-up in progress, whose
    /// resolver thread is detached and reported as
    /// [`TransportError::StopTimeout`].
    pub fn stop(&self) -> Result<(), TransportError> {
        {
            // Under the directory lock: no `send` posts after the flag.
            let _dir = self.shared.directory.lock();
            if !self.shared.threads.close() {
                return Ok(());
            }
            self.shared.set_stopping();
        }
        self.shared.mailbox.send(Command::Stop);
        let deadline = Instant::now() + self.shared.config.stop_timeout();
        self.shared.threads.join(deadline)
    }
}

impl Drop for TransportHandle {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
