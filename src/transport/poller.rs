//! The poller thread, the transport's one I/O thread: a mio run loop (in
//! the style of mdns-sd's daemon) over the listener, every connection's
//! socket, and a waker. Each round it accepts and admits new connections,
//! drives every socket that is ready (connect, handshakes, reads, writes),
//! carries out the handle's commands (dial, send, close, stop), writes what
//! the commands queued, fires the deadlines that are due (connect,
//! handshake, ping, idle), and reports what happened as events. It never
//! blocks but in `poll`, so one peer that hangs cannot hold up another.

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::WebSocketConfig;

use crate::model::PeerAddress;

use super::connection::{Conn, Step};
use super::directory::Admission;
use super::listener::{self, Accepted};
use super::mailbox::Command;
use super::opening::OpenCtx;
use super::resolver::Resolver;
use super::shared::Shared;
use super::sink::Sink;
use super::stats::{add, bump, drop_one};
use super::{
    ConnectError, ConnectionId, Direction, DisconnectReason, RejectReason, TransportEvent,
};

/// Poll token of the listening socket.
pub(crate) const LISTENER: Token = Token(0);
/// Poll token of the mailbox's waker.
pub(crate) const WAKER: Token = Token(1);
/// Connection `id` polls under token `id + CONN_BASE`.
const CONN_BASE: usize = 2;
/// Most commands carried out in one round (then the sockets get a turn).
const COMMANDS_PER_ROUND: usize = 4096;
/// How soon to look again when held events wait for room in the channel,
/// or after a failed accept.
const RETRY: Duration = Duration::from_millis(10);

fn token_of(id: ConnectionId) -> Token {
    Token(id.0 as usize + CONN_BASE)
}

fn id_of(token: Token) -> ConnectionId {
    ConnectionId((token.0 - CONN_BASE) as u64)
}

/// What the poller owns; moved into its thread by [`Poller::run`].
pub(crate) struct Poller {
    shared: Arc<Shared>,
    poll: Poll,
    listener: TcpListener,
    commands: Receiver<Command>,
    sink: Sink,
    resolver: Resolver,
    ws_config: WebSocketConfig,
    conns: HashMap<ConnectionId, Conn>,
    /// Connections with messages to write this round.
    dirty: HashSet<ConnectionId>,
    /// No connection's deadline is before this.
    next_due: Instant,
    accept_again: bool,
}

impl Poller {
    pub fn new(
        shared: Arc<Shared>,
        poll: Poll,
        mut listener: TcpListener,
        commands: Receiver<Command>,
        events: Sender<TransportEvent>,
    ) -> io::Result<Self> {
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let resolver = Resolver::new(Arc::clone(&shared.mailbox), Arc::clone(&shared.threads));
        Ok(Poller {
            sink: Sink::new(events, Arc::clone(&shared.stats)),
            ws_config: shared.config.websocket_config(),
            shared,
            poll,
            listener,
            commands,
            resolver,
            conns: HashMap::new(),
            dirty: HashSet::new(),
            next_due: far_future(),
            accept_again: false,
        })
    }

    /// The thread body.
    pub fn run(mut self) {
        let mut events = Events::with_capacity(256);
        let mut more_commands = false;
        loop {
            let timeout = self.timeout(more_commands);
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    log::warn!("transport poller: poll failed: {e}");
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            for ev in events.iter() {
                match ev.token() {
                    LISTENER => self.accept_all(),
                    WAKER => {}
                    token => self.on_ready(id_of(token)),
                }
            }
            if self.accept_again {
                self.accept_all();
            }
            match self.carry_out_commands() {
                Some(more) => more_commands = more,
                None => return self.shut_down(),
            }
            self.write_dirty();
            self.fire_deadlines();
            self.sink.retry();
        }
    }

    fn timeout(&self, more_commands: bool) -> Option<Duration> {
        if more_commands {
            return Some(Duration::ZERO);
        }
        let mut t = self.next_due.saturating_duration_since(Instant::now());
        if self.sink.is_holding() || self.accept_again {
            t = t.min(RETRY);
        }
        // Rounded up to the next millisecond (epoll's resolution), so a
        // deadline is never woken for early.
        Some(t + Duration::from_nanos(999_999))
    }

    fn accept_all(&mut self) {
        self.accept_again = false;
        loop {
            match listener::accept(&self.listener) {
                Accepted::Stream(stream, remote) => self.admit(stream, remote),
                Accepted::Drained => return,
                Accepted::Failed => {
                    self.accept_again = true;
                    return;
                }
            }
        }
    }

    /// Serves an accepted socket, or drops it when a limit is reached.
    fn admit(&mut self, stream: TcpStream, remote: SocketAddr) {
        if self.shared.is_stopping() {
            return;
        }
        let id = loop {
            let admission = self.shared.directory.lock().admit_inbound(remote);
            match admission {
                Admission::Admitted(id) => break id,
                Admission::Displace(victim) => self.displace(victim),
                Admission::Refused(reason) => {
                    // The stream is closed when it goes out of scope.
                    log::debug!("transport: refused {remote}: {reason}");
                    bump(&self.shared.stats.rejected);
                    self.sink.emit_lossy(TransportEvent::Rejected {
                        conn: None,
                        remote,
                        reason,
                    });
                    return;
                }
            }
        };
        bump(&self.shared.stats.open_connections);
        let ctx = ctx(&self.poll, &self.shared, self.ws_config);
        match Conn::inbound(id, stream, remote, token_of(id), &ctx) {
            Ok(conn) => {
                self.conns.insert(id, conn);
                self.on_ready(id);
            }
            Err(e) => {
                log::warn!("transport: cannot serve {remote}: {e}");
                self.forget(id);
            }
        }
    }

    /// Ends an inbound connection to make room for one from a less busy
    /// address.
    fn displace(&mut self, victim: ConnectionId) {
        let reason = RejectReason::Displaced;
        let Some(conn) = self.conns.get_mut(&victim) else {
            // Not the poller's yet (cannot happen for inbound ones).
            self.forget(victim);
            return;
        };
        let (open, remote) = (conn.is_open(), conn.remote);
        conn.close(CloseCode::Policy, "displaced");
        let remote = remote.expect("an inbound connection has a remote");
        bump(&self.shared.stats.rejected);
        self.sink.emit_lossy(TransportEvent::Rejected {
            conn: Some(victim),
            remote,
            reason: reason.clone(),
        });
        if open {
            self.settle(victim, Step::Ended(DisconnectReason::Rejected(reason)));
        } else {
            self.forget(victim);
        }
    }

    fn on_ready(&mut self, id: ConnectionId) {
        self.drive(id, |conn, ctx, sink| conn.ready(ctx, sink));
    }

    /// Runs `f` on connection `id` (if it still exists) and settles what
    /// came of it.
    fn drive(
        &mut self,
        id: ConnectionId,
        f: impl FnOnce(&mut Conn, &OpenCtx<'_>, &mut Sink) -> Step,
    ) {
        let ctx = ctx(&self.poll, &self.shared, self.ws_config);
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let step = f(conn, &ctx, &mut self.sink);
        self.settle(id, step);
    }

    /// Carries out waiting commands; `None` on `Stop`, else whether more
    /// are waiting.
    fn carry_out_commands(&mut self) -> Option<bool> {
        self.shared.mailbox.answered();
        for _ in 0..COMMANDS_PER_ROUND {
            let cmd = match self.commands.try_recv() {
                Ok(cmd) => cmd,
                Err(TryRecvError::Empty) => return Some(false),
                // The handle is gone: stop.
                Err(TryRecvError::Disconnected) => return None,
            };
            match cmd {
                Command::Dial { id, peer } => self.dial(id, peer),
                Command::Send { id, text } => match self.conns.get_mut(&id) {
                    Some(conn) => {
                        conn.push(text);
                        self.dirty.insert(id);
                    }
                    None => bump(&self.shared.stats.dropped_outbound),
                },
                Command::Close { id } => self.close(id),
                Command::Resolved { id, addrs } => {
                    self.drive(id, |conn, ctx, _| conn.resolved(addrs, ctx))
                }
                Command::Stop => return None,
            }
        }
        Some(true)
    }

    fn dial(&mut self, id: ConnectionId, peer: PeerAddress) {
        let deadline = Instant::now() + self.shared.config.connect_timeout();
        let (host, port) = (peer.host(), peer.port());
        self.conns
            .insert(id, Conn::outbound(id, peer, token_of(id), deadline));
        self.next_due = self.next_due.min(deadline);
        // IP literals need no look-up; names go to the resolver thread.
        match host.parse::<IpAddr>() {
            Ok(ip) => {
                let addrs = Ok(vec![SocketAddr::new(ip, port)]);
                self.drive(id, |conn, ctx, _| conn.resolved(addrs, ctx));
            }
            Err(_) => {
                if let Err(e) = self.resolver.resolve(id, host, port) {
                    self.settle(id, Step::Failed(e));
                }
            }
        }
    }

    /// `close` from the handle: what is queued goes out first if the
    /// socket takes it, then the close frame.
    fn close(&mut self, id: ConnectionId) {
        let ctx = ctx(&self.poll, &self.shared, self.ws_config);
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        if !conn.is_open() {
            match conn.direction {
                Direction::Outbound => self.settle(id, Step::Failed(ConnectError::Cancelled)),
                // An inbound connection still opening ends silently.
                Direction::Inbound => {
                    self.forget(id);
                }
            }
            return;
        }
        let step = match conn.write(&ctx) {
            Step::Idle => {
                conn.close(CloseCode::Normal, "closing");
                Step::Ended(DisconnectReason::ClosedLocally)
            }
            other => other,
        };
        self.settle(id, step);
    }

    fn write_dirty(&mut self) {
        if self.dirty.is_empty() {
            return;
        }
        let dirty: Vec<ConnectionId> = self.dirty.drain().collect();
        for id in dirty {
            self.drive(id, |conn, ctx, _| conn.write(ctx));
        }
    }

    fn fire_deadlines(&mut self) {
        let now = Instant::now();
        if now < self.next_due {
            return;
        }
        let ctx = ctx(&self.poll, &self.shared, self.ws_config);
        let mut due = Vec::new();
        let mut next = far_future();
        for (id, conn) in &mut self.conns {
            match conn.expire(now, &ctx) {
                Step::Idle => next = next.min(conn.deadline()),
                step => due.push((*id, step)),
            }
        }
        self.next_due = next;
        for (id, step) in due {
            self.settle(id, step);
        }
    }

    /// Does the bookkeeping a step asks for.
    fn settle(&mut self, id: ConnectionId, mut step: Step) {
        loop {
            let ctx = ctx(&self.poll, &self.shared, self.ws_config);
            let Some(conn) = self.conns.get_mut(&id) else {
                return;
            };
            let taken = conn.take_taken();
            if taken.messages > 0 {
                self.shared
                    .directory
                    .lock()
                    .dequeued(id, taken.messages, taken.bytes);
            }
            self.next_due = self.next_due.min(conn.deadline());
            match step {
                Step::Idle => return,
                Step::Opened(remote) => {
                    let peer = conn.peer.clone();
                    {
                        let mut dir = self.shared.directory.lock();
                        dir.mark_open(id, remote);
                        if let Some(p) = &peer {
                            dir.connect_outcome(p, true);
                        }
                    }
                    let opened = match conn.direction {
                        Direction::Inbound => &self.shared.stats.inbound_opened,
                        Direction::Outbound => &self.shared.stats.outbound_opened,
                    };
                    bump(opened);
                    self.sink.emit(TransportEvent::Connected {
                        conn: id,
                        direction: conn.direction,
                        remote,
                        peer,
                    });
                    // Now the reads (and what was queued meanwhile).
                    step = conn.ready(&ctx, &mut self.sink);
                }
                Step::Failed(error) => {
                    let peer = conn
                        .peer
                        .clone()
                        .expect("an outbound connection has a peer");
                    self.forget(id);
                    if error == ConnectError::Cancelled {
                        // Closed by the node while opening: no backoff, not
                        // a failure of the peer. On stop, stay quiet.
                        if self.shared.is_stopping() {
                            return;
                        }
                    } else {
                        log::debug!("connect to {peer} failed: {error}");
                        self.shared.directory.lock().connect_outcome(&peer, false);
                        bump(&self.shared.stats.connect_failures);
                    }
                    self.sink.emit(TransportEvent::ConnectFailed {
                        conn: id,
                        peer,
                        error,
                    });
                    return;
                }
                Step::Refused(reason) => {
                    let remote = conn.remote.expect("an inbound connection has a remote");
                    log::debug!("connection {id} from {remote} rejected: {reason}");
                    self.forget(id);
                    bump(&self.shared.stats.rejected);
                    self.sink.emit_lossy(TransportEvent::Rejected {
                        conn: Some(id),
                        remote,
                        reason,
                    });
                    return;
                }
                Step::Ended(reason) => {
                    let remote = conn.remote.expect("an open connection has a remote");
                    let peer = self.forget(id);
                    log::debug!("connection {id} to {remote} ended: {reason:?}");
                    self.sink.emit(TransportEvent::Disconnected {
                        conn: id,
                        remote,
                        peer,
                        reason,
                    });
                    return;
                }
            }
        }
    }

    /// Drops a connection (its socket closes) and its directory entry;
    /// returns the peer it served.
    fn forget(&mut self, id: ConnectionId) -> Option<PeerAddress> {
        let unsent = self
            .conns
            .remove(&id)
            .map(|mut c| c.drop_outbox())
            .unwrap_or_default();
        add(&self.shared.stats.dropped_outbound, unsent.messages as u64);
        self.dirty.remove(&id);
        let entry = self.shared.directory.lock().remove(id)?;
        // Messages still in the command channel are counted when their
        // `Send` finds the connection gone.
        drop_one(&self.shared.stats.open_connections);
        entry.peer
    }

    /// `stop`: open connections get a close frame and report
    /// `Disconnected { reason: Stopped }` (if the channel has room); the
    /// others end silently.
    fn shut_down(mut self) {
        self.sink.retry();
        self.sink.drop_held();
        let ids: Vec<ConnectionId> = self.conns.keys().copied().collect();
        for id in ids {
            let Some(conn) = self.conns.get_mut(&id) else {
                continue;
            };
            let open = conn.is_open();
            conn.close(CloseCode::Away, "stopping");
            let remote = conn.remote;
            let peer = self.forget(id);
            if let (true, Some(remote)) = (open, remote) {
                self.sink.emit_lossy(TransportEvent::Disconnected {
                    conn: id,
                    remote,
                    peer,
                    reason: DisconnectReason::Stopped,
                });
            }
        }
        // Entries the poller never saw (their `Dial` was still queued).
        let mut dir = self.shared.directory.lock();
        for id in dir.ids() {
            if dir.remove(id).is_some() {
                drop_one(&self.shared.stats.open_connections);
            }
        }
    }
}

fn ctx<'a>(poll: &'a Poll, shared: &'a Shared, ws_config: WebSocketConfig) -> OpenCtx<'a> {
    OpenCtx {
        registry: poll.registry(),
        config: &shared.config,
        ws_config,
        stats: &shared.stats,
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(3600)
}
