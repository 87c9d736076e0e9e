//! One connection thread: opens the connection (TCP connect and WebSocket
//! handshake, or the server handshake of an accepted socket), then reads
//! and writes frames until it ends.
//!
//! The socket is non-blocking, and the thread sleeps in `poll(2)` on it
//! alone: one file descriptor per connection, no poller or waker of its
//! own. Once the connection is open, senders write their frames into the
//! shared WebSocket themselves (`ConnControl::deliver`), so nothing needs
//! to wake the thread for them; `close` and `stop` wake it by shutting the
//! socket down (`ConnControl::interrupt`). The thread reads, answers
//! pings, and writes out what the socket could not take at once (it waits
//! for writability while a write is blocked; a write that blocks while it
//! sleeps goes out at its next wake-up: the next frame from the remote, or
//! the keep-alive). All deadlines (connect, handshake, idle) are poll
//! timeouts checked on every wake-up, so a remote that trickles one byte
//! at a time is cut off on time too; `stop` never waits on a blocked read.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use mio::net::TcpStream;
use parking_lot::Mutex;
use tungstenite::error::ProtocolError;
use tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tungstenite::handshake::HandshakeError;
use tungstenite::http::StatusCode;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::Message;

use crate::model::PeerAddress;

use super::link::{close_quietly, ConnControl, Ws};
use super::ratelimit::TokenBucket;
use super::shared::Shared;
use super::stats::bump;
use super::stream::{wait_socket, MeteredStream};
use super::{
    ConnectError, ConnectionId, Direction, DisconnectReason, RejectReason, TransportEvent,
};

/// Where a connection comes from.
#[derive(Debug)]
pub(crate) enum Origin {
    /// Accepted by the listener.
    Inbound(TcpStream, SocketAddr),
    /// To be dialled.
    Outbound(PeerAddress),
}

/// What woke a waiting thread.
enum Wake {
    /// The socket or the waker: look again.
    Ready,
    /// The deadline passed.
    Timeout,
    /// `stop` or `close`.
    Cancel,
}

/// The thread body.
pub(crate) fn run(shared: Arc<Shared>, id: ConnectionId, origin: Origin, ctl: Arc<ConnControl>) {
    let conn = Conn { shared, id, ctl };
    match origin {
        Origin::Inbound(stream, remote) => conn.inbound(stream, remote),
        Origin::Outbound(peer) => conn.outbound(peer),
    }
}

struct Conn {
    shared: Arc<Shared>,
    id: ConnectionId,
    ctl: Arc<ConnControl>,
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

impl Conn {
    fn cancelled(&self) -> bool {
        self.shared.is_stopping() || self.ctl.close.load(Ordering::Acquire)
    }

    /// Sleeps until the socket is readable (or writable, with `write`),
    /// the handle interrupts, or `deadline` passes.
    fn wait(&self, socket: &TcpStream, write: bool, deadline: Instant) -> Wake {
        if self.cancelled() {
            return Wake::Cancel;
        }
        if Instant::now() >= deadline {
            return Wake::Timeout;
        }
        wait_socket(socket, write, Some(deadline));
        if self.cancelled() {
            Wake::Cancel
        } else {
            Wake::Ready
        }
    }

    /// Makes `socket` reachable by `interrupt`.
    fn attach(&self, socket: &Arc<TcpStream>) {
        self.ctl.link.lock().socket = Some(Arc::clone(socket));
    }

    /// Ends a connection that never opened, without an event.
    fn abandon(&self) {
        self.shared.close_connection(self.id, &self.ctl);
    }

    // ----- inbound -----

    fn inbound(self, stream: TcpStream, remote: SocketAddr) {
        let deadline = Instant::now() + self.shared.config.handshake_timeout();
        let _ = stream.set_nodelay(true);
        let socket = Arc::new(stream);
        self.attach(&socket);
        let wanted = self.shared.config.ws_path.clone();
        let asked = std::cell::RefCell::new(None::<String>);
        // The signature is tungstenite's `Callback`.
        #[allow(clippy::result_large_err)]
        let check_path = |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
            let path = req.uri().path();
            if path == wanted {
                Ok(resp)
            } else {
                *asked.borrow_mut() = Some(path.chars().take(256).collect());
                let mut err = ErrorResponse::new(Some("not found".into()));
                *err.status_mut() = StatusCode::NOT_FOUND;
                Err(err)
            }
        };
        let metered = MeteredStream::new(Arc::clone(&socket), Arc::clone(&self.shared));
        let blocked = metered.write_blocked();
        let mut attempt =
            tungstenite::accept_hdr_with_config(metered, check_path, Some(self.shared.ws_config));
        let ws = loop {
            match attempt {
                Ok(ws) => break ws,
                Err(HandshakeError::Interrupted(mid)) => {
                    match self.wait(&socket, blocked.load(Ordering::Acquire), deadline) {
                        Wake::Ready => attempt = mid.handshake(),
                        Wake::Timeout => {
                            return self.reject_early(remote, RejectReason::HandshakeTimeout)
                        }
                        Wake::Cancel => return self.abandon(),
                    }
                }
                Err(HandshakeError::Failure(e)) => {
                    let reason = match asked.borrow_mut().take() {
                        Some(path) => RejectReason::WrongPath(path),
                        None => RejectReason::HandshakeFailed(e.to_string()),
                    };
                    return self.reject_early(remote, reason);
                }
            }
        };
        // Published before anyone hears of the connection, so that a
        // `close` or `stop` right after `Connected` closes it cleanly.
        bump(&self.shared.stats.inbound_opened);
        let ws = self.publish(ws);
        self.shared.mark_open(self.id, remote);
        self.shared.emit(TransportEvent::Connected {
            conn: self.id,
            direction: Direction::Inbound,
            remote,
            peer: None,
        });
        self.serve(ws, socket, blocked, remote);
    }

    /// Cuts off a remote before its connection opened.
    fn reject_early(&self, remote: SocketAddr, reason: RejectReason) {
        log::debug!("connection {} from {remote} rejected: {reason}", self.id);
        self.abandon();
        bump(&self.shared.stats.rejected);
        self.shared.emit_lossy(TransportEvent::Rejected {
            conn: Some(self.id),
            remote,
            reason,
        });
    }

    // ----- outbound -----

    fn outbound(self, peer: PeerAddress) {
        match self.open(&peer) {
            Ok((ws, socket, blocked, remote)) => {
                self.shared.connect_outcome(&peer, true);
                bump(&self.shared.stats.outbound_opened);
                let ws = self.publish(ws);
                self.shared.mark_open(self.id, remote);
                self.shared.emit(TransportEvent::Connected {
                    conn: self.id,
                    direction: Direction::Outbound,
                    remote,
                    peer: Some(peer),
                });
                self.serve(ws, socket, blocked, remote);
            }
            Err(ConnectError::Cancelled) => {
                self.abandon();
                // Closed by the node while opening: report the outcome (no
                // backoff, not a failure of the peer). On stop, stay quiet.
                if !self.shared.is_stopping() {
                    self.shared.emit(TransportEvent::ConnectFailed {
                        conn: self.id,
                        peer,
                        error: ConnectError::Cancelled,
                    });
                }
            }
            Err(error) => {
                log::debug!("connect to {peer} failed: {error}");
                self.shared.connect_outcome(&peer, false);
                bump(&self.shared.stats.connect_failures);
                self.abandon();
                self.shared.emit(TransportEvent::ConnectFailed {
                    conn: self.id,
                    peer,
                    error,
                });
            }
        }
    }

    /// TCP connect to the first resolved address that answers, then the
    /// client handshake.
    #[allow(clippy::type_complexity)]
    fn open(
        &self,
        peer: &PeerAddress,
    ) -> Result<(Ws, Arc<TcpStream>, Arc<AtomicBool>, SocketAddr), ConnectError> {
        let host = peer.host();
        // Name resolution blocks (getaddrinfo); IP literals resolve at once.
        let addrs: Vec<SocketAddr> = (host.as_str(), peer.port())
            .to_socket_addrs()
            .map_err(|e| ConnectError::Resolve(e.to_string()))?
            .collect();
        if addrs.is_empty() {
            return Err(ConnectError::Resolve(format!("{host}: no address")));
        }
        let mut last = ConnectError::Timeout;
        let mut connected = None;
        for addr in addrs {
            match self.connect_one(addr) {
                Ok(s) => {
                    connected = Some((s, addr));
                    break;
                }
                Err(ConnectError::Cancelled) => return Err(ConnectError::Cancelled),
                Err(e) => last = e,
            }
        }
        let (socket, remote) = connected.ok_or(last)?;
        let _ = socket.set_nodelay(true);
        let deadline = Instant::now() + self.shared.config.handshake_timeout();
        let metered = MeteredStream::new(Arc::clone(&socket), Arc::clone(&self.shared));
        let blocked = metered.write_blocked();
        let mut attempt = tungstenite::client::client_with_config(
            peer.as_str(),
            metered,
            Some(self.shared.ws_config),
        );
        loop {
            match attempt {
                Ok((ws, _response)) => return Ok((ws, socket, blocked, remote)),
                Err(HandshakeError::Interrupted(mid)) => {
                    match self.wait(&socket, blocked.load(Ordering::Acquire), deadline) {
                        Wake::Ready => attempt = mid.handshake(),
                        Wake::Timeout => return Err(ConnectError::HandshakeTimeout),
                        Wake::Cancel => return Err(ConnectError::Cancelled),
                    }
                }
                Err(HandshakeError::Failure(e)) => {
                    return Err(ConnectError::Handshake(e.to_string()))
                }
            }
        }
    }

    /// A non-blocking TCP connect, waited for up to the connect timeout.
    fn connect_one(&self, addr: SocketAddr) -> Result<Arc<TcpStream>, ConnectError> {
        let io_err = |e: io::Error| ConnectError::Io(e.to_string());
        let stream = Arc::new(TcpStream::connect(addr).map_err(io_err)?);
        self.attach(&stream);
        let deadline = Instant::now() + self.shared.config.connect_timeout();
        let outcome = loop {
            // As mio documents: the connect is done when the socket has no
            // error and a peer address.
            match stream.take_error() {
                Ok(Some(e)) | Err(e) => break Err(io_err(e)),
                Ok(None) => {}
            }
            match stream.peer_addr() {
                Ok(_) => break Ok(()),
                Err(e)
                    if e.kind() == io::ErrorKind::NotConnected
                        || e.raw_os_error() == Some(libc::EINPROGRESS) => {}
                Err(e) => break Err(io_err(e)),
            }
            // A connect in progress completes (or fails) as writable.
            match self.wait(&stream, true, deadline) {
                Wake::Ready => {}
                Wake::Timeout => break Err(ConnectError::Timeout),
                Wake::Cancel => break Err(ConnectError::Cancelled),
            }
        };
        outcome.map(|()| stream)
    }

    // ----- open connection -----

    /// Reads frames (senders write theirs directly) until the connection
    /// ends, then reports it.
    /// The handshake is done: from now on senders write to the WebSocket
    /// directly (what they queued meanwhile is written first).
    fn publish(&self, ws: Ws) -> Arc<Mutex<Ws>> {
        ws.get_ref().delay_next_ack();
        self.ctl.open(&self.shared, ws)
    }

    fn serve(
        mut self,
        shared_ws: Arc<Mutex<Ws>>,
        socket: Arc<TcpStream>,
        blocked: Arc<AtomicBool>,
        remote: SocketAddr,
    ) {
        let idle = self.shared.config.idle_timeout();
        let mut bucket = TokenBucket::new(self.shared.config.max_messages_per_sec, Instant::now());
        let mut last_rx = Instant::now();
        let mut ping_sent = false;
        let reason = loop {
            let mut ws = shared_ws.lock();
            if self.shared.is_stopping() {
                close_quietly(&mut ws, CloseCode::Away, "stopping");
                break DisconnectReason::Stopped;
            }
            if self.ctl.close.load(Ordering::Acquire) {
                close_quietly(&mut ws, CloseCode::Normal, "closing");
                break DisconnectReason::ClosedLocally;
            }
            match self.read_available(&mut ws, &mut bucket, remote) {
                Ok(true) => {
                    last_rx = Instant::now();
                    ping_sent = false;
                    ws.get_ref().delay_next_ack();
                }
                Ok(false) => {}
                Err(r) => break r,
            }
            let now = Instant::now();
            if now >= last_rx + idle {
                close_quietly(&mut ws, CloseCode::Away, "idle");
                break DisconnectReason::IdleTimeout;
            }
            let ping_at = last_rx + idle / 2;
            if !ping_sent && now >= ping_at {
                ping_sent = true;
                match ws.write(Message::Ping(Default::default())) {
                    Err(tungstenite::Error::Io(e)) if would_block(&e) => {}
                    Err(e) => break classify(e),
                    Ok(()) => {}
                }
            }
            // Pongs, close replies, and what senders' writes left buffered.
            match ws.flush() {
                Err(tungstenite::Error::Io(e)) if would_block(&e) => {}
                Err(e) => break classify(e),
                Ok(()) => {}
            }
            drop(ws);
            let deadline = if ping_sent { last_rx + idle } else { ping_at };
            // Any wake-up just goes round the loop again.
            let _ = self.wait(&socket, blocked.load(Ordering::Acquire), deadline);
        };
        let peer = self.shared.close_connection(self.id, &self.ctl);
        log::debug!("connection {} to {remote} ended: {reason:?}", self.id);
        self.shared.emit(TransportEvent::Disconnected {
            conn: self.id,
            remote,
            peer,
            reason,
        });
    }

    /// Reads every frame the socket has; `Ok(true)` if any arrived.
    fn read_available(
        &mut self,
        ws: &mut Ws,
        bucket: &mut TokenBucket,
        remote: SocketAddr,
    ) -> Result<bool, DisconnectReason> {
        let mut any = false;
        loop {
            let msg = match ws.read() {
                Ok(msg) => msg,
                Err(tungstenite::Error::Io(e)) if would_block(&e) => return Ok(any),
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::Interrupted => {
                    continue
                }
                Err(tungstenite::Error::Capacity(_)) => {
                    return Err(self.reject(ws, remote, RejectReason::MessageTooLarge))
                }
                Err(e) => return Err(classify(e)),
            };
            any = true;
            let counted = matches!(
                msg,
                Message::Text(_) | Message::Binary(_) | Message::Ping(_)
            );
            if counted && !bucket.take(Instant::now()) {
                return Err(self.reject(ws, remote, RejectReason::RateLimited));
            }
            match msg {
                Message::Text(t) => {
                    bump(&self.shared.stats.messages_received);
                    self.shared.emit_lossy(TransportEvent::Received {
                        conn: self.id,
                        remote,
                        text: t.as_str().to_owned(),
                    });
                }
                Message::Binary(_) => {
                    return Err(self.reject(ws, remote, RejectReason::BinaryFrame))
                }
                // Pongs to pings are queued by tungstenite; a close is
                // answered and the next read reports the end.
                Message::Ping(_) | Message::Pong(_) | Message::Close(_) | Message::Frame(_) => {}
            }
        }
    }

    /// Cuts off an open connection for a policy reason.
    fn reject(&self, ws: &mut Ws, remote: SocketAddr, reason: RejectReason) -> DisconnectReason {
        log::debug!("connection {} to {remote} rejected: {reason}", self.id);
        let code = match reason {
            RejectReason::MessageTooLarge => CloseCode::Size,
            RejectReason::BinaryFrame => CloseCode::Unsupported,
            _ => CloseCode::Policy,
        };
        close_quietly(ws, code, "rejected");
        bump(&self.shared.stats.rejected);
        self.shared.emit_lossy(TransportEvent::Rejected {
            conn: Some(self.id),
            remote,
            reason: reason.clone(),
        });
        DisconnectReason::Rejected(reason)
    }
}

/// Maps a tungstenite error on an open connection to why it ended.
fn classify(e: tungstenite::Error) -> DisconnectReason {
    use tungstenite::Error as E;
    match e {
        E::ConnectionClosed | E::AlreadyClosed => DisconnectReason::ClosedByPeer,
        // A write after the remote's close frame: the remote closed.
        E::Protocol(ProtocolError::SendAfterClosing) => DisconnectReason::ClosedByPeer,
        // The remote vanished without a close frame (crash, kill, RST).
        E::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
            DisconnectReason::Io("connection reset without closing handshake".into())
        }
        E::Io(e) => DisconnectReason::Io(e.to_string()),
        E::Capacity(_) => DisconnectReason::Rejected(RejectReason::MessageTooLarge),
        other => DisconnectReason::Protocol(other.to_string()),
    }
}
