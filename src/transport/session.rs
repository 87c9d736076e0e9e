//! An open WebSocket connection: reads every frame the socket has, writes
//! the outbox as far as the socket takes it (and stops there until the
//! poller reports it writable: backpressure), keeps the connection alive
//! with a ping at half the idle timeout, and closes it. Never waits.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tungstenite::error::ProtocolError;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::frame::CloseFrame;
use tungstenite::Message;

use super::opening::Ws;
use super::ratelimit::TokenBucket;
use super::sink::Sink;
use super::stats::{bump, Stats};
use super::{ConnectionId, DisconnectReason, RejectReason, TransportEvent};

pub(crate) struct Session {
    ws: Ws,
    id: ConnectionId,
    remote: SocketAddr,
    bucket: TokenBucket,
    idle: Duration,
    last_rx: Instant,
    ping_sent: bool,
}

/// Messages taken out of an outbox (written, or dropped).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Taken {
    pub messages: usize,
    pub bytes: usize,
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

impl Session {
    pub fn new(
        ws: Ws,
        id: ConnectionId,
        remote: SocketAddr,
        max_per_sec: u32,
        idle: Duration,
    ) -> Self {
        let now = Instant::now();
        ws.get_ref().delay_next_ack();
        Session {
            ws,
            id,
            remote,
            bucket: TokenBucket::new(max_per_sec, now),
            idle,
            last_rx: now,
            ping_sent: false,
        }
    }

    /// When [`Self::keep_alive`] has something to do.
    pub fn deadline(&self) -> Instant {
        if self.ping_sent {
            self.last_rx + self.idle
        } else {
            self.last_rx + self.idle / 2
        }
    }

    /// Reads every frame the socket has, passing text frames on.
    pub fn read_available(
        &mut self,
        sink: &mut Sink,
        stats: &Stats,
    ) -> Result<(), DisconnectReason> {
        let mut any = false;
        let outcome = loop {
            let msg = match self.ws.read() {
                Ok(msg) => msg,
                Err(tungstenite::Error::Io(e)) if would_block(&e) => break Ok(()),
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::Interrupted => {
                    continue
                }
                Err(tungstenite::Error::Capacity(_)) => {
                    break Err(self.reject(RejectReason::MessageTooLarge, sink, stats))
                }
                Err(e) => break Err(classify(e)),
            };
            any = true;
            let counted = matches!(
                msg,
                Message::Text(_) | Message::Binary(_) | Message::Ping(_)
            );
            if counted && !self.bucket.take(Instant::now()) {
                break Err(self.reject(RejectReason::RateLimited, sink, stats));
            }
            match msg {
                Message::Text(t) => {
                    bump(&stats.messages_received);
                    sink.emit_lossy(TransportEvent::Received {
                        conn: self.id,
                        remote: self.remote,
                        text: t.as_str().to_owned(),
                    });
                }
                Message::Binary(_) => {
                    break Err(self.reject(RejectReason::BinaryFrame, sink, stats))
                }
                // Pongs to pings are queued by tungstenite; a close is
                // answered and the next read reports the end.
                Message::Ping(_) | Message::Pong(_) | Message::Close(_) | Message::Frame(_) => {}
            }
        };
        if any {
            self.last_rx = Instant::now();
            self.ping_sent = false;
            self.ws.get_ref().delay_next_ack();
        }
        outcome
    }

    /// Writes out what is buffered, then the outbox, until the socket's
    /// buffer is full or nothing is left; returns what left the outbox.
    pub fn pump(
        &mut self,
        outbox: &mut VecDeque<String>,
        stats: &Stats,
    ) -> Result<Taken, DisconnectReason> {
        let mut taken = Taken::default();
        loop {
            match self.ws.flush() {
                Ok(()) => {}
                Err(tungstenite::Error::Io(e)) if would_block(&e) => return Ok(taken),
                Err(e) => return Err(classify(e)),
            }
            if outbox.is_empty() || self.ws.get_ref().is_write_blocked() {
                return Ok(taken);
            }
            // Frames gather in tungstenite's write buffer (it writes them
            // out once it holds 64 KiB); the flush above sends the rest.
            while let Some(text) = outbox.pop_front() {
                taken.messages += 1;
                taken.bytes += text.len();
                match self.ws.write(Message::Text(text.into())) {
                    Ok(()) => bump(&stats.messages_sent),
                    Err(tungstenite::Error::Io(e)) if would_block(&e) => {
                        bump(&stats.messages_sent);
                        return Ok(taken);
                    }
                    Err(tungstenite::Error::WriteBufferFull(_)) => {
                        bump(&stats.dropped_outbound);
                        return Ok(taken);
                    }
                    Err(e) => return Err(classify(e)),
                }
            }
        }
    }

    /// Sends the keep-alive ping, or ends an idle connection; call when
    /// `now >= deadline()`.
    pub fn keep_alive(&mut self, now: Instant) -> Result<(), DisconnectReason> {
        if now >= self.last_rx + self.idle {
            self.close(CloseCode::Away, "idle");
            return Err(DisconnectReason::IdleTimeout);
        }
        if !self.ping_sent && now >= self.last_rx + self.idle / 2 {
            self.ping_sent = true;
            match self.ws.write(Message::Ping(Default::default())) {
                Err(tungstenite::Error::Io(e)) if would_block(&e) => {}
                Err(e) => return Err(classify(e)),
                Ok(()) => {}
            }
            let _ = self.ws.flush();
        }
        Ok(())
    }

    /// Cuts the connection off for a policy reason.
    fn reject(&mut self, reason: RejectReason, sink: &mut Sink, stats: &Stats) -> DisconnectReason {
        log::debug!(
            "connection {} to {} rejected: {reason}",
            self.id,
            self.remote
        );
        let code = match reason {
            RejectReason::MessageTooLarge => CloseCode::Size,
            RejectReason::BinaryFrame => CloseCode::Unsupported,
            _ => CloseCode::Policy,
        };
        self.close(code, "rejected");
        bump(&stats.rejected);
        sink.emit_lossy(TransportEvent::Rejected {
            conn: Some(self.id),
            remote: self.remote,
            reason: reason.clone(),
        });
        DisconnectReason::Rejected(reason)
    }

    /// Sends a close frame if the socket takes it now, then the end of the
    /// stream (FIN); never waits. Harmless when already done.
    pub fn close(&mut self, code: CloseCode, reason: &'static str) {
        let _ = self.ws.close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }));
        let _ = self.ws.flush();
        let _ = self.ws.get_ref().inner.shutdown(std::net::Shutdown::Write);
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
