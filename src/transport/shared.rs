//! State shared by the handle, the listener and the connection threads: the
//! connection table, limits, backoff, counters, and thread bookkeeping.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, SendTimeoutError, Sender, TrySendError};
use mio::{Registry, Token};
use parking_lot::Mutex;
use tungstenite::protocol::WebSocketConfig;

use crate::model::PeerAddress;

use super::backoff::{BackoffPolicy, BackoffTable};
use super::connection::{self, Origin};
use super::link::ConnControl;
use super::stats::{bump, drop_one, Stats};
use super::{ConnectionId, Direction, TransportConfig, TransportError, TransportEvent};

/// Poll token of the listening socket in the listener's poller.
pub(crate) const SOCKET: Token = Token(0);
/// Poll token of the listener's waker (`stop`).
pub(crate) const WAKE: Token = Token(1);
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
