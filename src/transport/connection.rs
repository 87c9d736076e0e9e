//! One connection's state machine, as the poller holds it: opening (see
//! `opening.rs`), then open (see `session.rs`), with the outbox of
//! messages waiting to be written. Each call takes the steps the socket
//! allows and says what came of them; the poller does the bookkeeping
//! (directory, backoff, life-cycle events).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use mio::net::TcpStream;
use mio::Token;
use tungstenite::protocol::frame::coding::CloseCode;

use crate::model::PeerAddress;

use super::opening::{OpenCtx, Opened, Opening};
use super::session::{Session, Taken};
use super::sink::Sink;
use super::{ConnectError, ConnectionId, Direction, DisconnectReason, RejectReason};

/// What a call on a connection came to.
pub(crate) enum Step {
    /// Nothing the poller must act on.
    Idle,
    /// The WebSocket handshake is done (call [`Conn::ready`] again once
    /// `Connected` is reported: reads wait until then).
    Opened(SocketAddr),
    /// An outbound connection could not be opened.
    Failed(ConnectError),
    /// An inbound connection was refused before it opened.
    Refused(RejectReason),
    /// An open connection ended.
    Ended(DisconnectReason),
}

enum State {
    Opening(Opening),
    Open(Session),
}

pub(crate) struct Conn {
    pub id: ConnectionId,
    pub direction: Direction,
    /// The address dialled (outbound).
    pub peer: Option<PeerAddress>,
    /// The remote address of an accepted socket, or of the open connection.
    pub remote: Option<SocketAddr>,
    state: State,
    outbox: VecDeque<String>,
    /// What left the outbox since the poller last asked.
    taken: Taken,
}

impl Conn {
    pub fn outbound(id: ConnectionId, peer: PeerAddress, token: Token, deadline: Instant) -> Self {
        Conn {
            id,
            direction: Direction::Outbound,
            state: State::Opening(Opening::outbound(peer.clone(), token, deadline)),
            peer: Some(peer),
            remote: None,
            outbox: VecDeque::new(),
            taken: Taken::default(),
        }
    }

    pub fn inbound(
        id: ConnectionId,
        stream: TcpStream,
        remote: SocketAddr,
        token: Token,
        ctx: &OpenCtx<'_>,
    ) -> std::io::Result<Self> {
        Ok(Conn {
            id,
            direction: Direction::Inbound,
            state: State::Opening(Opening::inbound(stream, remote, token, ctx)?),
            peer: None,
            remote: Some(remote),
            outbox: VecDeque::new(),
            taken: Taken::default(),
        })
    }

    pub fn is_open(&self) -> bool {
        matches!(self.state, State::Open(_))
    }

    /// When [`Self::expire`] has something to do.
    pub fn deadline(&self) -> Instant {
        match &self.state {
            State::Opening(o) => o.deadline(),
            State::Open(s) => s.deadline(),
        }
    }

    /// Queues `text` (the caller counted it in the directory).
    pub fn push(&mut self, text: String) {
        self.outbox.push_back(text);
    }

    /// What left the outbox since the last call.
    pub fn take_taken(&mut self) -> Taken {
        std::mem::take(&mut self.taken)
    }

    /// Empties the outbox (the connection ends); what was in it.
    pub fn drop_outbox(&mut self) -> Taken {
        let dropped = Taken {
            messages: self.outbox.len(),
            bytes: self.outbox.iter().map(String::len).sum(),
        };
        self.outbox.clear();
        dropped
    }

    fn opened(&mut self, step: Opened, ctx: &OpenCtx<'_>) -> Step {
        match step {
            Opened::Pending => Step::Idle,
            Opened::Open(ws, remote) => {
                self.remote = Some(remote);
                let session = Session::new(
                    *ws,
                    self.id,
                    remote,
                    ctx.config.max_messages_per_sec,
                    ctx.config.idle_timeout(),
                );
                self.state = State::Open(session);
                Step::Opened(remote)
            }
            Opened::Failed(e) => Step::Failed(e),
            Opened::Refused(r) => Step::Refused(r),
        }
    }

    /// The resolver answered for this (outbound) connection.
    pub fn resolved(
        &mut self,
        addrs: Result<Vec<SocketAddr>, ConnectError>,
        ctx: &OpenCtx<'_>,
    ) -> Step {
        let step = match &mut self.state {
            State::Opening(o) => o.resolved(addrs, ctx),
            State::Open(_) => Opened::Pending,
        };
        self.opened(step, ctx)
    }

    /// The socket is ready, or may be: reads, writes, handshakes.
    pub fn ready(&mut self, ctx: &OpenCtx<'_>, sink: &mut Sink) -> Step {
        let session = match &mut self.state {
            State::Opening(o) => {
                let step = o.advance(ctx);
                return self.opened(step, ctx);
            }
            State::Open(s) => s,
        };
        if let Err(reason) = session.read_available(sink, ctx.stats) {
            return Step::Ended(reason);
        }
        self.write(ctx)
    }

    /// Writes the outbox as far as the socket takes it (nothing while the
    /// connection is opening: the messages wait).
    pub fn write(&mut self, ctx: &OpenCtx<'_>) -> Step {
        let State::Open(session) = &mut self.state else {
            return Step::Idle;
        };
        match session.pump(&mut self.outbox, ctx.stats) {
            Ok(t) => {
                self.taken.messages += t.messages;
                self.taken.bytes += t.bytes;
                Step::Idle
            }
            Err(reason) => Step::Ended(reason),
        }
    }

    /// Deadlines: connect, handshake, keep-alive ping, idle timeout.
    pub fn expire(&mut self, now: Instant, ctx: &OpenCtx<'_>) -> Step {
        if now < self.deadline() {
            return Step::Idle;
        }
        match &mut self.state {
            State::Opening(o) => {
                let step = o.expire(ctx);
                self.opened(step, ctx)
            }
            State::Open(s) => match s.keep_alive(now) {
                Ok(()) => Step::Idle,
                Err(reason) => Step::Ended(reason),
            },
        }
    }

    /// Closes an open connection cleanly (close frame, then FIN); one still
    /// opening is just dropped by the caller.
    pub fn close(&mut self, code: CloseCode, reason: &'static str) {
        if let State::Open(s) = &mut self.state {
            s.close(code, reason);
        }
    }
}
