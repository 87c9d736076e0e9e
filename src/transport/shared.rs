//! State shared by the handle, the listener and the connection threads: the
//! connection table, limits, backoff, counters, and thread bookkeeping.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Shutdown, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, SendTimeoutError, Sender, TrySendError};
use mio::net::TcpStream;
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use parking_lot::Mutex;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, WebSocket};

use crate::model::PeerAddress;

use super::backoff::{BackoffPolicy, BackoffTable};
use super::connection::{self, close_quietly, Origin};
use super::stats::{bump, drop_one, Stats};
use super::stream::MeteredStream;
use super::{ConnectionId, Direction, TransportConfig, TransportError, TransportEvent};

/// Poll token of the listening socket in the listener's poller.
pub(crate) const SOCKET: Token = Token(0);
/// Poll token of the listener's waker (`stop`).
pub(crate) const WAKE: Token = Token(1);
/// Poll tokens of write-blocked connections watched by the listener are
/// the connection id plus this.
pub(crate) const FLUSH_BASE: usize = 2;

/// An open WebSocket, shared by its connection thread (which reads) and
/// the senders (which write to it directly).
pub(crate) type Ws = WebSocket<MeteredStream>;

/// How senders and the handle reach one connection.
#[derive(Debug, Default)]
pub(crate) struct ConnControl {
    /// `close` was asked: the thread sends a close frame and ends.
    pub close: AtomicBool,
    pub link: Mutex<Link>,
}

/// The connection's socket and where a message goes.
#[derive(Default)]
pub(crate) struct Link {
    /// The socket, once it exists (to wake the thread by shutting it
    /// down).
    pub socket: Option<Arc<TcpStream>>,
    /// Messages sent before the handshake finished, written in order when
    /// it does.
    pub queue: VecDeque<String>,
    /// The open WebSocket: senders write to it themselves.
    pub ws: Option<Arc<Mutex<Ws>>>,
    /// The socket is registered with the listener's poller, which flushes
    /// it when it becomes writable again.
    pub watched: bool,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("socket", &self.socket.is_some())
            .field("queued", &self.queue.len())
            .field("open", &self.ws.is_some())
            .finish()
    }
}

/// Why a message could not be handed to a connection.
pub(crate) enum Undelivered {
    /// The queue or tungstenite's write buffer is full (counted).
    Full,
}

impl ConnControl {
    /// Ends the connection from the handle's side (after `close` or
    /// `stop` was flagged) and wakes its thread from its wait on the
    /// socket. An open connection first gets its close frame and the end
    /// of the stream, written here, so the remote sees a clean close
    /// whatever the thread is doing; then the socket is shut for reading,
    /// which wakes the thread, which finds the flag and ends. A connection
    /// still opening is shut both ways (a connect in progress fails at
    /// once).
    pub fn interrupt(&self, code: CloseCode, reason: &'static str) {
        let link = self.link.lock();
        let Some(s) = &link.socket else { return };
        match &link.ws {
            Some(ws) => {
                close_quietly(&mut ws.lock(), code, reason);
                let _ = s.shutdown(Shutdown::Read);
            }
            None => {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
    }

    /// Hands `text` to connection `id`: written at once when it is open,
    /// else queued (at most `outbound_queue_len`) until it opens. A write
    /// the socket cannot take at once stays in tungstenite's buffer, and
    /// the listener's poller is asked to flush it when the socket is
    /// writable again (the connection thread may be asleep).
    pub fn deliver(
        &self,
        shared: &Shared,
        id: ConnectionId,
        text: String,
    ) -> Result<(), Undelivered> {
        let ws = {
            let mut link = self.link.lock();
            match &link.ws {
                Some(ws) => Arc::clone(ws),
                None => {
                    if link.queue.len() >= shared.config.outbound_queue_len {
                        bump(&shared.stats.dropped_outbound);
                        return Err(Undelivered::Full);
                    }
                    link.queue.push_back(text);
                    return Ok(());
                }
            }
        };
        let blocked = {
            let mut ws = ws.lock();
            let written = write_text(shared, &mut ws, text);
            flush_quietly(&mut ws);
            written?;
            ws.get_ref().is_write_blocked()
        };
        if blocked {
            self.watch(shared, id);
        }
        Ok(())
    }

    /// Registers the socket with the listener's poller for writability.
    fn watch(&self, shared: &Shared, id: ConnectionId) {
        let mut link = self.link.lock();
        if link.watched {
            return;
        }
        let Some(socket) = &link.socket else { return };
        let fd = socket.as_raw_fd();
        let token = Token(id.0 as usize + FLUSH_BASE);
        if shared
            .flusher
            .register(&mut SourceFd(&fd), token, Interest::WRITABLE)
            .is_ok()
        {
            link.watched = true;
        }
    }

    /// Called by the listener when the socket became writable: writes out
    /// what is buffered; stops watching once nothing is left.
    pub fn flush_buffered(&self, shared: &Shared) {
        let ws = self.link.lock().ws.clone();
        let done = match ws {
            Some(ws) => {
                let mut ws = ws.lock();
                flush_quietly(&mut ws);
                !ws.get_ref().is_write_blocked()
            }
            None => true,
        };
        if done {
            self.unwatch(shared);
        }
    }

    fn unwatch(&self, shared: &Shared) {
        let mut link = self.link.lock();
        if !link.watched {
            return;
        }
        link.watched = false;
        if let Some(socket) = &link.socket {
            let fd = socket.as_raw_fd();
            let _ = shared.flusher.deregister(&mut SourceFd(&fd));
        }
    }

    /// The connection opened: writes what was queued, then lets senders
    /// write to `ws` directly (in that order, so nothing is reordered).
    pub fn open(&self, shared: &Shared, ws: Ws) -> Arc<Mutex<Ws>> {
        let ws = Arc::new(Mutex::new(ws));
        let mut link = self.link.lock();
        {
            let mut w = ws.lock();
            while let Some(text) = link.queue.pop_front() {
                let _ = write_text(shared, &mut w, text);
            }
            flush_quietly(&mut w);
        }
        link.ws = Some(Arc::clone(&ws));
        ws
    }

    /// The connection ended: later sends find nothing; returns how many
    /// queued messages were never written.
    pub fn end(&self, shared: &Shared) -> usize {
        self.unwatch(shared);
        let mut link = self.link.lock();
        link.ws = None;
        let unsent = link.queue.len();
        link.queue.clear();
        unsent
    }
}

/// Writes one text frame into `ws` (to the socket as far as it takes it;
/// tungstenite buffers the rest). A write error other than a full buffer
/// means the connection is ending: its thread sees the same error.
pub(crate) fn write_text(shared: &Shared, ws: &mut Ws, text: String) -> Result<(), Undelivered> {
    match ws.write(Message::Text(text.into())) {
        Ok(()) => bump(&shared.stats.messages_sent),
        Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {
            bump(&shared.stats.messages_sent)
        }
        Err(tungstenite::Error::WriteBufferFull(_)) => {
            bump(&shared.stats.dropped_outbound);
            return Err(Undelivered::Full);
        }
        Err(e) => log::debug!("write failed: {e}"),
    }
    Ok(())
}

/// Flushes what the socket takes now; never waits (the rest goes when
/// the socket is writable again, from the connection thread).
pub(crate) fn flush_quietly(ws: &mut Ws) {
    let _ = ws.flush();
}

/// One connection open or opening.
#[derive(Debug)]
pub(crate) struct ConnEntry {
    pub direction: Direction,
    pub remote: Option<SocketAddr>,
    pub peer: Option<PeerAddress>,
    /// The WebSocket handshake is done.
    pub open: bool,
    pub ctl: Arc<ConnControl>,
}

/// Everything behind the one lock.
#[derive(Debug)]
pub(crate) struct State {
    pub conns: HashMap<ConnectionId, ConnEntry>,
    pub by_peer: HashMap<PeerAddress, ConnectionId>,
    pub per_ip: HashMap<IpAddr, usize>,
    pub backoff: BackoffTable,
    pub threads: Vec<JoinHandle<()>>,
    /// Cloned into every thread and dropped when it ends; `None` once
    /// stopping, so no thread can start after `stop`.
    pub alive: Option<Sender<()>>,
}

/// The transport's shared core.
#[derive(Debug)]
pub(crate) struct Shared {
    pub config: TransportConfig,
    pub ws_config: WebSocketConfig,
    pub stats: Stats,
    pub stopping: AtomicBool,
    pub state: Mutex<State>,
    events: Sender<TransportEvent>,
    next_id: AtomicU64,
    /// The listener's poller, which also watches write-blocked sockets.
    pub flusher: Registry,
}

impl Shared {
    pub fn new(
        config: TransportConfig,
        events: Sender<TransportEvent>,
        flusher: Registry,
    ) -> (Arc<Shared>, Receiver<()>) {
        let (alive_tx, alive_rx) = crossbeam_channel::bounded(0);
        let policy = BackoffPolicy {
            base: Duration::from_millis(config.backoff_base_ms),
            cap: Duration::from_millis(config.backoff_cap_ms),
            jitter: config.backoff_jitter,
        };
        let shared = Shared {
            ws_config: config.websocket_config(),
            config,
            stats: Stats::default(),
            stopping: AtomicBool::new(false),
            state: Mutex::new(State {
                conns: HashMap::new(),
                by_peer: HashMap::new(),
                per_ip: HashMap::new(),
                backoff: BackoffTable::new(policy),
                threads: Vec::new(),
                alive: Some(alive_tx),
            }),
            events,
            next_id: AtomicU64::new(1),
            flusher,
        };
        (Arc::new(shared), alive_rx)
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Sends an event that must not be lost (connection life cycle): waits
    /// for room in the channel, but never past the start of `stop`.
    pub fn emit(&self, mut ev: TransportEvent) {
        if self.is_stopping() {
            return self.emit_lossy(ev);
        }
        loop {
            match self.events.send_timeout(ev, Duration::from_millis(10)) {
                Ok(()) | Err(SendTimeoutError::Disconnected(_)) => return,
                Err(SendTimeoutError::Timeout(back)) => {
                    if self.is_stopping() {
                        bump(&self.stats.dropped_events);
                        return;
                    }
                    ev = back;
                }
            }
        }
    }

    /// Sends an event that may be dropped (counted) when the channel is full.
    pub fn emit_lossy(&self, ev: TransportEvent) {
        if let Err(TrySendError::Full(_)) = self.events.try_send(ev) {
            bump(&self.stats.dropped_events);
        }
    }

    /// Starts a thread under the lock (so none starts after `stop`).
    pub fn spawn(
        self: &Arc<Self>,
        st: &mut State,
        name: String,
        body: impl FnOnce(Arc<Shared>) + Send + 'static,
    ) -> Result<(), TransportError> {
        let alive = st.alive.clone().ok_or(TransportError::Stopped)?;
        // Reap threads that have ended, so the list stays short.
        let (done, running): (Vec<_>, Vec<_>) = st.threads.drain(..).partition(|h| h.is_finished());
        st.threads = running;
        for h in done {
            let _ = h.join();
        }
        let shared = Arc::clone(self);
        bump(&self.stats.threads);
        let handle = std::thread::Builder::new().name(name).spawn(move || {
            let _alive = alive;
            let counters = Arc::clone(&shared);
            body(shared);
            drop_one(&counters.stats.threads);
        });
        match handle {
            Ok(h) => {
                st.threads.push(h);
                Ok(())
            }
            Err(e) => {
                drop_one(&self.stats.threads);
                Err(TransportError::Io(e))
            }
        }
    }

    /// Registers a new connection and starts its thread. Call with the lock
    /// held, after checking the limits.
    pub fn open_connection(
        self: &Arc<Self>,
        st: &mut State,
        origin: Origin,
    ) -> Result<ConnectionId, TransportError> {
        if self.is_stopping() {
            return Err(TransportError::Stopped);
        }
        let id = ConnectionId(self.next_id.fetch_add(1, Ordering::Relaxed));
        let ctl = Arc::new(ConnControl::default());
        let (direction, remote, peer) = match &origin {
            Origin::Inbound(_, remote) => (Direction::Inbound, Some(*remote), None),
            Origin::Outbound(peer) => (Direction::Outbound, None, Some(peer.clone())),
        };
        let thread_ctl = Arc::clone(&ctl);
        self.spawn(st, format!("peerdisc-conn-{}", id.0), move |shared| {
            connection::run(shared, id, origin, thread_ctl)
        })?;
        if let Some(ip) = remote.map(|r| r.ip()) {
            *st.per_ip.entry(ip).or_insert(0) += 1;
        }
        if let Some(p) = &peer {
            st.by_peer.insert(p.clone(), id);
        }
        st.conns.insert(
            id,
            ConnEntry {
                direction,
                remote,
                peer,
                open: false,
                ctl,
            },
        );
        bump(&self.stats.open_connections);
        Ok(id)
    }

    /// Removes a connection that ended; returns the peer it served.
    pub fn close_connection(&self, id: ConnectionId, ctl: &ConnControl) -> Option<PeerAddress> {
        let peer = {
            let mut st = self.state.lock();
            let entry = st.conns.remove(&id)?;
            if let Some(p) = &entry.peer {
                if st.by_peer.get(p) == Some(&id) {
                    st.by_peer.remove(p);
                }
            }
            if entry.direction == Direction::Inbound {
                if let Some(ip) = entry.remote.map(|r| r.ip()) {
                    if let Some(n) = st.per_ip.get_mut(&ip) {
                        *n = n.saturating_sub(1);
                        if *n == 0 {
                            st.per_ip.remove(&ip);
                        }
                    }
                }
            }
            entry.peer
        };
        drop_one(&self.stats.open_connections);
        let unsent = ctl.end(self) as u64;
        super::stats::add(&self.stats.dropped_outbound, unsent);
        peer
    }

    /// Records the outcome of an outbound connect in the backoff table.
    pub fn connect_outcome(&self, peer: &PeerAddress, ok: bool) {
        let mut st = self.state.lock();
        if ok {
            st.backoff.success(peer);
        } else {
            st.backoff.failure(peer, Instant::now());
        }
    }

    /// Marks a connection open (handshake done) at `remote`.
    pub fn mark_open(&self, id: ConnectionId, remote: SocketAddr) {
        if let Some(e) = self.state.lock().conns.get_mut(&id) {
            e.remote = Some(remote);
            e.open = true;
        }
    }
}
