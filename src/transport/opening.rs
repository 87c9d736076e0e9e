//! A connection until its WebSocket is open: the non-blocking TCP connect
//! (each resolved address in turn, each within the connect timeout), then
//! the client handshake; or, for an accepted socket, the server handshake
//! with its path check. Every step is driven by readiness events from the
//! poller and never waits; the deadlines are checked by [`Opening::expire`].

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use parking_lot::Mutex;
use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::client::{ClientHandshake, Response as ClientResponse};
use tungstenite::handshake::server::{Callback, ErrorResponse, Request, Response, ServerHandshake};
use tungstenite::handshake::{HandshakeError, MidHandshake};
use tungstenite::http::StatusCode;
use tungstenite::protocol::WebSocketConfig;
use tungstenite::WebSocket;

use crate::model::PeerAddress;

use super::stats::Stats;
use super::stream::MeteredStream;
use super::{ConnectError, RejectReason, TransportConfig};

/// An open WebSocket on a metered socket.
pub(crate) type Ws = WebSocket<MeteredStream>;

/// What one step of opening came to.
pub(crate) enum Opened {
    /// Still under way: wait for the socket or the deadline.
    Pending,
    /// The handshake is done.
    Open(Box<Ws>, SocketAddr),
    /// An outbound connection could not be opened.
    Failed(ConnectError),
    /// An inbound connection was refused (bad or slow handshake).
    Refused(RejectReason),
}

/// The server handshake's path check; remembers a wrong path it refused.
struct PathCheck {
    wanted: Arc<str>,
    asked: Arc<Mutex<Option<String>>>,
}

impl Callback for PathCheck {
    // The signature is tungstenite's.
    #[allow(clippy::result_large_err)]
    fn on_request(self, req: &Request, resp: Response) -> Result<Response, ErrorResponse> {
        let path = req.uri().path();
        if path == &*self.wanted {
            return Ok(resp);
        }
        *self.asked.lock() = Some(path.chars().take(256).collect());
        let mut err = ErrorResponse::new(Some("not found".into()));
        *err.status_mut() = StatusCode::NOT_FOUND;
        Err(err)
    }
}

enum Phase {
    /// Waiting for the resolver.
    Resolving,
    /// A TCP connect in progress to `remote`.
    Connecting(TcpStream, SocketAddr),
    Client(MidHandshake<ClientHandshake<MeteredStream>>, SocketAddr),
    Server(
        MidHandshake<ServerHandshake<MeteredStream, PathCheck>>,
        SocketAddr,
    ),
    /// Moved out while a step runs, or finished.
    Gone,
}

/// What opening needs from the poller.
pub(crate) struct OpenCtx<'a> {
    pub registry: &'a Registry,
    pub config: &'a TransportConfig,
    pub ws_config: WebSocketConfig,
    pub stats: &'a Arc<Stats>,
}

pub(crate) struct Opening {
    phase: Phase,
    token: Token,
    /// The address dialled (outbound).
    peer: Option<PeerAddress>,
    /// Addresses still to try (outbound).
    addrs: VecDeque<SocketAddr>,
    /// The error of the last address tried.
    last_error: ConnectError,
    deadline: Instant,
    /// The path an inbound client asked for, when it was the wrong one.
    asked: Arc<Mutex<Option<String>>>,
}

fn io_error(e: io::Error) -> ConnectError {
    ConnectError::Io(e.to_string())
}

impl Opening {
    /// An outbound connection to `peer`, waiting for its addresses.
    pub fn outbound(peer: PeerAddress, token: Token, deadline: Instant) -> Self {
        Opening {
            phase: Phase::Resolving,
            token,
            peer: Some(peer),
            addrs: VecDeque::new(),
            last_error: ConnectError::Timeout,
            deadline,
            asked: Arc::default(),
        }
    }

    /// An accepted socket: registers it and starts the server handshake.
    pub fn inbound(
        mut stream: TcpStream,
        remote: SocketAddr,
        token: Token,
        ctx: &OpenCtx<'_>,
    ) -> io::Result<Self> {
        ctx.registry
            .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)?;
        let _ = stream.set_nodelay(true);
        let asked: Arc<Mutex<Option<String>>> = Arc::default();
        let check = PathCheck {
            wanted: ctx.config.ws_path.as_str().into(),
            asked: Arc::clone(&asked),
        };
        let metered = MeteredStream::new(stream, Arc::clone(ctx.stats));
        let mid = ServerHandshake::start(metered, check, Some(ctx.ws_config));
        Ok(Opening {
            phase: Phase::Server(mid, remote),
            token,
            peer: None,
            addrs: VecDeque::new(),
            last_error: ConnectError::Timeout,
            deadline: Instant::now() + ctx.config.handshake_timeout(),
            asked,
        })
    }

    /// When [`Self::expire`] has to be called.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The resolver answered: connect to the first address.
    pub fn resolved(
        &mut self,
        addrs: Result<Vec<SocketAddr>, ConnectError>,
        ctx: &OpenCtx<'_>,
    ) -> Opened {
        if !matches!(self.phase, Phase::Resolving) {
            return Opened::Pending;
        }
        match addrs {
            Ok(a) => {
                self.addrs = a.into();
                self.connect_next(ctx)
            }
            Err(e) => Opened::Failed(e),
        }
    }

    /// Starts a TCP connect to the next address; fails with the last error
    /// when none is left.
    fn connect_next(&mut self, ctx: &OpenCtx<'_>) -> Opened {
        while let Some(addr) = self.addrs.pop_front() {
            let attempt = TcpStream::connect(addr).and_then(|mut s| {
                ctx.registry.register(
                    &mut s,
                    self.token,
                    Interest::READABLE | Interest::WRITABLE,
                )?;
                Ok(s)
            });
            match attempt {
                Ok(stream) => {
                    self.deadline = Instant::now() + ctx.config.connect_timeout();
                    self.phase = Phase::Connecting(stream, addr);
                    // It may have connected at once (loopback).
                    return self.advance(ctx);
                }
                Err(e) => self.last_error = io_error(e),
            }
        }
        self.phase = Phase::Gone;
        Opened::Failed(self.last_error.clone())
    }

    /// The socket is ready (or may be): takes every step it allows.
    pub fn advance(&mut self, ctx: &OpenCtx<'_>) -> Opened {
        match std::mem::replace(&mut self.phase, Phase::Gone) {
            Phase::Resolving => {
                self.phase = Phase::Resolving;
                Opened::Pending
            }
            Phase::Gone => Opened::Pending,
            Phase::Connecting(stream, addr) => self.connecting(stream, addr, ctx),
            Phase::Client(mid, addr) => self.client(mid.handshake(), addr),
            Phase::Server(mid, addr) => self.server(mid.handshake(), addr),
        }
    }

    fn connecting(&mut self, stream: TcpStream, addr: SocketAddr, ctx: &OpenCtx<'_>) -> Opened {
        // As mio documents: the connect is done when the socket has no
        // error and a peer address.
        let failed = match stream.take_error() {
            Ok(Some(e)) | Err(e) => Some(e),
            Ok(None) => match stream.peer_addr() {
                Ok(_) => None,
                Err(e)
                    if e.kind() == io::ErrorKind::NotConnected
                        || e.raw_os_error() == Some(libc::EINPROGRESS) =>
                {
                    self.phase = Phase::Connecting(stream, addr);
                    return Opened::Pending;
                }
                Err(e) => Some(e),
            },
        };
        if let Some(e) = failed {
            self.last_error = io_error(e);
            let _ = ctx.registry.deregister(&mut { stream });
            return self.connect_next(ctx);
        }
        let _ = stream.set_nodelay(true);
        self.deadline = Instant::now() + ctx.config.handshake_timeout();
        let peer = self
            .peer
            .as_ref()
            .expect("an outbound connection has a peer");
        let request = match peer.as_str().into_client_request() {
            Ok(r) => r,
            Err(e) => return Opened::Failed(ConnectError::Handshake(e.to_string())),
        };
        let metered = MeteredStream::new(stream, Arc::clone(ctx.stats));
        match ClientHandshake::start(metered, request, Some(ctx.ws_config)) {
            Ok(mid) => self.client(mid.handshake(), addr),
            Err(e) => Opened::Failed(ConnectError::Handshake(e.to_string())),
        }
    }

    fn client(
        &mut self,
        step: Result<(Ws, ClientResponse), HandshakeError<ClientHandshake<MeteredStream>>>,
        addr: SocketAddr,
    ) -> Opened {
        match step {
            Ok((ws, _response)) => Opened::Open(Box::new(ws), addr),
            Err(HandshakeError::Interrupted(mid)) => {
                self.phase = Phase::Client(mid, addr);
                Opened::Pending
            }
            Err(HandshakeError::Failure(e)) => {
                Opened::Failed(ConnectError::Handshake(e.to_string()))
            }
        }
    }

    fn server(
        &mut self,
        step: Result<Ws, HandshakeError<ServerHandshake<MeteredStream, PathCheck>>>,
        addr: SocketAddr,
    ) -> Opened {
        match step {
            Ok(ws) => Opened::Open(Box::new(ws), addr),
            Err(HandshakeError::Interrupted(mid)) => {
                self.phase = Phase::Server(mid, addr);
                Opened::Pending
            }
            Err(HandshakeError::Failure(e)) => Opened::Refused(match self.asked.lock().take() {
                Some(path) => RejectReason::WrongPath(path),
                None => RejectReason::HandshakeFailed(e.to_string()),
            }),
        }
    }

    /// The deadline passed (call when `now >= deadline()`): the next
    /// address, or the failure.
    pub fn expire(&mut self, ctx: &OpenCtx<'_>) -> Opened {
        match std::mem::replace(&mut self.phase, Phase::Gone) {
            Phase::Resolving => Opened::Failed(ConnectError::Resolve("look-up timed out".into())),
            Phase::Connecting(mut stream, _) => {
                let _ = ctx.registry.deregister(&mut stream);
                self.last_error = ConnectError::Timeout;
                self.connect_next(ctx)
            }
            Phase::Client(..) => Opened::Failed(ConnectError::HandshakeTimeout),
            Phase::Server(..) => Opened::Refused(RejectReason::HandshakeTimeout),
            Phase::Gone => Opened::Pending,
        }
    }
}
